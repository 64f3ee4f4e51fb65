//! The contract between Zero OS tasks and any kernel that hosts them.
//!
//! Every number shared by the kernel and the tasks lives here, once: syscall numbers and the
//! register convention ([`syscall`]), the message limits ([`message`]), task and endpoint
//! identifiers and the sender credentials the kernel stamps on every message ([`ids`]), the
//! error codes a syscall can return ([`Errno`]), init's protocol ([`init_proto`]), and the
//! kernel-conformance / demo protocol ([`demo`]). Nothing in a message payload can claim an
//! identity; the receiver learns who sent a message only from [`Credentials`], which the kernel
//! fills in.
//!
//! Tasks use a kernel through the [`Kernel`] trait (and init through [`Supervisor`]); the
//! implementations live elsewhere:
//!
//! - on riscv64 bare metal, `zos_runtime::Syscalls` (`runtime/`) implements them with raw
//!   `ecall`s, and the runtime gives a task binary its entry point, panic handler and heap;
//! - on the host, `kernel_host::HostKernel` (`kernel/host/`) runs tasks as std threads and
//!   implements the same traits with the same credential stamping, for host tests of every
//!   service.
//!
//! This crate is only the contract: plain data and traits, no `unsafe`. Feature `std`: std
//! types for host builds of dependent crates.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod demo;
pub mod device;
pub mod ids;
pub mod init_proto;
pub mod kernel;
pub mod message;
pub mod syscall;

pub use device::Device;
pub use ids::{Credentials, EndpointId, ProcessClass, ReplyToken, TaskId, UserId};
pub use kernel::{EndpointInfo, Kernel, Received, Supervisor, TaskInfo};
pub use message::{MAX_PAYLOAD, Tag};
pub use syscall::{Errno, ExitStatus, FaultKind, LogLevel, Sysno, TaskState};
