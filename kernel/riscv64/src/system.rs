//! The system description the kernel boots: the tasks, their endpoints and their grants.
//!
//! xtask reads the declarative system file (`qemu/system.toml`), validates it, builds the tasks,
//! and generates Rust source that constructs a [`System`] with each task's ELF image embedded
//! through `include_bytes!`. The kernel trusts this table (it is part of the kernel image) but
//! still checks every ELF image it loads.

/// Devices are kernel-abi's: their numbers are part of the syscall contract.
pub use kernel_abi::Device;

/// One task of the system.
#[derive(Debug)]
pub struct TaskDesc {
    /// Its name (unique), used in logs and fault reports.
    pub name: &'static str,
    /// Its ELF image.
    pub image: &'static [u8],
    /// Scheduling priority: 0 is the most important.
    pub priority: u8,
    /// Stack size in bytes (rounded up to pages).
    pub stack_size: usize,
    /// Heap size in bytes (rounded up to pages), mapped zeroed below the stack.
    pub heap_size: usize,
    /// DMA memory budget in bytes (0: the task may not allocate DMA memory).
    pub dma_size: usize,
    /// The user the task runs for; `None` for the system.
    pub user: Option<[u8; 16]>,
    /// Its process class as `kernel_abi::ProcessClass`'s number.
    pub class: u8,
    /// Devices whose MMIO windows it may map.
    pub devices: &'static [Device],
    /// Endpoints it may send to, by index into [`System::endpoints`].
    pub reaches: &'static [u16],
    /// Whether the kernel starts it at boot (otherwise it waits for init to start it).
    pub start_at_boot: bool,
}

/// An endpoint: a bounded queue of messages that one task receives from.
#[derive(Debug)]
pub struct EndpointDesc {
    /// Its name (unique), as init's registry knows it.
    pub name: &'static str,
    /// The receiving task, by index.
    pub owner: u16,
    /// How many messages may wait in its queue; a send to a full queue fails.
    pub depth: u8,
}

/// The whole system.
#[derive(Debug)]
pub struct System {
    /// The tasks; index 0 is init.
    pub tasks: &'static [TaskDesc],
    /// The endpoints.
    pub endpoints: &'static [EndpointDesc],
    /// The scheduler's time slice in microseconds.
    pub tick_us: u32,
}
