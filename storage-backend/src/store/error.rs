//! Typed errors of the store. Integrity failures are reported precisely, never folded into I/O.

use crate::block::DeviceError;
use crate::crypto::CryptoError;

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Db {
    /// `zos-kernel`: kernel and system state.
    Kernel,
    /// `zos-userspace`: the filesystem of the VFS service.
    Userspace,
}

impl Db {
    /// Both databases, in region order.
    pub const ALL: [Db; 2] = [Db::Kernel, Db::Userspace];

    /// Index 0 or 1.
    pub fn index(self) -> usize {
        match self {
            Db::Kernel => 0,
            Db::Userspace => 1,
        }
    }

    /// The region name written in its metadata.
    pub fn name(self) -> &'static str {
        match self {
            Db::Kernel => "zos-kernel",
            Db::Userspace => "zos-userspace",
        }
    }
}

/// What kind of integrity failure was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegrityKind {
    /// The region header (magic, version, checksum) is not valid.
    RegionHeader,
    /// The sealed region metadata did not authenticate: wrong key or tampered metadata.
    RegionMetadata,
    /// A segment header is malformed or does not authenticate.
    SegmentHeader,
    /// A chunk failed its CRC or is malformed.
    Chunk,
    /// A sealed chunk did not authenticate (wrong key or modified bytes).
    Auth,
    /// A decrypted record is malformed.
    Record,
    /// The chain of segments or the per-transaction hash chain is broken.
    Chain,
    /// Authentic data follows the end of a segment's log: not a torn write, a corruption.
    DataAfterEnd,
    /// No complete checkpoint was found, or a checkpoint is inconsistent.
    Checkpoint,
    /// The index references a segment that holds no valid data.
    Dangling,
    /// A record read for a key holds another key.
    KeyMismatch,
    /// Live-byte or usage accounting does not match the index.
    Accounting,
    /// The footer (clean-sync marker) does not match the log.
    Footer,
    /// The anchor ring is inconsistent (generations out of order, or exhausted).
    Anchor,
}

/// An integrity failure with its location (region-relative segment and byte offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntegrityError {
    /// What failed.
    pub kind: IntegrityKind,
    /// Physical segment number inside the region, if known.
    pub segment: Option<u32>,
    /// Byte offset inside the segment, if known.
    pub offset: Option<u32>,
}

/// The limit that a transaction would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// Number of objects (keys).
    Objects,
    /// Logical bytes (keys plus values).
    Bytes,
}

/// Errors of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The device failed.
    Device(DeviceError),
    /// The crypto engine failed outside of authentication (bad handle, derivation).
    Crypto(CryptoError),
    /// The region is full; the committed state is intact and the store stays mountable.
    NoSpace,
    /// A resource limit of the database would be exceeded; nothing was written.
    ResourceLimitExceeded(LimitKind),
    /// The medium is corrupt or was tampered with (or the key is wrong).
    Integrity(IntegrityError),
    /// The device holds no store (no region header magic).
    NotFormatted,
    /// The device or options do not allow a store (too small, bad geometry).
    BadGeometry,
    /// A key or value is too long, or an argument is otherwise invalid.
    InvalidArgument,
    /// The database did not mount; [`crate::Store::mount_error`] tells why.
    Unavailable(Db),
    /// An earlier error left this transaction unusable; drop it.
    TxnPoisoned,
    /// A device error during a write left this database's in-RAM state unsure; it refuses
    /// further writes until it is mounted again (reads keep working).
    Halted,
}

impl StoreError {
    /// An integrity error without location.
    pub(crate) fn integrity(kind: IntegrityKind) -> Self {
        StoreError::Integrity(IntegrityError {
            kind,
            segment: None,
            offset: None,
        })
    }

    /// An integrity error at a segment and offset.
    pub(crate) fn integrity_at(kind: IntegrityKind, segment: u32, offset: usize) -> Self {
        StoreError::Integrity(IntegrityError {
            kind,
            segment: Some(segment),
            offset: u32::try_from(offset).ok(),
        })
    }
}

impl From<DeviceError> for StoreError {
    fn from(e: DeviceError) -> Self {
        StoreError::Device(e)
    }
}

/// Result of the store.
pub type Result<T> = core::result::Result<T, StoreError>;
