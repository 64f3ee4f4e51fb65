//! Plain inecontainer files, as the reference `ic` tool reads and writes them: a file header
//! chunk, then stream start, continuation and fill chunks (the chunk codec is
//! `storage_backend::chunk`, bit-exact with the reference implementation).
//!
//! [`Container`] scans a container once into a map of its chunks (position, size, owner) and
//! then edits it in place: new streams reuse fill chunks first (splitting a larger fill, the
//! rest re-filled), then grow the file; removed streams become fill chunks in place, adjacent
//! equal fills are merged, and fills at the end of the file are cut off. Stream content moves
//! through a 4 KiB buffer: nothing is held in memory in proportion to a stream's size.
//!
//! A container that does not parse — a bad CRC, a truncated chunk, a continuation without a
//! stream start, a stream with gaps or overlaps — is refused with an [`IneError`] before
//! anything is read from it or written to it.
//!
//! Existing virtual files are edited in place (`edit`): rename, append, truncate and
//! overwrite at an offset, each leaving a container the reference implementation reads.

mod container;
mod edit;
mod error;

pub use container::{Container, Medium, StreamInfo};
pub use error::IneError;

/// The identifier string of the reference tool's containers.
pub const DEFAULT_IDENTIFIER: &str = "Inesonic, LLC.\nAleph";
/// The container format version the reference implementation writes: (minor, major).
pub const FORMAT_VERSION: (u8, u8) = (1, 0);
/// The longest stream name: 120 bytes in the stream start chunk, nul-terminated.
pub const MAX_NAME_BYTES: usize = 119;
