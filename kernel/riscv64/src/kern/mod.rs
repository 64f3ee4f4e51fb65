//! The kernel proper: boot, the task table, scheduling, and the trap handler that every
//! syscall, fault and timer interrupt goes through.
//!
//! One hart, interrupts masked while the kernel runs, one kernel stack: the kernel is a plain
//! state machine over [`state::Kernel`], entered once per trap and left by resuming a task.
//!
//! The modules form an acyclic graph (listed in `kernel/DESIGN.md`, "Layout"): leaves that
//! hold plain types and helpers and no kernel state (`mem`, `console`, `log`, `plic`, `entropy`,
//! `task`, `user`), `state`, which defines [`state::Kernel`] over the leaves, the modules that
//! add behaviour to it (`machine`, `lifecycle`, `devices`, `interrupts`, `scheduling`,
//! `syscall`), and `entry`, the entry points on top. This file only declares them.

pub mod console;
mod devices;
mod entropy;
mod entry;
mod interrupts;
mod lifecycle;
pub mod log;
mod machine;
mod mem;
mod plic;
mod scheduling;
mod state;
mod syscall;
mod task;
mod user;

pub use entry::{kernel_trap, start, trap_entry};
