//! The core of the Zero OS kernel: the IPC state machine every syscall between tasks goes
//! through, as plain logic over data, so that it runs under `cargo test` on the workstation.
//!
//! - [`ipc`]: endpoints with bounded queues and message slots, and `send` / `call` /
//!   `receive` / `reply`, with the sender's credentials stamped from the task table;
//! - [`syscall`]: decoding and checking the IPC syscalls' registers (kernel-abi's convention);
//! - [`Block`]: what a task waits for;
//! - [`Machine`]: what the core needs from the platform — the task table's registers and
//!   state, and copies to and from user memory, each checked against the task's own mappings.
//!
//! The riscv64 kernel (`kernel/riscv64/`) implements [`Machine`] over its Sv39 page tables and
//! trap frames; the tests in `kernel/core/tests/` implement it over plain arrays. The core has
//! no `unsafe` and no dependency on an architecture.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod block;
pub mod ipc;
mod machine;
pub mod syscall;

pub use block::Block;
pub use ipc::{Endpoint, Entry, MAX_DEPTH, Payload};
pub use machine::{Machine, wake, wake_err};
