//! The server loop: receive → decode → check → act → reply, over any [`Kernel`].
//!
//! [`dispatch`] is the whole request path minus the IPC, so it is tested directly; [`serve`]
//! wraps it in the receive/reply loop. A request that does not decode gets a
//! [`tags::PROTOCOL_ERROR`] reply and the loop carries on; nothing a client sends can make the
//! service panic.

use alloc::vec;
use alloc::vec::Vec;
use kernel_abi::{Credentials, EndpointId, Errno, Kernel, LogLevel, Tag};

use crate::error::VfsError;
use crate::protocol::codec::{Request, decode_request, encode_protocol_error, encode_reply};
use crate::protocol::limits::{
    MAX_HANDLES_PER_TASK, MAX_IO, MAX_NAME, MAX_PATH, MAX_PAYLOAD, PROTOCOL_VERSION, SYMLINK_DEPTH,
};
use crate::protocol::messages::HelloResponse;
use crate::protocol::tags;
use crate::store::Storage;
use crate::vfs::{Ctx, Env, Vfs};

/// Garbage pieces collected after each request.
const GC_BUDGET: usize = 64;

/// Time and entropy from a [`Kernel`].
pub struct KernelEnv<'k, K>(pub &'k K);

impl<K: Kernel> Env for KernelEnv<'_, K> {
    fn now_ns(&self) -> u64 {
        match self.0.wall_clock_ns() {
            0 => self.0.monotonic_ns(),
            t => t,
        }
    }

    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        self.0.random_bytes(out).map_err(|_| VfsError::StorageError)
    }
}

fn hello() -> HelloResponse {
    HelloResponse {
        version: PROTOCOL_VERSION,
        max_payload: MAX_PAYLOAD as u32,
        max_io: MAX_IO as u32,
        max_path: MAX_PATH as u32,
        max_name: MAX_NAME as u32,
        max_handles: MAX_HANDLES_PER_TASK as u32,
        symlink_depth: SYMLINK_DEPTH,
    }
}

/// Handles one request from `caller`; returns the reply's tag and payload.
pub fn dispatch<S: Storage>(
    vfs: &mut Vfs<S>,
    env: &dyn Env,
    caller: Credentials,
    tag: u32,
    payload: &[u8],
) -> (u32, Vec<u8>) {
    let request = match decode_request(tag, payload) {
        Ok(r) => r,
        Err(e) => return (tags::PROTOCOL_ERROR, encode_protocol_error(e)),
    };
    let ctx = Ctx { caller, env };
    let ctx = &ctx;
    vfs.reap_task(caller.task);
    let reply = match request {
        Request::Hello(_) => encode_reply(&Ok::<_, VfsError>(hello())),
        Request::Mkdir(r) => encode_reply(&vfs.mkdir(ctx, &r.path, r.recursive, r.permissions)),
        Request::Rmdir(r) => encode_reply(&vfs.rmdir(ctx, &r.path, r.recursive)),
        Request::Readdir(r) => encode_reply(&vfs.readdir(ctx, &r.path, r.cursor.as_deref())),
        Request::Write(r) => {
            encode_reply(&vfs.write_file(ctx, &r.path, &r.data, r.key, r.permissions))
        }
        Request::Read(r) => encode_reply(&vfs.read_file(ctx, &r.path, r.offset, r.length, r.key)),
        Request::Unlink(r) => encode_reply(&vfs.unlink(ctx, &r.path)),
        Request::Rename(r) => encode_reply(&vfs.rename(ctx, &r.from, &r.to)),
        Request::Copy(r) => encode_reply(&vfs.copy(ctx, &r.from, &r.to)),
        Request::Symlink(r) => encode_reply(&vfs.symlink(ctx, &r.target, &r.link)),
        Request::Readlink(r) => encode_reply(&vfs.readlink(ctx, &r.path)),
        Request::ResolvePath(r) => encode_reply(&vfs.resolve_path(ctx, &r.path)),
        Request::Stat(r) => encode_reply(&vfs.stat(ctx, &r.path, r.follow_symlinks)),
        Request::Exists(r) => encode_reply(&vfs.exists(ctx, &r.path)),
        Request::Chmod(r) => encode_reply(&vfs.chmod(ctx, &r.path, r.permissions)),
        Request::Chown(r) => encode_reply(&vfs.chown(ctx, &r.path, r.owner)),
        Request::GetUsage(r) => encode_reply(&vfs.usage(ctx, &r.path)),
        Request::GetQuota(r) => encode_reply(&vfs.quota(ctx, r.user)),
        Request::SetQuota(r) => encode_reply(&vfs.set_quota(ctx, r.user, r.limit)),
        Request::CreateHome(r) => encode_reply(&vfs.create_home(ctx, r.user)),
        Request::AuditLog(r) => encode_reply(&vfs.audit_log(ctx, r.after)),
        Request::Open(r) => encode_reply(&vfs.open(ctx, &r.path, r.flags, r.key, r.permissions)),
        Request::HandleRead(r) => encode_reply(&vfs.handle_read(ctx, r.handle, r.length)),
        Request::HandleWrite(r) => encode_reply(&vfs.handle_write(ctx, r.handle, &r.data)),
        Request::Seek(r) => encode_reply(&vfs.handle_seek(ctx, r.handle, r.from)),
        Request::Truncate(r) => encode_reply(&vfs.handle_truncate(ctx, r.handle, r.size)),
        Request::Flush(r) => encode_reply(&vfs.handle_flush(ctx, r.handle)),
        Request::Close(r) => encode_reply(&vfs.handle_close(ctx, r.handle)),
        Request::HandleStat(r) => encode_reply(&vfs.handle_stat(ctx, r.handle)),
        Request::Discard(r) => encode_reply(&vfs.handle_discard(ctx, r.handle)),
    };
    (tags::response(tag), reply)
}

/// Serves `endpoint` forever (returns only if receiving fails for good).
pub fn serve<K: Kernel, S: Storage>(
    kernel: &K,
    endpoint: EndpointId,
    vfs: &mut Vfs<S>,
) -> Result<(), Errno> {
    let env = KernelEnv(kernel);
    let mut buf = vec![0u8; MAX_PAYLOAD];
    let mut garbage = true;
    loop {
        let blocking = !garbage;
        let msg = match kernel.receive(endpoint, &mut buf, blocking) {
            Ok(m) => m,
            Err(Errno::WouldBlock) => {
                garbage = vfs.collect_garbage(GC_BUDGET * 16).unwrap_or(false);
                continue;
            }
            Err(e) => return Err(e),
        };
        let payload = buf.get(..msg.len).unwrap_or(&[]);
        let (tag, reply) = dispatch(vfs, &env, msg.sender, msg.tag.0, payload);
        if kernel.reply(msg.reply, Tag(tag), &reply).is_err() {
            kernel.log(LogLevel::Warn, "vfs: reply failed");
        }
        garbage = vfs.collect_garbage(GC_BUDGET).unwrap_or(false);
    }
}
