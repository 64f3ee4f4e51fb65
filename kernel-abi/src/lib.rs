//! The contract between Zero OS tasks and any kernel that hosts them.
//!
//! Every number shared by the kernel and the tasks lives here, once: syscall numbers, the message
//! limits, task and endpoint identifiers, the sender credentials the kernel stamps on every
//! message, and the error codes a syscall can return. Nothing in a message payload can claim an
//! identity; the receiver learns who sent a message only from [`Credentials`], which the kernel
//! fills in.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

pub mod ids;
pub mod message;
pub mod syscall;

pub use ids::{Credentials, EndpointId, ProcessClass, TaskId, UserId};
pub use message::{MAX_PAYLOAD, Tag};
pub use syscall::{Errno, Sysno};
