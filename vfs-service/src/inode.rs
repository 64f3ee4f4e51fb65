//! Inodes, directory entries and the key layout of the two databases.
//!
//! Userspace database (all integers big-endian so keys sort numerically):
//!
//! | key | value |
//! | --- | --- |
//! | `I` inode id (8) | [`Inode`] |
//! | `D` parent id (8) name (UTF-8) | child inode id (8) |
//! | `C` content id (8) piece index (4) | one stored piece (≤ 4 KiB of content) |
//! | `G` content id (8) | first piece index to delete (4): content awaiting collection |
//! | `S` content id (8) | empty: content being staged by an open handle |
//! | `R` inode id (8) | empty: a subtree detached by a recursive removal, awaiting reaping |
//! | `Q` user (16) | quota limit (8) |
//! | `Mnext` | next free inode / content id (8) |
//! | `Mschema` | schema version of this layout (4) |
//!
//! `FORMAT.md` in this crate specifies every record byte by byte. The layout is versioned
//! ([`SCHEMA_VERSION`]); a VFS refuses a filesystem whose version it does not know.
//!
//! Directory entries are keyed by (parent inode id, name) and inodes by id, so renaming a
//! directory rewrites two entries and a few inodes whatever its subtree holds.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permission::FilePermissions;

/// The version of the on-store schema this code reads and writes (`keys::SCHEMA`). Raised on
/// any incompatible change of a key or record; FORMAT.md describes version 1.
pub const SCHEMA_VERSION: u32 = 1;

/// The root directory's inode id.
pub const ROOT_ID: u64 = 1;

/// What an inode is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A file whose pieces are stored under `content` (0: no content yet).
    File {
        /// Content id.
        content: u64,
    },
    /// A directory, with running totals over its subtree.
    Dir {
        /// Bytes of file content below.
        tree_bytes: u64,
        /// Entries below.
        tree_entries: u64,
    },
    /// A symlink.
    Symlink {
        /// Target as given.
        target: String,
    },
}

/// How an encrypted file's content is sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncInfo {
    /// HKDF salt of this content version (fresh for each version).
    pub salt: [u8; 16],
    /// The path the key was bound to when the file was encrypted (HKDF info).
    pub bound_path: String,
    /// GCM tag of the empty message under the version key: detects a wrong key early.
    pub check: [u8; 16],
}

/// An inode record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inode {
    /// This inode's id.
    pub id: u64,
    /// Parent directory's id (the root is its own parent).
    pub parent: u64,
    /// Name in the parent.
    pub name: String,
    /// Kind and kind-specific data.
    pub kind: Kind,
    /// Owning user; `None` for the system.
    pub owner: Option<Uuid>,
    /// Permission bits ([`FilePermissions::bits`]).
    pub perms: u8,
    /// Creation time, ns since the epoch.
    pub created_ns: u64,
    /// Last modification.
    pub modified_ns: u64,
    /// Last read.
    pub accessed_ns: u64,
    /// Content size in bytes (files), target length (symlinks), 0 (directories).
    pub size: u64,
    /// Encryption of the content, when encrypted under a client key.
    pub enc: Option<EncInfo>,
    /// SHA-256 of the content (plain files) or of the sealed pieces (encrypted files).
    pub sha256: [u8; 32],
}

impl Inode {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir { .. })
    }

    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        matches!(self.kind, Kind::Symlink { .. })
    }

    /// The permission bits.
    pub fn permissions(&self) -> FilePermissions {
        FilePermissions::from_bits(self.perms)
    }

    /// Bytes this entry contributes to usage: content size for files, subtree for directories.
    pub fn usage_bytes(&self) -> u64 {
        match self.kind {
            Kind::File { .. } => self.size,
            Kind::Dir { tree_bytes, .. } => tree_bytes,
            Kind::Symlink { .. } => 0,
        }
    }

    /// Entries this entry accounts for: itself plus its subtree.
    pub fn usage_entries(&self) -> u64 {
        match self.kind {
            Kind::Dir { tree_entries, .. } => tree_entries + 1,
            _ => 1,
        }
    }
}

/// The on-store key schema, in one place: every key prefix of the userspace database, the
/// builders of its keys, and the fixed keys and prefixes of the kernel database.
pub mod keys {
    use super::*;

    /// Userspace database: prefix of inode records (`I` ‖ inode id).
    pub const INODE: u8 = b'I';
    /// Userspace database: prefix of directory entries (`D` ‖ parent id ‖ name).
    pub const DIRENT: u8 = b'D';
    /// Userspace database: prefix of content pieces (`C` ‖ content id ‖ piece index).
    pub const CONTENT: u8 = b'C';
    /// Userspace database: prefix of garbage records (`G` ‖ content id → first piece to drop).
    pub const GARBAGE: u8 = b'G';
    /// Userspace database: prefix of staging records of open handles (`S` ‖ content id).
    pub const STAGING: u8 = b'S';
    /// Userspace database: prefix of quota limits (`Q` ‖ user uuid).
    pub const QUOTA: u8 = b'Q';
    /// Userspace database: prefix of detached subtrees (`R` ‖ root inode id), which a
    /// recursive removal has unlinked from the tree and the reaper deletes.
    pub const DETACHED: u8 = b'R';

    /// Key of an inode.
    pub fn inode(id: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(9);
        k.push(INODE);
        k.extend_from_slice(&id.to_be_bytes());
        k
    }

    /// Prefix of a directory's entries.
    pub fn dir_prefix(parent: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(9);
        k.push(DIRENT);
        k.extend_from_slice(&parent.to_be_bytes());
        k
    }

    /// Key of a directory entry.
    pub fn dirent(parent: u64, name: &str) -> Vec<u8> {
        let mut k = dir_prefix(parent);
        k.extend_from_slice(name.as_bytes());
        k
    }

    /// Prefix of a content object's pieces.
    pub fn content_prefix(content: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(13);
        k.push(CONTENT);
        k.extend_from_slice(&content.to_be_bytes());
        k
    }

    /// Key of one piece.
    pub fn piece(content: u64, index: u32) -> Vec<u8> {
        let mut k = content_prefix(content);
        k.extend_from_slice(&index.to_be_bytes());
        k
    }

    /// Key of a garbage record.
    pub fn garbage(content: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(9);
        k.push(GARBAGE);
        k.extend_from_slice(&content.to_be_bytes());
        k
    }

    /// Key of a staging record.
    pub fn staging(content: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(9);
        k.push(STAGING);
        k.extend_from_slice(&content.to_be_bytes());
        k
    }

    /// Key of a detached-subtree record.
    pub fn detached(root: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(9);
        k.push(DETACHED);
        k.extend_from_slice(&root.to_be_bytes());
        k
    }

    /// Key of a user's quota limit.
    pub fn quota(user: &Uuid) -> Vec<u8> {
        let mut k = Vec::with_capacity(17);
        k.push(QUOTA);
        k.extend_from_slice(user.as_bytes());
        k
    }

    /// Key of the id counter.
    pub const NEXT_ID: &[u8] = b"Mnext";
    /// Userspace database: key of the schema version (u32, big-endian).
    pub const SCHEMA: &[u8] = b"Mschema";
    /// Userspace database: the number of the last operation on both databases whose userspace
    /// part landed (BE64; [`crate::crossdb`]).
    pub const CROSS_DB_DONE: &[u8] = b"Mxdb";
    /// Kernel database: the undo record of the last operation on both databases
    /// ([`crate::crossdb`]).
    pub const CROSS_DB_UNDO: &[u8] = b"xdb/undo";

    /// Kernel database: boot count.
    pub const BOOT_COUNT: &[u8] = b"sys/boot_count";
    /// Kernel database: machine id.
    pub const MACHINE_ID: &[u8] = b"sys/machine_id";
    /// Kernel database: creation time of the filesystem.
    pub const CREATED_AT: &[u8] = b"sys/created_at";
    /// Kernel database: the VFS service record.
    pub const SERVICE_VFS: &[u8] = b"svc/vfs";
    /// Kernel database: last audit sequence number.
    pub const AUDIT_SEQ: &[u8] = b"audit/seq";
    /// Kernel database: prefix of audit entries.
    pub const AUDIT_PREFIX: &[u8] = b"audit/e/";
    /// Kernel database: prefix of registered users.
    pub const USER_PREFIX: &[u8] = b"users/";

    /// Kernel database: one audit entry.
    pub fn audit(seq: u64) -> Vec<u8> {
        let mut k = AUDIT_PREFIX.to_vec();
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// Kernel database: one registered user.
    pub fn user(user: &Uuid) -> Vec<u8> {
        let mut k = USER_PREFIX.to_vec();
        k.extend_from_slice(user.as_bytes());
        k
    }
}

/// Reads a big-endian u64 from a stored value.
pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Reads a big-endian u32 from a stored value.
pub fn be_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inode of FORMAT.md's worked example.
    fn example() -> Inode {
        Inode {
            id: 300,
            parent: 1,
            name: String::from("a"),
            kind: Kind::File { content: 5 },
            owner: None,
            perms: 0x0b,
            created_ns: 1,
            modified_ns: 2,
            accessed_ns: 3,
            size: 4,
            enc: None,
            sha256: [0xAA; 32],
        }
    }

    /// FORMAT.md's worked examples, byte for byte: a second reader can rely on them.
    #[test]
    fn records_encode_as_format_md_says() {
        let mut expect = alloc::vec![
            0xac, 0x02, 0x01, 0x01, b'a', 0x00, 0x05, 0x00, 0x0b, 0x01, 0x02, 0x03, 0x04, 0x00,
        ];
        expect.extend_from_slice(&[0xAA; 32]);
        let bytes = postcard::to_allocvec(&example()).unwrap();
        assert_eq!(bytes, expect);
        assert_eq!(postcard::from_bytes::<Inode>(&bytes).unwrap(), example());

        let mut e = example();
        e.owner = Some(Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10));
        e.kind = Kind::Dir {
            tree_bytes: 200,
            tree_entries: 2,
        };
        e.enc = Some(EncInfo {
            salt: [0x11; 16],
            bound_path: String::from("/x"),
            check: [0x22; 16],
        });
        let mut expect = alloc::vec![
            0xac, 0x02, 0x01, 0x01, b'a', 0x01, 0xc8, 0x01, 0x02, 0x01, 0x10
        ];
        expect.extend(1u8..=16);
        expect.extend_from_slice(&[0x0b, 0x01, 0x02, 0x03, 0x04, 0x01]);
        expect.extend_from_slice(&[0x11; 16]);
        expect.extend_from_slice(&[0x02, b'/', b'x']);
        expect.extend_from_slice(&[0x22; 16]);
        expect.extend_from_slice(&[0xAA; 32]);
        assert_eq!(postcard::to_allocvec(&e).unwrap(), expect);

        e.kind = Kind::Symlink {
            target: String::from("b"),
        };
        let bytes = postcard::to_allocvec(&e).unwrap();
        assert_eq!(bytes[5..8], [0x02, 0x01, b'b']);
    }

    #[test]
    fn keys_are_as_format_md_says() {
        assert_eq!(keys::inode(1), b"I\0\0\0\0\0\0\0\x01");
        assert_eq!(keys::dirent(1, "tmp"), b"D\0\0\0\0\0\0\0\x01tmp");
        assert_eq!(keys::piece(7, 2), b"C\0\0\0\0\0\0\0\x07\0\0\0\x02");
        assert_eq!(keys::garbage(7), b"G\0\0\0\0\0\0\0\x07");
        assert_eq!(keys::staging(7), b"S\0\0\0\0\0\0\0\x07");
        assert_eq!(keys::detached(7), b"R\0\0\0\0\0\0\0\x07");
        let u = Uuid::from_u128(1);
        assert_eq!(keys::quota(&u)[0], b'Q');
        assert_eq!(keys::quota(&u).len(), 17);
        assert_eq!(keys::audit(3), b"audit/e/\0\0\0\0\0\0\0\x03");
        assert_eq!(keys::user(&u).len(), 6 + 16);
    }
}
