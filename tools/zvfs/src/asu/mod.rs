//! ASU backup files: a tree of files, directories and symlinks with their metadata, in one file
//! with a 128-byte header, typed metadata entries, a payload of chunks with a chunk directory,
//! an optional name-hash index, an optional Ed25519 signature and a 64-byte footer carrying the
//! SHA-256 master hash. The byte layout is fixed in `ASU-FORMAT.md` beside this crate.
//!
//! Guarantees: a reader checks the footer, the master hash and the section hash before it
//! trusts any offset; every chunk is bounds-checked, decrypted (AES-256-GCM, the chunk's place
//! bound in as associated data), decompressed to exactly its recorded size and checked against
//! its CRC-32 before a byte of it is returned. Truncated, corrupt, tampered or wrongly signed
//! files give an [`AsuError`], never different data.

mod chunk;
mod error;
mod layout;
mod manifest;
mod reader;
mod writer;

pub use error::AsuError;
pub use layout::{
    Compression, FEATURE_COMPRESSION, FEATURE_ENCRYPTION, FEATURE_INDEX, FEATURE_SIGNATURE,
};
pub use manifest::{Entry, EntryKind};
pub use reader::{AsuReader, Signature};
pub use writer::{AsuWriter, WriteOptions};

/// Uncompressed bytes of file content per payload chunk.
pub const CONTENT_CHUNK_BYTES: u64 = 1 << 20;
