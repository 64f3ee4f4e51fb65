//! The Zero OS VFS service: the 0x80xx protocol, path resolution, permissions, quotas, the server
//! loop over the kernel-abi IPC, and a typed client for other services.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod error;
