//! Why an ASU file could not be written or read.

use std::fmt;
use std::io;

/// An ASU failure. Every variant names what was wrong so a script or a person can act on it.
#[derive(Debug)]
pub enum AsuError {
    /// Reading or writing the underlying file failed.
    Io(io::Error),
    /// The file is shorter than its structures say.
    Truncated,
    /// A magic number or end marker is wrong: not an ASU file, or damaged framing.
    BadMagic(&'static str),
    /// A version this implementation does not read.
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// A feature the file uses that this implementation does not support.
    Unsupported(&'static str),
    /// A structure is inconsistent (an offset out of bounds, sizes that do not add up, …).
    Corrupt(&'static str),
    /// A hash over a region does not match: the file was altered after it was written.
    HashMismatch(&'static str),
    /// The file is encrypted and no key was given.
    MissingKey,
    /// A chunk failed authentication: the key is wrong or the chunk was altered.
    Decryption {
        /// The chunk's index in the chunk directory.
        chunk: u64,
    },
    /// A chunk decrypted but its content does not match its size or CRC.
    ChunkCorrupt {
        /// The chunk's index in the chunk directory.
        chunk: u64,
    },
    /// The signature does not verify under the given public key.
    BadSignature,
    /// A public key was given but the file carries no signature.
    NotSigned,
    /// The writer was given content that does not match what it declared.
    ContentMismatch(String),
}

impl fmt::Display for AsuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Truncated => write!(f, "file is truncated"),
            Self::BadMagic(what) => write!(f, "not an ASU file: bad {what}"),
            Self::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported ASU version {major}.{minor}")
            }
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
            Self::Corrupt(what) => write!(f, "corrupt file: {what}"),
            Self::HashMismatch(what) => write!(f, "integrity check failed: {what} hash mismatch"),
            Self::MissingKey => write!(f, "file is encrypted: a key is needed"),
            Self::Decryption { chunk } => {
                write!(
                    f,
                    "chunk {chunk} failed authentication: wrong key or tampered data"
                )
            }
            Self::ChunkCorrupt { chunk } => write!(f, "chunk {chunk} is corrupt"),
            Self::BadSignature => write!(f, "signature does not verify under the given key"),
            Self::NotSigned => write!(f, "file is not signed"),
            Self::ContentMismatch(what) => write!(f, "content mismatch: {what}"),
        }
    }
}

impl std::error::Error for AsuError {}

impl From<io::Error> for AsuError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Truncated
        } else {
            Self::Io(e)
        }
    }
}
