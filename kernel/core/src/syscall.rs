//! The IPC syscalls (`Send`, `Call`, `Receive`, `Reply`, `ReplyRecv`): decoding their registers (kernel-abi's
//! convention: `a0`..`a5` arguments, `a0` result or negated errno), checking every pointer
//! against the caller's mappings, and running them on [`crate::ipc`].
//!
//! A broken contract (an unmapped buffer, unknown flags, a malformed reply token) faults the
//! caller; a recoverable problem is an [`Errno`] in `a0`.

use kernel_abi::syscall::{RecvFlags, ReplyRecvWord, encode_ret};
use kernel_abi::{Errno, MAX_PAYLOAD, ReplyToken, Sysno};

use crate::{Block, Machine, ipc};

/// What a syscall did to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value in `a0` (already encoded).
    Return(usize),
    /// The caller's registers were set (or it blocked); leave them.
    Done,
    /// Fault the caller ([`kernel_abi::FaultKind::BadSyscall`]).
    Fault,
}

impl Outcome {
    /// `a0` for this result.
    pub fn ret(result: Result<usize, Errno>) -> Self {
        Self::Return(encode_ret(result))
    }
}

/// Runs IPC syscall `sysno` for task `me` with arguments `a`; `None` if `sysno` is not one of
/// the IPC syscalls (the platform runs it).
pub fn ipc<M: Machine + ?Sized>(
    m: &mut M,
    me: usize,
    sysno: Sysno,
    a: [usize; 6],
) -> Option<Outcome> {
    Some(match sysno {
        Sysno::Send | Sysno::Call => {
            let (endpoint, tag, ptr, len) = (a[0], a[1] as u32, a[2], a[3]);
            if len > MAX_PAYLOAD {
                return Some(Outcome::ret(Err(Errno::InvalidArgument)));
            }
            if !m.user_range_ok(me, ptr, len, false) {
                return Some(Outcome::Fault);
            }
            let reply = if sysno == Sysno::Call {
                let (rbuf, rcap) = (a[4], a[5].min(MAX_PAYLOAD));
                if !m.user_range_ok(me, rbuf, rcap, true) {
                    return Some(Outcome::Fault);
                }
                Some((rbuf, rcap))
            } else {
                None
            };
            match ipc::post(m, me, endpoint, tag, ptr, len, reply) {
                Ok(()) if reply.is_some() => Outcome::Done,
                Ok(()) => Outcome::ret(Ok(0)),
                Err(e) => Outcome::ret(Err(e)),
            }
        }
        Sysno::Receive => {
            let (endpoint, buf, cap, flags) = (a[0], a[1], a[2].min(MAX_PAYLOAD), RecvFlags(a[3]));
            if !flags.is_valid() {
                return Some(Outcome::Fault);
            }
            if !m.user_range_ok(me, buf, cap, true) {
                return Some(Outcome::Fault);
            }
            receive(m, me, endpoint, buf, cap, flags)
        }
        Sysno::ReplyRecv => {
            // Every check of both halves first: a fault must never follow a delivered reply.
            let Some(token) = ReplyToken::from_raw(a[0] as u64) else {
                return Some(Outcome::Fault);
            };
            let Some(word) = ReplyRecvWord::from_raw(a[5]) else {
                return Some(Outcome::Fault);
            };
            let (tag, ptr, len) = (a[1] as u32, a[2], a[3]);
            let (buf, cap) = (a[4], word.cap.min(MAX_PAYLOAD));
            if !word.flags.is_valid() {
                return Some(Outcome::Fault);
            }
            if len > MAX_PAYLOAD {
                return Some(Outcome::ret(Err(Errno::InvalidArgument)));
            }
            if !m.user_range_ok(me, ptr, len, false) || !m.user_range_ok(me, buf, cap, true) {
                return Some(Outcome::Fault);
            }
            if let Err(e) = ipc::reply(m, me, token, tag, ptr, len) {
                return Some(Outcome::ret(Err(e)));
            }
            receive(m, me, word.endpoint as usize, buf, cap, word.flags)
        }
        Sysno::Reply => {
            let Some(token) = ReplyToken::from_raw(a[0] as u64) else {
                return Some(Outcome::Fault);
            };
            let (tag, ptr, len) = (a[1] as u32, a[2], a[3]);
            if len > MAX_PAYLOAD {
                return Some(Outcome::ret(Err(Errno::InvalidArgument)));
            }
            if !m.user_range_ok(me, ptr, len, false) {
                return Some(Outcome::Fault);
            }
            Outcome::ret(ipc::reply(m, me, token, tag, ptr, len).map(|()| 0))
        }
        _ => return None,
    })
}

/// The receive half of `Receive` and `ReplyRecv`, its arguments checked. Inlined into both:
/// as calls of their own, it, `ipc::receive` and `ipc::reply` cost a round trip about 60
/// instructions (`cargo xtask bench ipc`).
#[inline(always)]
fn receive<M: Machine + ?Sized>(
    m: &mut M,
    me: usize,
    endpoint: usize,
    buf: usize,
    cap: usize,
    flags: RecvFlags,
) -> Outcome {
    match ipc::receive(m, me, endpoint, buf, cap) {
        Ok(true) => Outcome::Done,
        Ok(false) if flags.is_nonblocking() => Outcome::ret(Err(Errno::WouldBlock)),
        Ok(false) => {
            m.set_block(
                me,
                Block::Receiving {
                    endpoint: endpoint as u16,
                    buf,
                    cap,
                },
            );
            Outcome::Done
        }
        Err(e) => Outcome::ret(Err(e)),
    }
}
