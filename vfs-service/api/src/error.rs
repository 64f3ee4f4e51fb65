//! The errors the VFS reports to its clients, with stable wire numbers.
//!
//! Two kinds of failure cross the IPC boundary: a recoverable [`VfsError`] inside a well-formed
//! response, and a [`ProtocolError`] reply (tag [`crate::protocol::tags::PROTOCOL_ERROR`]) for a
//! request the service could not even decode. The service carries on after either.

use serde::{Deserialize, Serialize};

/// A VFS operation's failure, as a client sees it. The variant order is the wire encoding:
/// new variants are only ever appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VfsError {
    /// No entry at the path.
    NotFound,
    /// An entry already exists at the path.
    AlreadyExists,
    /// A path component that must be a directory is not.
    NotADirectory,
    /// The operation needs a file and found something else.
    NotAFile,
    /// The directory still has entries.
    DirectoryNotEmpty,
    /// The caller's credentials do not allow the operation.
    PermissionDenied,
    /// The path is malformed or escapes the root.
    InvalidPath,
    /// The write would take the user over their quota.
    QuotaExceeded,
    /// Symlink resolution went deeper than the limit.
    SymlinkLoop,
    /// The store failed.
    StorageError,
    /// A key was missing or wrong, or decryption failed.
    EncryptionError,
    /// A container resource limit (objects or bytes) would be exceeded.
    ResourceLimitExceeded,
    /// Stored data failed its integrity check.
    IntegrityError,
    /// The handle was valid once but has been closed (or the service restarted since).
    StaleHandle,
    /// The handle was never issued, or belongs to another task.
    InvalidHandle,
    /// The handle was not opened for this kind of access (read on a write-only handle, ...).
    BadHandleMode,
    /// An argument is out of range (a length over the I/O limit, contradictory flags, ...).
    InvalidArgument,
    /// The task already holds as many handles as the service allows.
    TooManyHandles,
    /// A rename would move a directory into its own subtree, or move the root.
    InvalidMove,
    /// The medium is full: the store could not write, though no limit was reached. Nothing of
    /// the operation was written; deleting files frees room.
    NoSpace,
    /// A device error during a write left the store unsure of its state: it refuses writes
    /// (reads keep working) until the service restarts and mounts it again.
    Halted,
    /// A version this service does not serve: the filesystem's schema version on the medium is
    /// newer than (or unknown to) this service, or a HELLO named a protocol version other than
    /// the service's [`crate::protocol::limits::PROTOCOL_VERSION`].
    UnsupportedSchema,
    /// FLUSH or CLOSE of a handle whose file another writer changed since the handle opened
    /// it (or last committed): committing would silently drop the other writer's data. Nothing
    /// was committed and the handle stays open (DISCARD it, or reopen and redo the change).
    /// A handle opened with `OpenFlags::overwrite` replaces the file instead.
    Conflict,
}

/// Why a request could not be decoded; sent with tag [`crate::protocol::tags::PROTOCOL_ERROR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolError {
    /// The tag is not a VFS request.
    UnknownTag(u32),
    /// The payload does not decode as the tag's request type (or has trailing bytes).
    Malformed,
    /// The payload is longer than a message may be.
    TooLarge,
}

impl VfsError {
    /// The error in words, for people (the shell and the image tool print these).
    pub const fn message(self) -> &'static str {
        match self {
            Self::NotFound => "no such file or directory",
            Self::AlreadyExists => "already exists",
            Self::NotADirectory => "not a directory",
            Self::NotAFile => "not a file",
            Self::DirectoryNotEmpty => "directory not empty",
            Self::PermissionDenied => "permission denied",
            Self::InvalidPath => "invalid path",
            Self::QuotaExceeded => "quota exceeded",
            Self::SymlinkLoop => "too many levels of symbolic links",
            Self::StorageError => "storage error",
            Self::EncryptionError => "encrypted (key missing or wrong)",
            Self::ResourceLimitExceeded => "resource limit exceeded",
            Self::IntegrityError => "integrity check failed",
            Self::StaleHandle => "stale handle",
            Self::InvalidHandle => "invalid handle",
            Self::BadHandleMode => "handle not open for this access",
            Self::InvalidArgument => "invalid argument",
            Self::TooManyHandles => "too many open handles",
            Self::InvalidMove => "cannot move a directory into itself",
            Self::NoSpace => "no space left on the storage medium",
            Self::Halted => "storage halted after a device error (read-only until restart)",
            Self::UnsupportedSchema => {
                "version not supported by this service (filesystem schema or protocol)"
            }
            Self::Conflict => "the file was changed by another writer since it was opened",
        }
    }
}

impl core::fmt::Display for VfsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}
