//! The manifest: chunk 0 of every ASU file written by zvfs, listing the tree's entries in
//! order. File content follows in chunks 1.., each file taking `ceil(size / 1 MiB)` consecutive
//! chunks in manifest order, so a file's chunks are derived, never stored twice.

use serde::{Deserialize, Serialize};

use super::CONTENT_CHUNK_BYTES;
use super::error::AsuError;

/// The most entries a manifest may hold; bounds what a hostile file can make a reader allocate.
pub const MAX_ENTRIES: usize = 1 << 20;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A regular file with content.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink {
        /// The link's target, as stored.
        target: String,
    },
}

/// One file, directory or symlink of the tree, with the metadata a Zero OS inode carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Absolute path inside the archived tree (`/` is the tree's root).
    pub path: String,
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Owner's user UUID, or `None` for the system.
    pub owner: Option<[u8; 16]>,
    /// Zero OS permission bits (see `vfs-service/PROTOCOL.md`).
    pub permissions: u16,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_ns: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: u64,
    /// Access time, nanoseconds since the Unix epoch.
    pub accessed_ns: u64,
    /// Content length in bytes (0 for directories and symlinks).
    pub size: u64,
    /// SHA-256 of the content, for files.
    pub content_sha256: Option<[u8; 32]>,
}

impl Entry {
    /// How many content chunks this entry takes.
    pub fn chunk_count(&self) -> u64 {
        match self.kind {
            EntryKind::File => self.size.div_ceil(CONTENT_CHUNK_BYTES),
            _ => 0,
        }
    }
}

/// Checks that a path is absolute and canonical: no empty, `.` or `..` components, no NUL, no
/// trailing slash (the root itself is `/`). A reader refuses anything else, so an archive can
/// never name a place outside the tree it is extracted into.
pub fn is_canonical_path(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    !path.contains('\0')
        && rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Encodes the manifest.
pub fn encode(entries: &[Entry]) -> Result<Vec<u8>, AsuError> {
    postcard::to_allocvec(entries)
        .map_err(|_| AsuError::ContentMismatch("manifest encoding".into()))
}

/// Decodes and checks a manifest.
pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, AsuError> {
    let entries: Vec<Entry> =
        postcard::from_bytes(bytes).map_err(|_| AsuError::Corrupt("manifest does not decode"))?;
    if entries.len() > MAX_ENTRIES {
        return Err(AsuError::Corrupt("manifest has too many entries"));
    }
    for entry in &entries {
        check(entry)?;
    }
    Ok(entries)
}

/// Checks one entry's invariants.
pub fn check(entry: &Entry) -> Result<(), AsuError> {
    if !is_canonical_path(&entry.path) {
        return Err(AsuError::Corrupt("entry path is not canonical"));
    }
    match entry.kind {
        EntryKind::File => {}
        _ if entry.size != 0 => return Err(AsuError::Corrupt("non-file entry with content")),
        EntryKind::Symlink { ref target } if target.contains('\0') || target.is_empty() => {
            return Err(AsuError::Corrupt("symlink target"));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        for good in ["/", "/a", "/a/b", "/home/ü/Documents"] {
            assert!(is_canonical_path(good), "{good}");
        }
        for bad in ["", "a", "/a/", "//a", "/a/./b", "/a/../b", "/..", "/a\0b"] {
            assert!(!is_canonical_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn chunk_counts_round_up() {
        let mut entry = Entry {
            path: "/f".into(),
            kind: EntryKind::File,
            owner: None,
            permissions: 0,
            created_ns: 0,
            modified_ns: 0,
            accessed_ns: 0,
            size: 0,
            content_sha256: None,
        };
        assert_eq!(entry.chunk_count(), 0);
        entry.size = 1;
        assert_eq!(entry.chunk_count(), 1);
        entry.size = CONTENT_CHUNK_BYTES;
        assert_eq!(entry.chunk_count(), 1);
        entry.size = CONTENT_CHUNK_BYTES + 1;
        assert_eq!(entry.chunk_count(), 2);
    }
}
