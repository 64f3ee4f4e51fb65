//! The platform interface of the core.

use kernel_abi::syscall::encode_ret;
use kernel_abi::{Credentials, Errno, TaskId};

use crate::{Block, Endpoint};

/// What the kernel core needs from the platform: the endpoint and task tables, the result
/// registers of a task, and copies to and from user memory.
///
/// Tasks are named by their index in the task table (`0..task_count()`). Every copy that
/// touches a task's memory goes through that task's own mappings and fails (returns `false`)
/// rather than touch memory the task cannot reach with the access asked for; the core checks
/// whole ranges with [`user_range_ok`](Machine::user_range_ok) before it starts an operation,
/// so a failure half-way is not expected, but it is never unsafe.
pub trait Machine {
    /// The endpoints in use, indexed by endpoint number.
    fn endpoints(&self) -> &[Endpoint];
    /// The endpoints in use, mutably.
    fn endpoints_mut(&mut self) -> &mut [Endpoint];

    /// How many task slots are in use.
    fn task_count(&self) -> usize;
    /// The current incarnation of task `t`.
    fn task_id(&self, t: usize) -> TaskId;
    /// Whether task `t` is alive (running, runnable or blocked).
    fn task_alive(&self, t: usize) -> bool;
    /// The endpoints task `t` may send to (bit n = endpoint n).
    fn task_grants(&self, t: usize) -> u64;
    /// The credentials the kernel stamps on task `t`'s messages (from the task table, never
    /// from anything the task says).
    fn credentials(&self, t: usize) -> Credentials;
    /// What task `t` waits for.
    fn block(&self, t: usize) -> Block;
    /// Sets what task `t` waits for.
    fn set_block(&mut self, t: usize, block: Block);
    /// Writes `values` into task `t`'s result registers `a0`, `a1`, ... (at most six).
    fn set_results(&mut self, t: usize, values: &[usize]);

    /// Whether `[va, va + len)` is mapped for task `t`, readable (and writable if `write`), and
    /// reachable from user mode. An empty range is always fine; a range that wraps is not.
    fn user_range_ok(&mut self, t: usize, va: usize, len: usize, write: bool) -> bool;
    /// Copies `len` bytes from task `src` at `src_va` to task `dst` at `dst_va`.
    fn copy_between(
        &mut self,
        src: usize,
        src_va: usize,
        dst: usize,
        dst_va: usize,
        len: usize,
    ) -> bool;
    /// Copies kernel bytes into task `t`'s memory at `va`.
    fn copy_to_user(&mut self, t: usize, va: usize, data: &[u8]) -> bool;
    /// Copies `len` bytes from task `t`'s memory at `va` into the message slot `slot` (an
    /// entry of [`Endpoint::slots`]: kernel memory of one page, shared with no task).
    fn user_to_slot(&mut self, t: usize, va: usize, slot: usize, len: usize) -> bool;
    /// Copies the first `len` bytes of message slot `slot` into task `t`'s memory at `va`.
    fn slot_to_user(&mut self, slot: usize, t: usize, va: usize, len: usize) -> bool;
    /// Writes kernel bytes into the start of message slot `slot`.
    fn write_slot(&mut self, slot: usize, data: &[u8]);
}

/// Unblocks task `t` with `a0` = `value`.
pub fn wake<M: Machine + ?Sized>(m: &mut M, t: usize, value: usize) {
    m.set_results(t, &[value]);
    m.set_block(t, Block::None);
}

/// Unblocks task `t` with an error in `a0`.
pub fn wake_err<M: Machine + ?Sized>(m: &mut M, t: usize, errno: Errno) {
    wake(m, t, encode_ret(Err(errno)));
}
