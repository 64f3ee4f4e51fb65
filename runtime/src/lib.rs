//! The Zero OS task runtime: what a task binary links besides the contract ([`kernel_abi`]).
//!
//! - [`Syscalls`] (riscv64 bare metal): the kernel reached through raw `ecall`s, implementing
//!   [`kernel_abi::Kernel`] and [`kernel_abi::Supervisor`];
//! - `task_rt` and the [`task_entry!`] macro (riscv64 bare metal): a task binary's `_start`
//!   entry point, panic handler and heap;
//! - [`heap`]: the first-fit heap behind the runtime (host-tested);
//! - [`task_link`] (feature `std`): the helper a task crate's `build.rs` calls to link its
//!   binaries with `runtime/task.ld`.
//!
//! Logging goes through [`kernel_abi::klog!`] with [`Syscalls`] as the kernel.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

pub mod heap;
#[cfg(feature = "std")]
pub mod task_link;

#[cfg(all(target_arch = "riscv64", target_os = "none"))]
pub mod riscv64;

#[cfg(all(target_arch = "riscv64", target_os = "none"))]
pub use riscv64::Syscalls;

#[cfg(all(target_arch = "riscv64", target_os = "none"))]
pub mod task_rt;

/// The contract, re-exported for the runtime's macros (`$crate::kernel_abi::...`).
#[doc(hidden)]
pub use kernel_abi;
