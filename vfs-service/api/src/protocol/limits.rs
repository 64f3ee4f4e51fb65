//! The protocol's fixed limits, also reported by [`super::tags::HELLO`].

/// The protocol version this crate speaks.
///
/// 2: `Handle::generation` is a `u64` (it was a `u32` whose 16-bit use count wrapped). A HELLO
/// naming another version is refused with [`crate::error::VfsError::UnsupportedSchema`].
pub const PROTOCOL_VERSION: u16 = 2;
/// Largest payload of any message, either direction: the kernel's limit.
pub use kernel_abi::MAX_PAYLOAD;
/// Largest data carried by one read or write message (leaves room for the envelope).
pub const MAX_IO: usize = 3968;
/// Longest path in bytes.
pub const MAX_PATH: usize = 1024;
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
