//! Payload types of STATFS: what a `df` needs — how big each database's medium is, how much of it
//! holds live records, what is writable now, the filesystem's limits and usage, and which engine
//! protects the data. Every figure is O(1) for the service to produce (counters it keeps), so
//! any caller may ask as often as it likes.

use alloc::string::String;
use serde::{Deserialize, Serialize};

/// [`super::tags::STATFS`]'s response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsStat {
    /// The userspace database (every file, directory and symlink).
    pub userspace: DbStat,
    /// The kernel database (identities, quotas, the audit log): System class callers only,
    /// `None` for everyone else.
    pub kernel: Option<DbStat>,
    /// The filesystem's entries and content bytes against its configured limits.
    pub tree: TreeStat,
    /// What protects the data at rest.
    pub security: Security,
}

/// One database's medium (its region of the block device).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbStat {
    /// Bytes of log space in the region (all segments).
    pub capacity_bytes: u64,
    /// Bytes of chunks holding live records.
    pub live_bytes: u64,
    /// Bytes writable now without cleaning: free segments and the rest of the open one.
    /// `capacity − live − free` is dead space the store's cleaner reclaims.
    pub free_bytes: u64,
    /// Live records (keys).
    pub objects: u64,
    /// The database's record limit (`u64::MAX`: none beyond the medium).
    pub max_objects: u64,
    /// Logical bytes of live records (keys plus values).
    pub logical_bytes: u64,
    /// The database's logical byte limit (`u64::MAX`: none beyond the medium).
    pub max_logical_bytes: u64,
}

/// What the filesystem holds against its limits (PROTOCOL.md, "Limits"): every entry and
/// byte wherever it lives, `/tmp` included; `u64::MAX` means no limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeStat {
    /// Files and symlinks.
    pub files: u64,
    /// The most files and symlinks.
    pub max_files: u64,
    /// Directories.
    pub directories: u64,
    /// The most directories.
    pub max_directories: u64,
    /// Bytes of committed file content.
    pub bytes: u64,
    /// Bytes of open handles' staged versions (they count against the byte limit too).
    pub staged_bytes: u64,
    /// The most content bytes.
    pub max_bytes: u64,
    /// Bytes of that limit only System and Runtime callers may use (the reserve that keeps
    /// the system working when users are full).
    pub reserved_bytes: u64,
    /// The largest single file.
    pub max_file_size: u64,
}

/// Which engine seals and authenticates every record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// A hardware crypto engine (keys stay in the device) or the software fallback.
    pub engine: EngineClass,
    /// The engine's name (`virtio-crypto`, `software`, a board's peripheral).
    pub engine_name: String,
    /// The record cipher: `AES-256-GCM` (every record encrypted and authenticated, nonces
    /// unique by construction).
    pub cipher: String,
    /// The integrity root: `SHA-256 hash chain` (each commit extends the master hash).
    pub integrity: String,
}

/// [`Security::engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngineClass {
    /// Portable software code on the CPU (keys in RAM of the VFS task).
    Software,
    /// A hardware engine (keys held by the device once imported).
    Hardware,
}
