//! The errors the VFS reports to its clients, with stable wire numbers.

use serde::{Deserialize, Serialize};

/// A VFS operation's failure, as a client sees it.
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
}
