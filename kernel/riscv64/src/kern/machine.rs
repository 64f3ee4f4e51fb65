//! The kernel core's view of this machine ([`kernel_core::Machine`]): the task table's trap
//! frames and states, and user memory reached through each task's Sv39 tables.

use kernel_abi::{Credentials, TaskId};
use kernel_core::{Block, Endpoint, Machine};
use qemu_kernel::sv39::Access;

use super::state::Kernel;
use super::user::{copy_between, copy_user, user_range_ok};
use crate::arch::riscv64::trap::reg;

/// The result registers, in order.
const RESULT_REGS: [usize; 6] = [reg::A0, reg::A1, reg::A2, reg::A3, reg::A4, reg::A5];

impl Machine for Kernel {
    fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints[..self.endpoint_count]
    }

    fn endpoints_mut(&mut self) -> &mut [Endpoint] {
        &mut self.endpoints[..self.endpoint_count]
    }

    fn task_count(&self) -> usize {
        self.task_count
    }

    fn task_id(&self, t: usize) -> TaskId {
        self.tasks[t].id
    }

    fn task_alive(&self, t: usize) -> bool {
        self.tasks[t].is_alive()
    }

    fn task_grants(&self, t: usize) -> u64 {
        self.tasks[t].grants
    }

    fn credentials(&self, t: usize) -> Credentials {
        self.tasks[t].credentials()
    }

    fn block(&self, t: usize) -> Block {
        self.tasks[t].block
    }

    fn set_block(&mut self, t: usize, block: Block) {
        self.tasks[t].block = block;
    }

    fn set_results(&mut self, t: usize, values: &[usize]) {
        let regs = &mut self.tasks[t].frame.regs;
        for (&r, &v) in RESULT_REGS.iter().zip(values) {
            regs[r] = v;
        }
    }

    fn user_range_ok(&mut self, t: usize, va: usize, len: usize, write: bool) -> bool {
        let access = if write { Access::Write } else { Access::Read };
        let root = self.tasks[t].root;
        user_range_ok(&mut self.mem, root, va, len, access)
    }

    fn copy_between(
        &mut self,
        src: usize,
        src_va: usize,
        dst: usize,
        dst_va: usize,
        len: usize,
    ) -> bool {
        let (src_root, dst_root) = (self.tasks[src].root, self.tasks[dst].root);
        copy_between(&mut self.mem, src_root, src_va, dst_root, dst_va, len)
    }

    fn copy_to_user(&mut self, t: usize, va: usize, data: &[u8]) -> bool {
        // `copy_user` takes a mutable buffer for both directions; kernel messages are small.
        let mut copy = [0u8; 64];
        let mut done = 0;
        while done < data.len() {
            let n = (data.len() - done).min(copy.len());
            copy[..n].copy_from_slice(&data[done..done + n]);
            let root = self.tasks[t].root;
            if !copy_user(&mut self.mem, root, va + done, &mut copy[..n], true) {
                return false;
            }
            done += n;
        }
        true
    }

    fn user_to_slot(&mut self, t: usize, va: usize, slot: usize, len: usize) -> bool {
        // The slot frame is reached through a raw pointer because the copy also borrows the
        // kernel (for the sender's page tables).
        let dst: *mut u8 = self.mem.bytes(slot, len).as_mut_ptr();
        // SAFETY: `slot` is an endpoint's message-slot frame (identity-mapped RAM, not shared
        // with any task), `len` ≤ MAX_PAYLOAD ≤ one frame; nothing else references it meanwhile.
        let dst = unsafe { core::slice::from_raw_parts_mut(dst, len) };
        let root = self.tasks[t].root;
        copy_user(&mut self.mem, root, va, dst, false)
    }

    fn slot_to_user(&mut self, slot: usize, t: usize, va: usize, len: usize) -> bool {
        let src = self.mem.bytes(slot, len).as_mut_ptr();
        // SAFETY: the slot frame is kernel-owned RAM; `len` ≤ one frame; no other reference
        // to it is live.
        let data = unsafe { core::slice::from_raw_parts_mut(src, len) };
        let root = self.tasks[t].root;
        copy_user(&mut self.mem, root, va, data, true)
    }

    fn write_slot(&mut self, slot: usize, data: &[u8]) {
        self.mem.bytes(slot, data.len()).copy_from_slice(data);
    }
}
