//! The kernel's entry points: [`start`] (from boot, brings the kernel up and runs init), and
//! the trap handlers the trap vector calls ([`trap_entry`] for every syscall, fault and
//! interrupt from U-mode, [`kernel_trap`] for a trap in the kernel). The crate root wires them
//! into the vector (`arch::riscv64::trap::trap_vector!`).

use kernel_abi::FaultKind;
use qemu_kernel::platform::Platform;

use super::state::{Kernel, MAX_TASKS, kernel};
use super::{console, log, syscall};
use crate::arch::riscv64::trap::{self, TrapFrame};
use crate::arch::riscv64::{csr, sbi};
use crate::{klog, kprintln};

impl Kernel {
    /// Stops the current task because of a fault.
    fn fault_current(&mut self, kind: FaultKind, detail: u64) {
        let cur = self.current;
        self.stop_task(cur, kind, detail);
    }
}

/// Called by the trap vector with the current task's saved frame; returns the frame to resume.
pub extern "C" fn trap_entry(frame: *mut TrapFrame) -> *mut TrapFrame {
    let k = kernel();
    debug_assert!(core::ptr::eq(frame, &k.tasks[k.current].frame));
    let previous = k.current;
    let scause = csr::scause();
    if scause & csr::SCAUSE_INTERRUPT != 0 {
        match scause & !csr::SCAUSE_INTERRUPT {
            csr::IRQ_S_TIMER => k.timer_interrupt(),
            csr::IRQ_S_EXTERNAL => k.external_interrupts(),
            _ => {}
        }
    } else {
        match scause {
            8 => {
                // ecall from U-mode: resume after the instruction.
                k.tasks[k.current].frame.pc += 4;
                syscall::dispatch(k);
            }
            2 => k.fault_current(FaultKind::IllegalInstruction, csr::stval() as u64),
            1 | 5 | 7 | 12 | 13 | 15 | 4 | 6 | 0 => {
                k.fault_current(FaultKind::MemoryAccess, csr::stval() as u64)
            }
            _ => k.fault_current(FaultKind::IllegalInstruction, csr::stval() as u64),
        }
    }
    k.schedule();
    if k.timer_dirty {
        k.timer_dirty = false;
        k.rearm();
    }
    let next = k.current;
    if next != previous || k.tasks[next].needs_satp_reload {
        let flush = core::mem::take(&mut k.tasks[next].needs_satp_reload);
        if k.asids {
            csr::switch_address_space_asid(k.tasks[next].satp, flush);
        } else {
            csr::switch_address_space(k.tasks[next].satp);
        }
    }
    &mut k.tasks[next].frame
}

/// A trap while the kernel itself ran: a kernel bug. Report it and stop the machine.
pub extern "C" fn kernel_trap() -> ! {
    kprintln!(
        "kernel: trap in the kernel: scause {:#x} sepc {:#x} stval {:#x}",
        csr::scause(),
        csr::sepc(),
        csr::stval()
    );
    sbi::shutdown(false)
}

unsafe extern "C" {
    static __kernel_end: u8;
    static __boot_stack_top: u8;
}

/// Brings the kernel up on the parsed platform and runs the first task; never returns.
pub fn start(platform: &Platform) -> ! {
    let k = kernel();
    k.system = Some(&crate::generated::SYSTEM);
    let kernel_end = &raw const __kernel_end as usize;
    if k.mem.init(platform, kernel_end).is_none() {
        klog!(error, "cannot set up memory");
        sbi::shutdown(false);
    }
    k.timebase_hz = platform.timebase_hz.unwrap_or(10_000_000).max(1) as u64;
    log::set_timebase_hz(k.timebase_hz);
    if 1_000_000_000 % k.timebase_hz == 0 {
        k.ns_per_tick = 1_000_000_000 / k.timebase_hz;
    }
    k.rtc = platform.rtc.map(|r| r.base);
    k.find_devices(platform);
    // From here on the kernel runs in the kernel address space (and then in the tasks' ones,
    // which contain it); devices are reached through the MMIO window.
    let kernel_satp = qemu_kernel::sv39::satp(k.mem.kernel_root, 0);
    csr::switch_address_space(kernel_satp);
    // One ASID per task slot plus the kernel's: then a switch keeps the TLB (kernel/DESIGN.md,
    // "Memory", ASIDs).
    let bits = csr::asid_bits(kernel_satp);
    k.asids = (MAX_TASKS as u64) < (1u64 << bits);
    console::move_to_window();
    if platform.defmt_log {
        log::enable_defmt();
    }
    // Before any task runs, so that no task ever sees RandomBytes unseeded.
    k.seed_random();
    klog!(
        info,
        "{} MiB free for tasks, {} tasks, {} endpoints",
        (k.mem.frames.free_frames() * 4096) >> 20,
        k.system().tasks.len(),
        k.system().endpoints.len()
    );
    klog!(
        info,
        "{} ASID bits: {}",
        bits,
        if k.asids {
            "one address-space id per task, no TLB flush on a switch"
        } else {
            "too few for one per task: the TLB is flushed on every switch"
        }
    );
    if let Err(e) = k.create_tables() {
        klog!(error, "bad system description: {}", e);
        sbi::shutdown(false);
    }
    if k.task_count == 0 {
        klog!(info, "the system has no tasks; powering off");
        sbi::shutdown(true);
    }
    // Init (task 0) starts at boot; it starts the others.
    if let Err(e) = k.start_task(0) {
        klog!(error, "cannot start init: {}", e.name());
        sbi::shutdown(false);
    }
    trap::install_vector();
    k.init_interrupts(platform);
    csr::prepare_user_return();
    csr::enable_timer_interrupt();
    csr::enable_user_counters();
    k.next_tick = csr::time() + k.tick_len();
    k.current = 0;
    k.schedule();
    k.rearm();
    let stack_top = &raw const __boot_stack_top as usize;
    for t in k.tasks.iter_mut() {
        t.frame.kernel_sp = stack_top;
    }
    let cur = k.current;
    k.tasks[cur].needs_satp_reload = false;
    csr::switch_address_space(k.tasks[cur].satp);
    let frame: *mut TrapFrame = &mut k.tasks[cur].frame;
    // SAFETY: the frame lives in the static task table, its kernel_sp is the boot stack's top
    // (nothing on this stack is used after the switch), and its address space is active.
    unsafe { trap::resume(frame) }
}
