//! All kernel state: [`Kernel`] and its fields, the one static instance behind [`kernel()`],
//! and plain accessors over the fields (the system description, clock conversions, the ready
//! list). The behaviour is added by the `impl Kernel` blocks of `lifecycle`, `scheduling`,
//! `interrupts`, `devices` and `machine`; this module imports only leaf modules.

use core::cell::UnsafeCell;

use kernel_core::Endpoint;
use qemu_kernel::drbg::HmacDrbg;
use qemu_kernel::platform::Region;
use qemu_kernel::sched::Scheduler;
use qemu_kernel::system::{Device, System};

use super::console::INPUT_BUFFER;
use super::entropy::VirtioRng;
use super::mem::Memory;
use super::plic::Plic;
use super::task::Task;

/// The most tasks a system may have.
pub const MAX_TASKS: usize = 16;
/// The most endpoints a system may have (grants are a 64-bit mask).
pub const MAX_ENDPOINTS: usize = 64;

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
    pub plic: Option<Plic>,
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
    pub entropy: VirtioRng,
    /// The generator behind `RandomBytes`; `None` when no entropy source seeded it (the syscall
    /// then answers `NotSupported` rather than predictable bytes).
    pub drbg: Option<HmacDrbg>,
    /// A task exited with a non-zero status: the run's verdict is failure.
    pub failed: bool,
    /// Console input not yet read.
    pub input: heapless::Deque<u8, INPUT_BUFFER>,
    /// The UART's interrupt line (0: none; input is then polled at each tick).
    pub uart_irq: u32,
    /// The hart has enough ASIDs for every task slot: task slot `i` runs under ASID `i + 1`
    /// (the kernel's own space is ASID 0), and a switch flushes only what changed. Otherwise
    /// every task runs under ASID 0 and every switch flushes the whole TLB.
    pub asids: bool,
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
            entropy: VirtioRng::absent(),
            drbg: None,
            failed: false,
            input: heapless::Deque::new(),
            uart_irq: 0,
            asids: false,
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

    /// The length of a scheduling tick, in `time` ticks.
    pub fn tick_len(&self) -> u64 {
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
}
