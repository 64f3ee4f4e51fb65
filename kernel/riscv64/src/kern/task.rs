//! Tasks: their state, loading an ELF image into a fresh Sv39 address space, stopping a task
//! (fault, exit, restart) and tearing its memory down.
//!
//! A task's address space: its ELF segments where they are linked, a stack ending at
//! [`STACK_TOP`], a zeroed heap at [`HEAP_BASE`] when the system file gives it one, DMA memory
//! from [`DMA_BASE`] and granted device windows from [`MMIO_BASE`]. The kernel's identity map of
//! RAM and its MMIO window are in every address space, without the U bit.

use kernel_abi::init_proto::{FAULT_REPORT, FaultReport};
use kernel_abi::{Credentials, FaultKind, TaskId, TaskState};
use qemu_kernel::elf::{Elf, PF_R, PF_W, PF_X};
use qemu_kernel::frames::FRAME_SIZE;
use qemu_kernel::sv39::{self, Access, PTE_R, PTE_U, PTE_W, PTE_X};
use qemu_kernel::system::TaskDesc;

use super::Kernel;
use crate::arch::riscv64::trap::{TrapFrame, reg};
use crate::klog;

/// The top of every task's stack (exclusive); the stack grows down from here.
pub const STACK_TOP: usize = 0x20_0000_0000;
/// Where a task's heap starts, if the system file gives it one.
pub const HEAP_BASE: usize = 0x10_0000_0000;
/// Where DMA memory is mapped, in allocation order.
pub const DMA_BASE: usize = 0x30_0000_0000;
/// Where device windows are mapped: grant `i` at `MMIO_BASE + i * MMIO_STRIDE`.
pub const MMIO_BASE: usize = 0x38_0000_0000;
/// The address-space room reserved for each device window.
pub const MMIO_STRIDE: usize = 0x1000_0000;

pub use kernel_core::Block;

/// One task slot.
pub struct Task {
    /// Saved user registers.
    pub frame: TrapFrame,
    /// The current incarnation.
    pub id: TaskId,
    /// Life-cycle state.
    pub state: TaskState,
    /// What it waits for, while `Running`.
    pub block: Block,
    /// Root page table (0: none).
    pub root: usize,
    /// Its `satp` value.
    pub satp: u64,
    /// The address space changed under the running task.
    pub needs_satp_reload: bool,
    /// Endpoints it may send to (bit n = endpoint n).
    pub grants: u64,
    /// DMA bytes handed out.
    pub dma_used: usize,
    /// Device grants already mapped (bit i = grant i).
    pub mmio_mapped: u32,
    /// Its entry in the system description.
    pub desc: Option<&'static TaskDesc>,
    /// Pending notification bits (forwarded interrupts of its devices).
    pub notifications: u32,
    /// Whether it was ever started (the next start bumps the generation).
    pub started_once: bool,
}

impl Task {
    /// An unused slot.
    pub const EMPTY: Task = Task {
        frame: TrapFrame {
            regs: [0; 32],
            pc: 0,
            kernel_sp: 0,
        },
        id: TaskId {
            index: 0,
            generation: 0,
        },
        state: TaskState::NotStarted,
        block: Block::None,
        root: 0,
        satp: 0,
        needs_satp_reload: false,
        grants: 0,
        dma_used: 0,
        mmio_mapped: 0,
        desc: None,
        notifications: 0,
        started_once: false,
    };

    /// Ready to run.
    pub fn is_ready(&self) -> bool {
        self.state == TaskState::Running && self.block == Block::None
    }

    /// Alive (running, runnable or blocked).
    pub fn is_alive(&self) -> bool {
        self.state == TaskState::Running
    }

    /// Scheduling priority.
    pub fn priority(&self) -> u8 {
        self.desc.map_or(u8::MAX, |d| d.priority)
    }

    /// The name from the system file.
    pub fn name(&self) -> &'static str {
        self.desc.map_or("?", |d| d.name)
    }

    /// When a sleeping task wakes.
    pub fn wake_at(&self) -> Option<u64> {
        match (self.state, self.block) {
            (TaskState::Running, Block::Sleeping(at)) => Some(at),
            (
                TaskState::Running,
                Block::Notification {
                    until: Some(at), ..
                },
            ) => Some(at),
            _ => None,
        }
    }

    /// Unblocks with `a0` = `value`.
    pub fn wake(&mut self, value: usize) {
        self.frame.regs[reg::A0] = value;
        self.block = Block::None;
    }

    /// The credentials the kernel stamps on this task's messages.
    pub fn credentials(&self) -> Credentials {
        let desc = self.desc;
        Credentials {
            task: self.id,
            user: desc
                .and_then(|d| d.user)
                .map(kernel_abi::UserId::from_bytes),
            class: desc
                .and_then(|d| kernel_abi::ProcessClass::from_raw(d.class))
                .unwrap_or(kernel_abi::ProcessClass::Application),
        }
    }
}

/// Why a task could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// No such task.
    NoSuchTask,
    /// The ELF image is bad.
    BadImage,
    /// A segment lies outside the user part of the address space or overlaps another mapping.
    BadLayout,
    /// Out of frames.
    OutOfMemory,
}

impl LoadError {
    /// The error's name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            LoadError::NoSuchTask => "no such task",
            LoadError::BadImage => "bad ELF image",
            LoadError::BadLayout => "segments outside the user address space",
            LoadError::OutOfMemory => "out of memory",
        }
    }
}

impl Kernel {
    /// Sets up the task and endpoint tables from the system description.
    pub fn create_tables(&mut self) -> Result<(), &'static str> {
        let system = self.system();
        if system.tasks.len() > super::MAX_TASKS {
            return Err("too many tasks");
        }
        if system.endpoints.len() > super::MAX_ENDPOINTS {
            return Err("too many endpoints");
        }
        for (i, desc) in system.tasks.iter().enumerate() {
            let t = &mut self.tasks[i];
            t.desc = Some(desc);
            t.id = TaskId {
                index: i as u16,
                generation: 0,
            };
        }
        self.task_count = system.tasks.len();
        for (i, desc) in system.endpoints.iter().enumerate() {
            if desc.owner as usize >= self.task_count {
                return Err("endpoint owner out of range");
            }
            let ep = &mut self.endpoints[i];
            ep.owner = desc.owner;
            ep.depth = desc.depth.clamp(1, kernel_core::MAX_DEPTH as u8);
            for slot in 0..ep.depth as usize {
                ep.slots[slot] = self.mem.frames.alloc().ok_or("out of memory")?;
            }
        }
        self.endpoint_count = system.endpoints.len();
        Ok(())
    }

    /// Starts (or restarts) task `index` from its image; returns the new incarnation's id.
    pub fn start_task(&mut self, index: usize) -> Result<TaskId, LoadError> {
        if index >= self.task_count {
            return Err(LoadError::NoSuchTask);
        }
        if self.tasks[index].is_alive() {
            self.stop_task(index, FaultKind::Killed, 0);
        }
        self.free_address_space(index);
        let desc = self.tasks[index].desc.ok_or(LoadError::NoSuchTask)?;
        {
            let t = &mut self.tasks[index];
            if t.started_once {
                t.id = t.id.next_generation();
            }
            t.started_once = true;
        }
        let (root, entry) = match self.load(desc) {
            Ok(loaded) => loaded,
            Err((root, e)) => {
                self.tasks[index].root = root;
                self.free_address_space(index);
                return Err(e);
            }
        };
        let mut grants = 1u64; // every task may send to init's endpoint
        for &ep in desc.reaches {
            if (ep as usize) < self.endpoint_count {
                grants |= 1 << ep;
            }
        }
        let t = &mut self.tasks[index];
        t.root = root;
        t.satp = sv39::satp(root, 0);
        t.needs_satp_reload = true;
        t.frame = TrapFrame {
            regs: [0; 32],
            pc: entry,
            kernel_sp: t.frame.kernel_sp,
        };
        t.frame.regs[reg::SP] = STACK_TOP;
        // The task runtime's entry contract (zos-runtime task_rt): a0 id, a1/a2 heap.
        t.frame.regs[reg::A0] = t.id.to_raw() as usize;
        if desc.heap_size > 0 {
            t.frame.regs[reg::A1] = HEAP_BASE;
            t.frame.regs[reg::A2] = desc.heap_size.div_ceil(FRAME_SIZE) * FRAME_SIZE;
        }
        t.state = TaskState::Running;
        t.block = Block::None;
        t.grants = grants;
        t.dma_used = 0;
        t.mmio_mapped = 0;
        t.notifications = 0;
        Ok(t.id)
    }

    /// Builds an address space for `desc`; on failure returns the partial root for cleanup.
    fn load(&mut self, desc: &TaskDesc) -> Result<(usize, usize), (usize, LoadError)> {
        let root = self.mem.new_root().ok_or((0, LoadError::OutOfMemory))?;
        let fail = |e| (root, e);
        let elf = Elf::parse(desc.image).map_err(|_| fail(LoadError::BadImage))?;
        for segment in elf.segments() {
            let segment = segment.map_err(|_| fail(LoadError::BadImage))?;
            if segment.mem_size == 0 {
                continue;
            }
            if !self.mem.is_user_range(segment.vaddr, segment.mem_size) {
                return Err(fail(LoadError::BadLayout));
            }
            let mut flags = PTE_U;
            if segment.flags & PF_R != 0 {
                flags |= PTE_R;
            }
            if segment.flags & PF_W != 0 {
                flags |= PTE_W | PTE_R;
            }
            if segment.flags & PF_X != 0 {
                flags |= PTE_X;
            }
            let data = elf.data(&segment);
            let first = segment.vaddr / FRAME_SIZE * FRAME_SIZE;
            let end = segment.vaddr + segment.mem_size;
            let mut page = first;
            while page < end {
                let pa = match sv39::lookup(&mut self.mem, root, page) {
                    Some((pte, _)) => {
                        // Shares a page with the previous segment.
                        sv39::add_flags(&mut self.mem, root, page, flags);
                        sv39::leaf_pa(pte)
                    }
                    None => {
                        let pa = self
                            .mem
                            .alloc_zeroed()
                            .ok_or(fail(LoadError::OutOfMemory))?;
                        sv39::map_page(&mut self.mem, root, page, pa, flags)
                            .map_err(|_| fail(LoadError::OutOfMemory))?;
                        pa
                    }
                };
                // Copy the part of the file bytes that falls in this page.
                let lo = page.max(segment.vaddr);
                let hi = (page + FRAME_SIZE).min(segment.vaddr + data.len());
                if lo < hi {
                    let src = &data[lo - segment.vaddr..hi - segment.vaddr];
                    self.mem
                        .bytes(pa + (lo - page), src.len())
                        .copy_from_slice(src);
                }
                page += FRAME_SIZE;
            }
        }
        let stack = desc.stack_size.max(FRAME_SIZE).div_ceil(FRAME_SIZE) * FRAME_SIZE;
        self.map_zeroed(root, STACK_TOP - stack, stack)
            .map_err(fail)?;
        if desc.heap_size > 0 {
            let heap = desc.heap_size.div_ceil(FRAME_SIZE) * FRAME_SIZE;
            self.map_zeroed(root, HEAP_BASE, heap).map_err(fail)?;
        }
        Ok((root, elf.entry))
    }

    fn map_zeroed(&mut self, root: usize, va: usize, len: usize) -> Result<(), LoadError> {
        for page in (va..va + len).step_by(FRAME_SIZE) {
            let pa = self.mem.alloc_zeroed().ok_or(LoadError::OutOfMemory)?;
            sv39::map_page(&mut self.mem, root, page, pa, PTE_R | PTE_W | PTE_U)
                .map_err(|_| LoadError::BadLayout)?;
        }
        Ok(())
    }

    /// Returns every frame of the task's address space (pages, tables, root).
    fn free_address_space(&mut self, index: usize) {
        let root = core::mem::take(&mut self.tasks[index].root);
        if root == 0 {
            return;
        }
        sv39::release_user_space(&mut self.mem, root, |mem, pa, _| {
            // Device windows are not RAM frames; the allocator ignores them.
            mem.frames.free(pa);
        });
        self.mem.frames.free(root);
    }

    /// Stops task `index`: its callers and the tasks waiting on its endpoints get `PeerDied`,
    /// its queued calls elsewhere are withdrawn, and init gets a fault report.
    pub fn stop_task(&mut self, index: usize, kind: FaultKind, detail: u64) {
        let id = self.tasks[index].id;
        let pc = self.tasks[index].frame.pc;
        {
            let t = &mut self.tasks[index];
            t.state = if kind == FaultKind::Exited {
                TaskState::Exited
            } else {
                TaskState::Faulted
            };
            t.block = Block::None;
        }
        match kind {
            FaultKind::Exited if detail == 0 => {
                klog!(info, "task {} exited", self.tasks[index].name())
            }
            FaultKind::Exited => {
                self.failed = true;
                klog!(
                    warn,
                    "task {} exited with status {}",
                    self.tasks[index].name(),
                    detail
                )
            }
            _ => klog!(
                warn,
                "task {} faulted: {} (detail {:#x}, pc {:#x})",
                self.tasks[index].name(),
                fault_name(kind),
                detail,
                pc
            ),
        }
        kernel_core::ipc::fail_endpoints_of(self, index);
        kernel_core::ipc::withdraw_calls_of(self, id);
        if index != 0 {
            let report = FaultReport {
                task: id,
                kind,
                detail,
            };
            if kernel_core::ipc::post_kernel_message(self, 0, FAULT_REPORT.0, &report.encode())
                .is_err()
            {
                klog!(error, "fault report for {} lost", self.tasks[index].name());
            }
        }
    }
}

/// A fault kind's name in log lines.
pub fn fault_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::MemoryAccess => "memory access",
        FaultKind::IllegalInstruction => "illegal instruction",
        FaultKind::BadSyscall => "bad syscall",
        FaultKind::Exited => "exited",
        FaultKind::Killed => "killed",
    }
}

/// Checks that `[va, va + len)` is accessible to the task for `access`.
pub fn user_range_ok(k: &mut Kernel, task: usize, va: usize, len: usize, access: Access) -> bool {
    if len == 0 {
        return true;
    }
    let Some(end) = va.checked_add(len) else {
        return false;
    };
    let root = k.tasks[task].root;
    let mut page = va / FRAME_SIZE * FRAME_SIZE;
    while page < end {
        if sv39::translate_user(&mut k.mem, root, page, access).is_none() {
            return false;
        }
        page += FRAME_SIZE;
    }
    true
}

/// Copies between a task's memory and the kernel, page by page through the task's tables.
/// `to_user` picks the direction. The range must have been checked with [`user_range_ok`].
pub fn copy_user(k: &mut Kernel, task: usize, va: usize, kernel: &mut [u8], to_user: bool) -> bool {
    let root = k.tasks[task].root;
    let access = if to_user { Access::Write } else { Access::Read };
    let mut done = 0;
    while done < kernel.len() {
        let at = va + done;
        let Some(pa) = sv39::translate_user(&mut k.mem, root, at, access) else {
            return false;
        };
        let n = (FRAME_SIZE - at % FRAME_SIZE).min(kernel.len() - done);
        let user = k.mem.bytes(pa, n);
        if to_user {
            user.copy_from_slice(&kernel[done..done + n]);
        } else {
            kernel[done..done + n].copy_from_slice(user);
        }
        done += n;
    }
    true
}

/// Copies `len` bytes from one task's memory to another's (both ranges checked before).
pub fn copy_between(
    k: &mut Kernel,
    src: usize,
    src_va: usize,
    dst: usize,
    dst_va: usize,
    len: usize,
) -> bool {
    let (src_root, dst_root) = (k.tasks[src].root, k.tasks[dst].root);
    let mut done = 0;
    while done < len {
        let (s, d) = (src_va + done, dst_va + done);
        let Some(spa) = sv39::translate_user(&mut k.mem, src_root, s, Access::Read) else {
            return false;
        };
        let Some(dpa) = sv39::translate_user(&mut k.mem, dst_root, d, Access::Write) else {
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
