//! The kernel proper: boot, the task table, scheduling, and the trap handler that every
//! syscall, fault and timer interrupt goes through.
//!
//! One hart, interrupts masked while the kernel runs, one kernel stack: the kernel is a plain
//! state machine over [`Kernel`], entered once per trap and left by resuming a task.

pub mod console;
mod devices;
pub mod entropy;
pub mod log;
mod machine;
pub mod mem;
pub mod plic;
pub mod syscall;
pub mod task;

use core::cell::UnsafeCell;

use kernel_abi::FaultKind;
use qemu_kernel::drbg::HmacDrbg;
use qemu_kernel::platform::{Platform, Region};
use qemu_kernel::sched::Scheduler;
use qemu_kernel::system::{Device, System};

pub use crate::arch::riscv64::csr;
use crate::arch::riscv64::sbi;
use crate::arch::riscv64::trap::{self, TrapFrame};
use crate::{klog, kprintln};
use kernel_core::Endpoint;
use mem::Memory;
use task::Task;

/// The most tasks a system may have.
pub const MAX_TASKS: usize = 16;
/// The most endpoints a system may have (grants are a 64-bit mask).
pub const MAX_ENDPOINTS: usize = 64;

/// How long boot waits for the entropy device's first answer. QEMU's device answers in
/// microseconds; a device silent for this long is treated as absent.
const BOOT_ENTROPY_TIMEOUT_NS: u64 = 1_000_000_000;
/// `RandomBytes` requests between reseeds from the device. Not needed for the DRBG's security
/// (SP 800-90A allows 2^48), but it limits what a one-time disclosure of the state would
/// predict, and its cost (one polled device round trip, interrupts masked) spread over this
/// many requests is negligible.
const RESEED_EVERY: u64 = 1024;
/// How long a reseed waits for the device before giving up on it (the kernel is stalled
/// meanwhile, so this is short; the boot seed keeps serving).
const RESEED_TIMEOUT_NS: u64 = 10_000_000;

/// Overwrites secret bytes on the stack before they go out of scope; volatile, so the compiler
/// cannot drop the stores as dead.
pub fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, exclusive reference to one byte.
        unsafe { core::ptr::write_volatile(b, 0) };
    }
}

/// Where a granted device sits in the machine.
#[derive(Clone, Copy, Debug)]
pub struct DeviceWindow {
    /// Its registers.
    pub regs: Region,
    /// Its interrupt line (0 = none).
    pub irq: u32,
}

/// All kernel state.
pub struct Kernel {
    /// Frames and the kernel's mappings.
    pub mem: Memory,
    /// The task table, indexed like the system file.
    pub tasks: [Task; MAX_TASKS],
    /// How many entries of `tasks` are in use.
    pub task_count: usize,
    /// The endpoints, indexed by endpoint number.
    pub endpoints: [Endpoint; MAX_ENDPOINTS],
    /// How many entries of `endpoints` are in use.
    pub endpoint_count: usize,
    /// The running task.
    pub current: usize,
    /// Round-robin state.
    pub sched: Scheduler,
    /// The system description.
    pub system: Option<&'static System>,
    /// Device windows by [`Device::number`].
    pub devices: [Option<DeviceWindow>; Device::ALL.len()],
    /// The goldfish RTC's registers (physical), if any.
    pub rtc: Option<usize>,
    /// The interrupt controller, once interrupts are forwarded.
    pub plic: Option<plic::Plic>,
    /// `time` ticks per second.
    pub timebase_hz: u64,
    /// When the current periodic tick ends (in `time` ticks).
    pub next_tick: u64,
    /// The deadline the timer is programmed for.
    pub timer_armed: u64,
    /// Sleepers or the tick changed: the timer must be reprogrammed before leaving the kernel.
    pub timer_dirty: bool,
    /// Nanoseconds per `time` tick when that is a whole number (0 otherwise).
    pub ns_per_tick: u64,
    /// The kernel's entropy source (the virtio-rng device), once set up.
    pub entropy: entropy::VirtioRng,
    /// The generator behind `RandomBytes`; `None` when no entropy source seeded it (the syscall
    /// then answers `NotSupported` rather than predictable bytes).
    pub drbg: Option<HmacDrbg>,
    /// A task exited with a non-zero status: the run's verdict is failure.
    pub failed: bool,
    /// Console input not yet read.
    pub input: heapless::Deque<u8, { console::INPUT_BUFFER }>,
    /// The UART's interrupt line (0: none; input is then polled at each tick).
    pub uart_irq: u32,
}

struct Global(UnsafeCell<Kernel>);

// SAFETY: there is one hart, and the kernel runs with interrupts masked, so the state is never
// accessed concurrently.
unsafe impl Sync for Global {}

static KERNEL: Global = Global(UnsafeCell::new(Kernel::new()));

/// The kernel state.
pub fn kernel() -> &'static mut Kernel {
    // SAFETY: single hart, no re-entry (see `Global`): callers never hold two of these at once
    // across a call that takes another (each entry point takes it exactly once).
    unsafe { &mut *KERNEL.0.get() }
}

impl Kernel {
    const fn new() -> Self {
        Self {
            mem: Memory::empty(),
            tasks: [const { Task::EMPTY }; MAX_TASKS],
            task_count: 0,
            endpoints: [const { Endpoint::EMPTY }; MAX_ENDPOINTS],
            endpoint_count: 0,
            current: 0,
            sched: Scheduler::new(),
            system: None,
            devices: [None; Device::ALL.len()],
            rtc: None,
            plic: None,
            timebase_hz: 10_000_000,
            next_tick: 0,
            timer_armed: u64::MAX,
            timer_dirty: true,
            ns_per_tick: 0,
            entropy: entropy::VirtioRng::absent(),
            drbg: None,
            failed: false,
            input: heapless::Deque::new(),
            uart_irq: 0,
        }
    }

    /// The system description (set at boot).
    pub fn system(&self) -> &'static System {
        match self.system {
            Some(system) => system,
            None => &crate::generated::SYSTEM,
        }
    }

    /// `time` ticks to nanoseconds.
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        if self.ns_per_tick != 0 {
            return ticks.wrapping_mul(self.ns_per_tick);
        }
        (ticks as u128 * 1_000_000_000 / self.timebase_hz as u128) as u64
    }

    /// Nanoseconds to `time` ticks (rounded up).
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        (ns as u128 * self.timebase_hz as u128).div_ceil(1_000_000_000) as u64
    }

    fn tick_len(&self) -> u64 {
        let us = self.system().tick_us.max(100) as u64;
        self.ns_to_ticks(us * 1000)
    }

    /// Each task's priority if it is ready to run.
    pub fn ready_list(&self) -> [Option<u8>; MAX_TASKS] {
        let mut ready = [None; MAX_TASKS];
        for (i, t) in self.tasks[..self.task_count].iter().enumerate() {
            if t.is_ready() {
                ready[i] = Some(t.priority());
            }
        }
        ready
    }

    /// Picks the task to run next; idles (or powers off) when there is none.
    pub fn schedule(&mut self) {
        // Keep the current task if it is ready and nobody more important is.
        loop {
            // Fast path: one pass for the most important ready priority.
            let mut best = u8::MAX;
            let mut any = false;
            for t in &self.tasks[..self.task_count] {
                if t.is_ready() {
                    any = true;
                    best = best.min(t.priority());
                }
            }
            let cur = &self.tasks[self.current];
            if cur.is_ready() && cur.priority() == best {
                return;
            }
            if !any {
                self.idle();
                continue;
            }
            let ready = self.ready_list();
            if let Some(next) = self.sched.pick(&ready[..self.task_count]) {
                self.current = next;
                return;
            }
            self.idle();
        }
    }

    /// Nothing is ready: wait for the next sleeper, or power off when nothing can ever run
    /// again (every task stopped or blocked on IPC with no timer pending).
    fn idle(&mut self) {
        let wake = self.earliest_wake();
        if wake.is_none() && !self.anyone_awaits_interrupts() {
            self.power_off();
        }
        // No sleeper: park the timer so a stale pending tick does not keep `wfi` returning.
        self.arm_timer(wake.unwrap_or(u64::MAX));
        // Interrupts stay masked (sstatus.SIE = 0); `wfi` still returns when one is pending.
        loop {
            csr::wait_for_interrupt();
            if csr::external_pending() {
                self.external_interrupts();
                if self.tasks[..self.task_count].iter().any(Task::is_ready) {
                    break;
                }
            }
            if wake.is_some_and(|at| csr::time() >= at) {
                break;
            }
        }
        self.wake_sleepers();
        self.timer_dirty = true;
    }

    /// Whether a task waits in `WaitNotification` for a device whose interrupt is forwarded.
    fn anyone_awaits_interrupts(&self) -> bool {
        self.plic.is_some()
            && self.tasks[..self.task_count].iter().any(|t| {
                t.is_alive()
                    && matches!(
                        t.block,
                        task::Block::Notification { .. } | task::Block::ConsoleRead { .. }
                    )
            })
    }

    /// Takes in what the UART received and hands it to a task blocked in `ConsoleRead`.
    pub fn console_input(&mut self) {
        self.drain_console();
        if self.input.is_empty() {
            return;
        }
        let Some(reader) = self.tasks[..self.task_count]
            .iter()
            .position(|t| t.is_alive() && matches!(t.block, task::Block::ConsoleRead { .. }))
        else {
            return;
        };
        if let task::Block::ConsoleRead { buf, cap } = self.tasks[reader].block {
            let n = self.deliver_input(reader, buf, cap);
            self.tasks[reader].wake(n);
        }
    }

    /// Copies up to `cap` buffered input bytes into task `reader`'s buffer at `buf` (checked
    /// writable); returns how many.
    pub fn deliver_input(&mut self, reader: usize, buf: usize, cap: usize) -> usize {
        let mut bytes = [0u8; console::INPUT_BUFFER];
        let mut n = 0;
        while n < cap.min(bytes.len()) {
            let Some(b) = self.input.pop_front() else {
                break;
            };
            bytes[n] = b;
            n += 1;
        }
        task::copy_user(self, reader, buf, &mut bytes[..n], true);
        // Room again: take in what the UART held back.
        self.drain_console();
        n
    }

    /// Drains the UART into the input buffer; while the buffer is full the UART's interrupt
    /// line stays masked (the UART keeps the bytes), and it is unmasked once there is room.
    pub fn drain_console(&mut self) {
        console::drain_input(&mut self.input);
        if let Some(plic) = self.plic
            && self.uart_irq != 0
        {
            plic.set_enabled(self.uart_irq, !self.input.is_full());
        }
    }

    /// Sets up interrupt forwarding for every device the system file grants.
    fn init_interrupts(&mut self, platform: &Platform) {
        let Some(region) = platform.plic else {
            return;
        };
        let plic = plic::Plic::new(region.base);
        for desc in self.system().tasks {
            for device in desc.devices {
                if let Some(w) = self.devices[device.number()]
                    && w.irq != 0
                {
                    plic.configure(w.irq);
                    plic.set_enabled(w.irq, true);
                }
            }
        }
        if let Some(irq) = platform.uart_irq {
            plic.configure(irq);
            plic.set_enabled(irq, true);
            self.uart_irq = irq;
            console::enable_input_interrupt();
        }
        self.plic = Some(plic);
        csr::enable_external_interrupts();
    }

    /// Claims every pending device interrupt: masks its line and notifies the task granted the
    /// device (the first alive one in task order), waking it if it waits for that bit.
    pub fn external_interrupts(&mut self) {
        let Some(plic) = self.plic else {
            return;
        };
        loop {
            let irq = plic.claim();
            if irq == 0 {
                return;
            }
            if irq == self.uart_irq {
                plic.complete(irq);
                self.console_input();
                continue;
            }
            plic.set_enabled(irq, false);
            plic.complete(irq);
            let Some(device) = Device::ALL
                .into_iter()
                .find(|d| self.devices[d.number()].is_some_and(|w| w.irq == irq))
            else {
                continue;
            };
            let bit = device.notification_bit();
            let Some(t) = self.tasks[..self.task_count]
                .iter_mut()
                .find(|t| t.is_alive() && t.desc.is_some_and(|d| d.devices.contains(&device)))
            else {
                continue;
            };
            t.notifications |= bit;
            if let task::Block::Notification { mask, .. } = t.block
                && mask & t.notifications != 0
            {
                let pending = mask & t.notifications;
                t.notifications &= !pending;
                t.wake(pending as usize);
            }
        }
    }

    fn earliest_wake(&self) -> Option<u64> {
        self.tasks[..self.task_count]
            .iter()
            .filter_map(Task::wake_at)
            .min()
    }

    /// Makes every sleeper whose time has come ready.
    pub fn wake_sleepers(&mut self) {
        let now = csr::time();
        for t in self.tasks[..self.task_count].iter_mut() {
            if t.wake_at().is_some_and(|at| at <= now) {
                t.wake(0);
            }
        }
    }

    /// Programs the timer for the earlier of the tick and the next sleeper, if it changed.
    pub fn rearm(&mut self) {
        let mut deadline = self.next_tick;
        if let Some(wake) = self.earliest_wake() {
            deadline = deadline.min(wake);
        }
        if deadline != self.timer_armed {
            self.arm_timer(deadline);
        }
    }

    fn arm_timer(&mut self, deadline: u64) {
        self.timer_armed = deadline;
        sbi::set_timer(deadline);
    }

    fn power_off(&mut self) -> ! {
        let failed = self.failed;
        klog!(
            info,
            "no task can run any more; powering off ({})",
            if failed { "failure" } else { "success" }
        );
        sbi::shutdown(!failed)
    }

    /// The timer fired: wake sleepers, and end the running task's slice if the tick passed.
    fn timer_interrupt(&mut self) {
        let now = csr::time();
        self.wake_sleepers();
        if now >= self.next_tick {
            let cur = self.current;
            if self.tasks[cur].is_ready() {
                let prio = self.tasks[cur].priority();
                self.sched.rotate(cur, prio);
                // Let the next task of this priority go first.
                if let Some(next) = self.sched.pick(&self.ready_list()[..self.task_count]) {
                    self.current = next;
                }
            }
            self.next_tick = now + self.tick_len();
        }
        self.timer_armed = u64::MAX;
        self.timer_dirty = true;
    }

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
        k.tasks[next].needs_satp_reload = false;
        csr::switch_address_space(k.tasks[next].satp);
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
    if 1_000_000_000 % k.timebase_hz == 0 {
        k.ns_per_tick = 1_000_000_000 / k.timebase_hz;
    }
    k.rtc = platform.rtc.map(|r| r.base);
    k.find_devices(platform);
    // From here on the kernel runs in the kernel address space (and then in the tasks' ones,
    // which contain it); devices are reached through the MMIO window.
    csr::switch_address_space(qemu_kernel::sv39::satp(k.mem.kernel_root, 0));
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
    csr::switch_address_space(k.tasks[cur].satp);
    let frame: *mut TrapFrame = &mut k.tasks[cur].frame;
    // SAFETY: the frame lives in the static task table, its kernel_sp is the boot stack's top
    // (nothing on this stack is used after the switch), and its address space is active.
    unsafe { trap::resume(frame) }
}
