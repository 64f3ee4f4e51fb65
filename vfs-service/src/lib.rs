//! The Zero OS VFS service, server side: path resolution, permissions, quotas, the operations,
//! and the server loop over the kernel-abi IPC. The protocol (request table, messages, codec,
//! limits, errors) and the client live in the `vfs-api` crate; [`protocol`] and [`error`] are
//! its modules, re-exported.
//!
//! The VFS sits directly on `storage-backend`: [`Vfs`] holds a [`storage_backend::Store`] and is
//! generic over its block device and crypto engine; every write goes through [`Vfs::tx`].
//!
//! Layers, bottom up: [`inode`] (records and the on-store key schema), [`path`] and
//! [`permission`] (pure checks), [`handles`] (the streaming API's handle table, a leaf),
//! [`vfs`] (the state, transactions, resolution, accounting) and [`ops`] (the operations),
//! [`server`] (receive → decode → check → act → reply, through the table's
//! [`protocol::Handler`]).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod accounts;
pub mod crossdb;
pub mod crypto;
pub mod handles;
#[cfg(feature = "host")]
pub mod host;
pub mod image;
pub mod inode;
pub mod ops;
pub mod path;
pub mod permission;
pub mod resolve;
pub mod server;
pub mod totals;
pub mod vfs;

pub use ops::stream::{WriteBuffer, WriteStats};
pub use vfs::{Ctx, Env, Limits, Vfs};
pub use vfs_api::{ProtocolError, VfsError};
pub use vfs_api::{error, protocol};
