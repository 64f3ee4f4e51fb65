//! Why an inecontainer operation failed.

use std::fmt;
use std::io;

use storage_backend::chunk::ChunkError;

/// An inecontainer failure.
#[derive(Debug)]
pub enum IneError {
    /// Reading or writing the container failed.
    Io(io::Error),
    /// The chunk at `position` is not valid.
    BadChunk {
        /// Byte offset of the chunk in the container.
        position: u64,
        /// What is wrong with it.
        error: ChunkError,
    },
    /// The container does not start with a file header chunk.
    NoFileHeader,
    /// The file header names another identifier.
    WrongIdentifier {
        /// The identifier found.
        found: String,
    },
    /// The chunks do not form valid streams (what is wrong, and where).
    Inconsistent(String),
    /// No stream has this name.
    NoSuchStream(String),
    /// A stream with this name exists already.
    StreamExists(String),
    /// The name cannot be stored (too long, empty, or containing a nul byte).
    BadName(String),
    /// The container has no room for another stream id or offset.
    Full,
}

impl fmt::Display for IneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::BadChunk { position, error } => {
                let what = match error {
                    ChunkError::Truncated => "truncated",
                    ChunkError::BadLength => "invalid length",
                    ChunkError::Crc => "CRC mismatch",
                    ChunkError::Malformed => "malformed",
                    ChunkError::TooLarge => "too large",
                };
                write!(f, "chunk at byte {position}: {what}")
            }
            Self::NoFileHeader => write!(f, "not an inecontainer file: no file header chunk"),
            Self::WrongIdentifier { found } => {
                write!(f, "container identifier is {found:?}, not the one expected")
            }
            Self::Inconsistent(what) => write!(f, "inconsistent container: {what}"),
            Self::NoSuchStream(name) => write!(f, "no virtual file named {name:?}"),
            Self::StreamExists(name) => write!(f, "a virtual file named {name:?} exists"),
            Self::BadName(name) => write!(f, "cannot store the name {name:?}"),
            Self::Full => write!(f, "container has no room for another stream"),
        }
    }
}

impl std::error::Error for IneError {}

impl From<io::Error> for IneError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
