//! User memory: checking a task's range and copying to, from and between tasks, page by page
//! through the task's own Sv39 tables (present, U, readable / writable as asked), so a task can
//! never make the kernel touch memory it does not own. Over [`Memory`] and a root table only; no
//! kernel state.

use qemu_kernel::frames::FRAME_SIZE;
use qemu_kernel::sv39::{self, Access};

use super::mem::Memory;

/// Checks that `[va, va + len)` is accessible for `access` in the address space with root table
/// `root` (a task's).
pub fn user_range_ok(mem: &mut Memory, root: usize, va: usize, len: usize, access: Access) -> bool {
    if len == 0 {
        return true;
    }
    let Some(end) = va.checked_add(len) else {
        return false;
    };
    let mut page = va / FRAME_SIZE * FRAME_SIZE;
    while page < end {
        if sv39::translate_user(mem, root, page, access).is_none() {
            return false;
        }
        page += FRAME_SIZE;
    }
    true
}

/// Copies between a task's memory (root table `root`) and the kernel, page by page through the
/// task's tables.
/// `to_user` picks the direction. The range must have been checked with [`user_range_ok`].
pub fn copy_user(
    mem: &mut Memory,
    root: usize,
    va: usize,
    kernel: &mut [u8],
    to_user: bool,
) -> bool {
    let access = if to_user { Access::Write } else { Access::Read };
    let mut done = 0;
    while done < kernel.len() {
        let at = va + done;
        let Some(pa) = sv39::translate_user(mem, root, at, access) else {
            return false;
        };
        let n = (FRAME_SIZE - at % FRAME_SIZE).min(kernel.len() - done);
        let user = mem.bytes(pa, n);
        if to_user {
            user.copy_from_slice(&kernel[done..done + n]);
        } else {
            kernel[done..done + n].copy_from_slice(user);
        }
        done += n;
    }
    true
}

/// Copies `len` bytes from one task's memory to another's, given their root tables (both ranges
/// checked before).
pub fn copy_between(
    mem: &mut Memory,
    src_root: usize,
    src_va: usize,
    dst_root: usize,
    dst_va: usize,
    len: usize,
) -> bool {
    let mut done = 0;
    while done < len {
        let (s, d) = (src_va + done, dst_va + done);
        let Some(spa) = sv39::translate_user(mem, src_root, s, Access::Read) else {
            return false;
        };
        let Some(dpa) = sv39::translate_user(mem, dst_root, d, Access::Write) else {
            return false;
        };
        let n = (FRAME_SIZE - s % FRAME_SIZE)
            .min(FRAME_SIZE - d % FRAME_SIZE)
            .min(len - done);
        // SAFETY: both are translated user frames (RAM, identity-mapped); distinct tasks never
        // share frames, and within one task overlapping copies use `copy` semantics.
        unsafe { core::ptr::copy(spa as *const u8, dpa as *mut u8, n) };
        done += n;
    }
    true
}
