//! The Zero OS VFS service's API: everything a client needs and nothing of the server.
//!
//! - [`protocol`]: the request table (one declaration yields the tags, the request and
//!   response enums, their codec, the typed [`protocol::Message`] markers and the server's
//!   [`protocol::Handler`] skeleton), the payload types, the limits;
//! - [`error`]: [`VfsError`] and [`ProtocolError`], with their wire numbers;
//! - [`client`]: the typed client (`client.call::<R>(&request)` and convenience methods).
//!
//! `no_std` + `alloc`; it depends on `kernel-abi` (messages, the `Kernel` trait), `postcard`,
//! `serde` and `uuid` only. The wire format is specified in `vfs-service/PROTOCOL.md`, whose
//! hex examples `tests/protocol_doc.rs` decodes and re-encodes with this crate's codec.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod client;
pub mod error;
pub mod permissions;
pub mod protocol;
#[cfg(feature = "samples")]
pub mod samples;
pub mod sha256;

pub use error::{ProtocolError, VfsError};
pub use permissions::FilePermissions;

/// The name the VFS registers under in init's service registry.
pub const SERVICE_NAME: &str = "vfs";
