//! The contract between Zero OS tasks and any kernel that hosts them.
//!
//! Every number shared by the kernel and the tasks lives here, once: syscall numbers and the
//! register convention ([`syscall`]), the message limits ([`message`]), task and endpoint
//! identifiers and the sender credentials the kernel stamps on every message ([`ids`]), the
//! error codes a syscall can return ([`Errno`]), and init's protocol ([`init_proto`]). Nothing
//! in a message payload can claim an identity; the receiver learns who sent a message only from
//! [`Credentials`], which the kernel fills in.
//!
//! Tasks use a kernel through the [`Kernel`] trait (and init through [`Supervisor`]):
//!
//! - on riscv64 bare metal, `Syscalls` implements them with raw `ecall`s;
//! - with the `host` feature, `host::HostKernel` runs tasks as std threads and implements the
//!   same traits with the same credential stamping, for host tests of every service.
//!
//! Features: `std` (std types, implied by `host`; also [`task_link`], the build-script helper of
//! task crates), `host` (the host backend). On riscv64 bare
//! metal, `task_rt` and the `task_entry!` macro give a task binary its entry point, panic
//! handler and heap.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

pub mod conformance;
pub mod device;
pub mod heap;
#[cfg(feature = "host")]
pub mod host;
pub mod ids;
pub mod init_proto;
pub mod kernel;
pub mod message;
pub mod syscall;
#[cfg(feature = "std")]
pub mod task_link;

#[cfg(all(target_arch = "riscv64", target_os = "none"))]
pub mod riscv64;

pub use device::Device;
pub use ids::{Credentials, EndpointId, ProcessClass, ReplyToken, TaskId, UserId};
pub use kernel::{EndpointInfo, Kernel, Received, Supervisor, TaskInfo};
pub use message::{MAX_PAYLOAD, Tag};
pub use syscall::{Errno, ExitStatus, FaultKind, LogLevel, Sysno, TaskState};

#[cfg(all(target_arch = "riscv64", target_os = "none"))]
pub use riscv64::Syscalls;

#[cfg(all(target_arch = "riscv64", target_os = "none"))]
pub mod task_rt;
