//! A task table entry: the saved registers, the incarnation, its life-cycle and [`Block`]
//! state, its address space, grants and budgets, plus the layout of a task's address space and
//! the errors of starting one. Plain data over the trap frame type; no kernel state (loading and
//! stopping tasks are in `lifecycle`).
//!
//! A task's address space: its ELF segments where they are linked, a stack ending at
//! [`STACK_TOP`], a zeroed heap at [`HEAP_BASE`] when the system file gives it one, DMA memory
//! from [`DMA_BASE`] and granted device windows from [`MMIO_BASE`]. The kernel's identity map of
//! RAM and its MMIO window are in every address space, without the U bit.

use kernel_abi::{Credentials, FaultKind, TaskId, TaskState};
use qemu_kernel::system::TaskDesc;

use crate::arch::riscv64::trap::{TrapFrame, reg};

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
