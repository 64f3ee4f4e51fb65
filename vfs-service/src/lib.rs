//! The Zero OS VFS service: the 0x80xx protocol, path resolution, permissions, quotas, the server
//! loop over the kernel-abi IPC, and a typed client for other services.
//!
//! Layers, bottom up: [`store`] (the narrow storage contract, with an in-memory store and the
//! adapter to `storage-backend`), [`inode`] (records and key layout), [`path`] and
//! [`permission`] (pure checks), [`vfs`] and [`ops`] (the filesystem), [`handles`] (the
//! streaming API's handle table), [`protocol`] (wire types and codec), [`server`] (receive →
//! decode → check → act → reply) and [`client`].
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod backend;
pub mod client;
pub mod crypto;
pub mod error;
pub mod handles;
#[cfg(feature = "host")]
pub mod host;
pub mod image;
pub mod inode;
pub mod ops;
pub mod path;
pub mod permission;
pub mod protocol;
pub mod server;
pub mod store;
pub mod vfs;

pub use error::{ProtocolError, VfsError};
pub use vfs::{Ctx, Env, Limits, Vfs};
