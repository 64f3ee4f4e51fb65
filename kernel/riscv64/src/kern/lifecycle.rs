//! Task life cycle: the task and endpoint tables from the system description, loading an ELF
//! image into a fresh Sv39 address space, stopping a task (fault, exit, restart: `PeerDied` for
//! its callers, withdrawal of its calls, a fault report to init) and tearing its memory down.

use kernel_abi::init_proto::{FAULT_REPORT, FaultReport};
use kernel_abi::{FaultKind, TaskId, TaskState};
use qemu_kernel::elf::{Elf, PF_R, PF_W, PF_X};
use qemu_kernel::frames::FRAME_SIZE;
use qemu_kernel::sv39::{self, PTE_R, PTE_U, PTE_W, PTE_X};
use qemu_kernel::system::TaskDesc;

use super::state::{Kernel, MAX_ENDPOINTS, MAX_TASKS};
use super::task::{Block, HEAP_BASE, LoadError, STACK_TOP, fault_name};
use crate::arch::riscv64::trap::{TrapFrame, reg};
use crate::klog;

impl Kernel {
    /// Sets up the task and endpoint tables from the system description.
    pub fn create_tables(&mut self) -> Result<(), &'static str> {
        let system = self.system();
        if system.tasks.len() > MAX_TASKS {
            return Err("too many tasks");
        }
        if system.endpoints.len() > MAX_ENDPOINTS {
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
        // Slot `index` always runs under ASID `index + 1`: a restarted task reuses its slot's
        // ASID for a new address space, so `needs_satp_reload` makes the first switch to it
        // flush what the TLB still holds for the old one.
        let asid = if self.asids { index as u16 + 1 } else { 0 };
        let t = &mut self.tasks[index];
        t.root = root;
        t.satp = sv39::satp(root, asid);
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
