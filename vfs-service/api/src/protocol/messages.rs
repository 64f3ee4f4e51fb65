//! Request and response payload types. Each request type names its tag in its documentation;
//! the response type of a request is the one its handler returns (see `PROTOCOL.md`).

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::permissions::FilePermissions;

use super::limits::{AUDIT_KEEP_HEAD, AUDIT_KEEP_TAIL, AUDIT_TRUNCATION_MARKER, MAX_AUDIT_ACTION};

/// A caller-supplied 256-bit file key.
pub type FileKey = [u8; 32];

/// [`super::tags::HELLO`]: the client's protocol version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloRequest {
    /// The version the client speaks.
    pub version: u16,
}

/// The service's version and limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloResponse {
    /// The version the service speaks.
    pub version: u16,
    /// Largest message payload.
    pub max_payload: u32,
    /// Largest data in one read or write message.
    pub max_io: u32,
    /// Longest path.
    pub max_path: u32,
    /// Longest name.
    pub max_name: u32,
    /// Handles per task.
    pub max_handles: u32,
    /// Symlink resolution depth.
    pub symlink_depth: u32,
    /// Deepest a tree may grow (entries below `/`, RENAME included): deeper is `InvalidPath`.
    pub max_depth: u32,
}

/// [`super::tags::MKDIR`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MkdirRequest {
    /// Directory to create.
    pub path: String,
    /// Create missing parents too (`mkdir -p`); an existing directory is then not an error.
    pub recursive: bool,
    /// Permissions of the new directories; the creator's default when absent.
    pub permissions: Option<FilePermissions>,
}

/// [`super::tags::RMDIR`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmdirRequest {
    /// Directory to remove.
    pub path: String,
    /// Remove everything below it too.
    pub recursive: bool,
}

/// [`super::tags::READDIR`]: one page of entries after `cursor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaddirRequest {
    /// Directory to list.
    pub path: String,
    /// The `next` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// The entry's name.
    pub name: String,
    /// The entry's full canonical path.
    pub path: String,
    /// Whether it is a directory.
    pub is_directory: bool,
    /// Whether it is a symlink.
    pub is_symlink: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last modification, nanoseconds since the epoch.
    pub modified_ns: u64,
}

/// A page of a listing, in name order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaddirResponse {
    /// The entries of this page.
    pub entries: Vec<DirEntry>,
    /// Cursor for the next page; `None` when this was the last.
    pub next: Option<String>,
}

/// [`super::tags::WRITE`]: replace a whole file (creating it if needed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRequest {
    /// File to write.
    pub path: String,
    /// The new content (at most [`super::limits::MAX_IO`] bytes; larger files use handles).
    #[serde(with = "super::bytes")]
    pub data: Vec<u8>,
    /// Encrypt under HKDF-SHA256(key, path).
    pub key: Option<FileKey>,
    /// Permissions if the file is created; the creator's default when absent.
    pub permissions: Option<FilePermissions>,
}

/// [`super::tags::READ`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// File to read.
    pub path: String,
    /// First byte.
    pub offset: u64,
    /// Bytes wanted; the rest of the file (capped at [`super::limits::MAX_IO`]) when absent.
    pub length: Option<u32>,
    /// Key of an encrypted file.
    pub key: Option<FileKey>,
}

/// A piece of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// The bytes read (empty at or past the end).
    #[serde(with = "super::bytes")]
    pub data: Vec<u8>,
    /// The file's total size.
    pub size: u64,
    /// The file's content hash as the server stores it (maintained when the content is
    /// written, not recomputed for the read; see STAT's `sha256` for what it covers). Two reads
    /// that report the same hash read the same content version, so a client that assembles a
    /// file from ranged reads compares these instead of hashing what it received.
    pub sha256: [u8; 32],
}

/// [`super::tags::UNLINK`], [`super::tags::EXISTS`], [`super::tags::READLINK`],
/// [`super::tags::RESOLVE_PATH`], [`super::tags::GET_USAGE`]: a request naming one path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRequest {
    /// The path.
    pub path: String,
}

/// [`super::tags::RENAME`], [`super::tags::COPY`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromToRequest {
    /// Source.
    pub from: String,
    /// Destination (must not exist).
    pub to: String,
}

/// [`super::tags::SYMLINK`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymlinkRequest {
    /// What the link points at (absolute, or relative to the link's directory).
    pub target: String,
    /// Where the link is created.
    pub link: String,
}

/// [`super::tags::STAT`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatRequest {
    /// The path.
    pub path: String,
    /// Describe the symlink's target instead of the symlink.
    pub follow_symlinks: bool,
}

/// The kind of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symlink and its target.
    Symlink(String),
}

/// Metadata of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Canonical path.
    pub path: String,
    /// Name (empty for the root).
    pub name: String,
    /// Kind.
    pub kind: FileKind,
    /// Owning user, `None` for the system.
    pub owner: Option<Uuid>,
    /// Permission bits.
    pub permissions: FilePermissions,
    /// Creation, nanoseconds since the epoch.
    pub created_ns: u64,
    /// Last modification.
    pub modified_ns: u64,
    /// Last access through a read.
    pub accessed_ns: u64,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Content encrypted under a client key.
    pub encrypted: bool,
    /// SHA-256 of the stored content (files only).
    pub sha256: Option<[u8; 32]>,
    /// The inode number.
    pub inode: u64,
}

/// [`super::tags::CHMOD`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChmodRequest {
    /// The path.
    pub path: String,
    /// New permissions.
    pub permissions: FilePermissions,
}

/// [`super::tags::CHOWN`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChownRequest {
    /// The path.
    pub path: String,
    /// New owner, `None` for the system.
    pub owner: Option<Uuid>,
}

/// Usage of a subtree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes of file content.
    pub bytes: u64,
    /// Files, directories and symlinks below (not counting the root of the subtree).
    pub entries: u64,
}

/// [`super::tags::GET_QUOTA`], [`super::tags::CREATE_HOME`]: a request naming a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRequest {
    /// The user.
    pub user: Uuid,
}

/// A user's quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// The user.
    pub user: Uuid,
    /// Hard limit in bytes.
    pub limit: u64,
    /// Soft limit in bytes (80 % of the hard limit).
    pub soft_limit: u64,
    /// Bytes used under `/home/{user}`.
    pub used: u64,
    /// Whether usage is over the soft limit.
    pub over_soft_limit: bool,
}

/// [`super::tags::SET_QUOTA`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetQuotaRequest {
    /// The user.
    pub user: Uuid,
    /// New hard limit in bytes.
    pub limit: u64,
}

/// [`super::tags::AUDIT_LOG`]: entries with sequence numbers greater than `after`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRequest {
    /// The last sequence number already seen (0 for the start).
    pub after: u64,
}

/// One administrative operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Wall clock, nanoseconds since the epoch.
    pub time_ns: u64,
    /// The caller's task (raw form).
    pub task: u32,
    /// The caller's user.
    pub user: Option<Uuid>,
    /// What happened, e.g. `chown /home/x/a -> <uuid>`.
    pub action: String,
}

/// `action` bounded to [`MAX_AUDIT_ACTION`] bytes, so that an entry always fits an AUDIT_LOG
/// page. An action that fits is returned unchanged. A longer one becomes its longest prefix of
/// at most [`AUDIT_KEEP_HEAD`] bytes, then [`AUDIT_TRUNCATION_MARKER`], then its longest suffix
/// of at most [`AUDIT_KEEP_TAIL`] bytes, both cut on UTF-8 character boundaries: so the
/// result is between `MAX_AUDIT_ACTION - 6` and `MAX_AUDIT_ACTION` bytes long. The server
/// applies it when it writes an entry and again when it reads one back (entries written by
/// older versions were unbounded).
pub fn bound_audit_action(action: &str) -> Cow<'_, str> {
    if action.len() <= MAX_AUDIT_ACTION {
        return Cow::Borrowed(action);
    }
    let mut head = AUDIT_KEEP_HEAD;
    while !action.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = action.len() - AUDIT_KEEP_TAIL;
    while !action.is_char_boundary(tail) {
        tail += 1;
    }
    let mut out = String::with_capacity(MAX_AUDIT_ACTION);
    out.push_str(action.get(..head).unwrap_or_default());
    out.push_str(AUDIT_TRUNCATION_MARKER);
    out.push_str(action.get(tail..).unwrap_or_default());
    Cow::Owned(out)
}

/// A page of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Whether more follow.
    pub more: bool,
}

/// How a handle is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFlags {
    /// Allow reads.
    pub read: bool,
    /// Allow writes.
    pub write: bool,
    /// Create the file if it does not exist.
    pub create: bool,
    /// Fail if the file exists (with `create`).
    pub exclusive: bool,
    /// Start from an empty file.
    pub truncate: bool,
    /// Every write goes to the end of the file.
    pub append: bool,
    /// FLUSH and CLOSE replace the file even if another writer changed it since this handle
    /// opened it (last writer wins). Without it such a commit fails with
    /// [`crate::VfsError::Conflict`]; an append handle's appends are added to the file's new
    /// end instead, with or without it.
    pub overwrite: bool,
}

/// [`super::tags::OPEN`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// The file.
    pub path: String,
    /// Access and creation flags.
    pub flags: OpenFlags,
    /// Key of an encrypted file (or of the file to create encrypted).
    pub key: Option<FileKey>,
    /// Permissions if the file is created.
    pub permissions: Option<FilePermissions>,
}

/// A handle: a slot in the service's table plus the generation of the slot's current use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Handle {
    /// Slot.
    pub slot: u16,
    /// Generation of the slot when the handle was issued: the boot epoch in the high 16 bits,
    /// the slot's use count in the low 48 (never reused within a boot).
    pub generation: u64,
}

/// The reply to an open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenResponse {
    /// The new handle.
    pub handle: Handle,
    /// The file's size as seen by the handle.
    pub size: u64,
}

/// [`super::tags::HANDLE_READ`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleReadRequest {
    /// The handle.
    pub handle: Handle,
    /// Bytes wanted (at most [`super::limits::MAX_IO`]).
    pub length: u32,
}

/// [`super::tags::HANDLE_READ`]'s response: the bytes read (empty at the end). On the wire
/// exactly a `Vec<u8>` (varint length, then the bytes); a newtype so that it goes as one byte
/// string rather than byte by byte (see [`super::bytes`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleReadResponse(#[serde(with = "super::bytes")] pub Vec<u8>);

/// [`super::tags::HANDLE_WRITE`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleWriteRequest {
    /// The handle.
    pub handle: Handle,
    /// Bytes to write at the position (at most [`super::limits::MAX_IO`]).
    #[serde(with = "super::bytes")]
    pub data: Vec<u8>,
}

/// Where a seek starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeekFrom {
    /// From the start of the file.
    Start(u64),
    /// From the current position.
    Current(i64),
    /// From the end of the file.
    End(i64),
}

/// [`super::tags::SEEK`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeekRequest {
    /// The handle.
    pub handle: Handle,
    /// Target.
    pub from: SeekFrom,
}

/// [`super::tags::TRUNCATE`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruncateRequest {
    /// The handle.
    pub handle: Handle,
    /// New size (shrinks or zero-extends).
    pub size: u64,
}

/// [`super::tags::FLUSH`], [`super::tags::CLOSE`], [`super::tags::HANDLE_STAT`],
/// [`super::tags::DISCARD`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleRequest {
    /// The handle.
    pub handle: Handle,
}
