//! The protocol's fixed limits, also reported by [`super::tags::HELLO`].

/// The protocol version this crate speaks.
///
/// 2: `Handle::generation` is a `u64` (it was a `u32` whose 16-bit use count wrapped). A HELLO
/// naming another version is refused with [`crate::error::VfsError::UnsupportedSchema`].
///
/// 3: `OpenFlags` has a seventh flag, `overwrite`, and FLUSH/CLOSE can fail with the new
/// [`crate::error::VfsError::Conflict`] (a handle whose file another writer changed).
///
/// 4: READ's response carries the file's content hash as stored (`ReadResponse::sha256`): the
/// server no longer recomputes it on a read, and a client assembling a file from ranged reads
/// compares the hashes instead of hashing the bytes and asking STAT.
///
/// 5: STATFS (capacity, usage, limits, the protecting engine), SYNC (the footer from the
/// running system) and HELLO's `max_depth`.
pub const PROTOCOL_VERSION: u16 = 5;
/// Largest payload of any message, either direction: the kernel's limit.
pub use kernel_abi::MAX_PAYLOAD;
/// Largest data carried by one read or write message (leaves room for the envelope).
pub const MAX_IO: usize = 3968;
/// Longest path in bytes.
pub const MAX_PATH: usize = 1024;
/// Deepest an entry may lie below the root (the root is at depth 0, `/a` at 1): as deep as
/// the longest path can name (`/a` per level). Every operation that creates depth checks it —
/// MKDIR, WRITE, OPEN with create, SYMLINK, COPY (the new entry's depth, also when reached
/// through symlinks) and RENAME (destination depth plus the moved subtree's height) — and
/// refuses with `InvalidPath`.
pub const MAX_DEPTH: usize = MAX_PATH / 2;
/// Longest name (one path component) in bytes: the store's 255-byte key limit minus the
/// 9-byte directory-entry prefix (tag and parent inode id).
pub const MAX_NAME: usize = 246;
/// Symlinks followed while resolving one path.
pub const SYMLINK_DEPTH: u32 = 40;
/// Handles one task may hold at once.
pub const MAX_HANDLES_PER_TASK: usize = 16;
/// Handles the service holds in total.
pub const MAX_HANDLES: usize = 256;
/// Default per-user quota in bytes (100 MiB).
pub const DEFAULT_QUOTA: u64 = 100 * 1024 * 1024;
/// Soft limit as a percentage of the quota.
pub const SOFT_LIMIT_PERCENT: u64 = 80;
/// Size of one stored content piece in bytes: equal to [`MAX_IO`], so that a stream of
/// message-sized writes fills whole pieces and never rewrites one.
pub const PIECE_SIZE: usize = MAX_IO;

/// Most entries in one AUDIT_LOG page.
pub const AUDIT_PAGE_ENTRIES: usize = 32;
/// Bytes of an AUDIT_LOG reply outside its entries: the `Result` byte, the entry count (a
/// one-byte varint, as a page holds at most [`AUDIT_PAGE_ENTRIES`] < 128 entries) and the
/// `more` byte.
pub const AUDIT_PAGE_OVERHEAD: usize = 1 + 1 + 1;
/// Largest encoding of an `AuditEntry` apart from its action's bytes: `seq` and `time_ns`
/// (u64 varints, 10 bytes each), `task` (u32 varint, 5), `user` (`Option<Uuid>`: the `Some`
/// byte, the length byte 16, the 16 bytes) and the action's length (a varint of at most 2
/// bytes, as [`MAX_AUDIT_ACTION`] < 2^14).
pub const AUDIT_ENTRY_FIXED_MAX: usize = 10 + 10 + 5 + (1 + 1 + 16) + 2;
/// Largest encoded `AuditEntry`: one alone always fits an AUDIT_LOG reply.
pub const MAX_AUDIT_ENTRY: usize = MAX_PAYLOAD - AUDIT_PAGE_OVERHEAD;
/// Longest action text of an audit entry, in bytes; longer ones are shortened by
/// [`crate::protocol::messages::bound_audit_action`].
pub const MAX_AUDIT_ACTION: usize = MAX_AUDIT_ENTRY - AUDIT_ENTRY_FIXED_MAX;
/// What stands in for the bytes cut out of an over-long audit action.
pub const AUDIT_TRUNCATION_MARKER: &str = "...[truncated]...";
/// Bytes (at most) kept from the end of an over-long audit action; the rest of
/// [`MAX_AUDIT_ACTION`] after the marker is kept from its start.
pub const AUDIT_KEEP_TAIL: usize = 1024;
/// Bytes (at most) kept from the start of an over-long audit action.
pub const AUDIT_KEEP_HEAD: usize =
    MAX_AUDIT_ACTION - AUDIT_TRUNCATION_MARKER.len() - AUDIT_KEEP_TAIL;

const _: () = assert!(AUDIT_PAGE_ENTRIES < 128);
const _: () = assert!(MAX_AUDIT_ACTION < 1 << 14);
const _: () = assert!(AUDIT_KEEP_HEAD > AUDIT_KEEP_TAIL);
const _: () =
    assert!(AUDIT_PAGE_OVERHEAD + AUDIT_ENTRY_FIXED_MAX + MAX_AUDIT_ACTION <= MAX_PAYLOAD);
