//! Message tags. Requests are even; the response to a request is request + 1.
//!
//! 0x8000-0x8033 are the Zero OS filesystem document's messages; the extras live in the unused
//! parts of 0x80xx and the streaming file API on handles in 0x8040-0x805F.

/// A tag as carried in a message.
pub type RawTag = u32;

/// mkdir (optionally recursive, optionally with permissions).
pub const MKDIR: RawTag = 0x8000;
/// rmdir (optionally recursive).
pub const RMDIR: RawTag = 0x8002;
/// One page of a directory listing.
pub const READDIR: RawTag = 0x8004;
/// Handshake: protocol version and limits.
pub const HELLO: RawTag = 0x8006;
/// Replace a whole (small) file.
pub const WRITE: RawTag = 0x8010;
/// Read a range of a file.
pub const READ: RawTag = 0x8012;
/// Remove a file or symlink.
pub const UNLINK: RawTag = 0x8014;
/// Atomic rename of a file, symlink or directory.
pub const RENAME: RawTag = 0x8016;
/// Copy a file.
pub const COPY: RawTag = 0x8018;
/// Create a symlink.
pub const SYMLINK: RawTag = 0x801A;
/// Read a symlink's target.
pub const READLINK: RawTag = 0x801C;
/// Canonicalise a path, following symlinks.
pub const RESOLVE_PATH: RawTag = 0x801E;
/// Metadata of an entry.
pub const STAT: RawTag = 0x8020;
/// Whether an entry exists.
pub const EXISTS: RawTag = 0x8022;
/// Change permissions (owner or system).
pub const CHMOD: RawTag = 0x8024;
/// Change owner (system only).
pub const CHOWN: RawTag = 0x8026;
/// Usage of a subtree.
pub const GET_USAGE: RawTag = 0x8030;
/// A user's quota.
pub const GET_QUOTA: RawTag = 0x8032;
/// Set a user's quota limit (system only).
pub const SET_QUOTA: RawTag = 0x8034;
/// Create a user's home directory with the canonical layout (system only).
pub const CREATE_HOME: RawTag = 0x8036;
/// Read a page of the audit log in the kernel database (System class only).
pub const AUDIT_LOG: RawTag = 0x8038;
/// Open a handle on a file.
pub const OPEN: RawTag = 0x8040;
/// Read from a handle at its position.
pub const HANDLE_READ: RawTag = 0x8042;
/// Write to a handle at its position.
pub const HANDLE_WRITE: RawTag = 0x8044;
/// Move a handle's position.
pub const SEEK: RawTag = 0x8046;
/// Set the size of the file behind a handle.
pub const TRUNCATE: RawTag = 0x8048;
/// Commit a handle's writes atomically.
pub const FLUSH: RawTag = 0x804A;
/// Commit and release a handle.
pub const CLOSE: RawTag = 0x804C;
/// Metadata of the file behind a handle, including uncommitted size.
pub const HANDLE_STAT: RawTag = 0x804E;
/// Release a handle without committing its writes.
pub const DISCARD: RawTag = 0x8050;
/// Reply to a request that could not be decoded (odd: it is a response).
pub const PROTOCOL_ERROR: RawTag = 0x80FF;

/// Every request tag, for tests and tools.
pub const ALL_REQUESTS: &[RawTag] = &[
    MKDIR,
    RMDIR,
    READDIR,
    HELLO,
    WRITE,
    READ,
    UNLINK,
    RENAME,
    COPY,
    SYMLINK,
    READLINK,
    RESOLVE_PATH,
    STAT,
    EXISTS,
    CHMOD,
    CHOWN,
    GET_USAGE,
    GET_QUOTA,
    SET_QUOTA,
    CREATE_HOME,
    AUDIT_LOG,
    OPEN,
    HANDLE_READ,
    HANDLE_WRITE,
    SEEK,
    TRUNCATE,
    FLUSH,
    CLOSE,
    HANDLE_STAT,
    DISCARD,
];

/// The response tag of a request tag.
pub const fn response(request: RawTag) -> RawTag {
    request + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_even_distinct_and_in_the_vfs_range() {
        for (i, t) in ALL_REQUESTS.iter().enumerate() {
            assert_eq!(t % 2, 0);
            assert!((0x8000..=0x80FF).contains(t));
            assert!(!ALL_REQUESTS[i + 1..].contains(t));
        }
        assert_eq!(response(STAT), 0x8021);
        assert_eq!(response(GET_QUOTA), 0x8033);
        for t in [
            OPEN,
            HANDLE_READ,
            HANDLE_WRITE,
            SEEK,
            TRUNCATE,
            FLUSH,
            CLOSE,
            HANDLE_STAT,
            DISCARD,
        ] {
            assert!((0x8040..=0x805F).contains(&t));
        }
    }
}
