//! Identity tasks: VFS clients that run with the identity their system-file entry gives them
//! (a class and, optionally, a user) and relay VFS requests on behalf of System tasks.
//!
//! Identity in Zero OS is per task and stamped by the kernel, so a test runner or the shell (one
//! System task) cannot call the VFS "as Alice" by itself. An identity task can: it serves one
//! endpoint, and every VFS request it receives there from a **System-class** task it sends on to
//! the VFS unchanged, under its own identity, and answers with the VFS's reply unchanged (tag
//! and payload). This is how the QEMU conformance run gets its four callers and how the shell's
//! `as NAME COMMAND` shows isolation in the booted system.
//!
//! Guarantees:
//! - A caller that is not System class gets `PermissionDenied` and nothing reaches the VFS: an
//!   identity task never lends its user to an application (the registry hands out its endpoint
//!   to whoever asks, so the check is here).
//! - Bytes are relayed verbatim; the VFS alone judges them, so malformed requests get the VFS's
//!   own protocol errors.
//! - If the VFS cannot be reached (it died or its queue is full) the caller gets `StorageError`
//!   instead of hanging.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use kernel_abi::{EndpointId, Errno, Kernel, MAX_PAYLOAD, ProcessClass, Received, klog};
use vfs_api::error::VfsError;
use vfs_api::protocol::codec::encode_reply;

/// What happened to one relayed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relayed {
    /// Forwarded to the VFS; its reply went back to the caller.
    Forwarded,
    /// The caller was not System class: refused with `PermissionDenied`.
    Refused,
    /// The VFS could not be reached (the errno): the caller got `StorageError`.
    VfsUnreachable(Errno),
}

/// One identity task's relay: its endpoint, the VFS's, and the message buffers.
pub struct Relay<'k, K: Kernel + ?Sized> {
    kernel: &'k K,
    own: EndpointId,
    vfs: EndpointId,
    request: [u8; MAX_PAYLOAD],
    reply: [u8; MAX_PAYLOAD],
}

impl<'k, K: Kernel + ?Sized> Relay<'k, K> {
    /// A relay that receives on `own` and forwards to `vfs`.
    pub fn new(kernel: &'k K, own: EndpointId, vfs: EndpointId) -> Self {
        Self {
            kernel,
            own,
            vfs,
            request: [0; MAX_PAYLOAD],
            reply: [0; MAX_PAYLOAD],
        }
    }

    /// Waits for one message on the relay's endpoint and handles it.
    ///
    /// Errors: the kernel's, when receiving or replying fails (the caller may have died; the
    /// relay goes on with the next message).
    pub fn step(&mut self) -> Result<Relayed, Errno> {
        let msg = self.kernel.receive(self.own, &mut self.request, true)?;
        self.handle(&msg)
    }

    fn handle(&mut self, msg: &Received) -> Result<Relayed, Errno> {
        let k = self.kernel;
        if msg.sender.class != ProcessClass::System {
            let refusal = encode_reply::<()>(&Err(VfsError::PermissionDenied));
            k.reply(msg.reply, msg.tag.response(), &refusal)?;
            return Ok(Relayed::Refused);
        }
        let request = self.request.get(..msg.len).unwrap_or(&[]);
        match k.call(self.vfs, msg.tag, request, &mut self.reply) {
            Ok((tag, len)) => {
                k.reply(msg.reply, tag, self.reply.get(..len).unwrap_or(&[]))?;
                Ok(Relayed::Forwarded)
            }
            Err(e) => {
                klog!(k, Warn, "identity: the VFS is unreachable: {}", e);
                let failure = encode_reply::<()>(&Err(VfsError::StorageError));
                k.reply(msg.reply, msg.tag.response(), &failure)?;
                Ok(Relayed::VfsUnreachable(e))
            }
        }
    }
}
