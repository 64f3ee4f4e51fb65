//! Container framing of a database region, after the ASU and Container VFS documents.
//!
//! A region starts with a 128-byte little-endian [`AsuHeader`] (plaintext; SHA-256 checksum over
//! its first 0x54 bytes) followed by one sealed chunk of typed metadata entries
//! ([`Metadata`]: container UUID, creator, created / modified times, geometry, limits). The
//! region's log carries 64-byte [`AsuFooter`]s with the master integrity hash. Structures are
//! 8-byte aligned; their sizes are asserted at compile time.

mod header;
mod metadata;

pub use header::{AsuFooter, AsuHeader, FOOTER_MAGIC, HEADER_MAGIC};
pub use metadata::{Metadata, meta_type};
