//! One database region: a container header, sealed metadata, and a log of segments.
//!
//! The region keeps in RAM: the index (key → [`Loc`]), a small table per segment, the state of
//! the segment being written (at most one partial block), and the open transaction's pending
//! keys. Whole values are held only while one is read or written, and in the bounded cache of
//! authenticated values (`cache`, at most its capacity in bytes; 0 disables it).
//!
//! Split by job: `layout` (addresses), `segment` (segment headers, append, roll), `mount`
//! (checkpoint + log-tail replay), `txn` (transactions and commit), `clean` (segment cleaning,
//! wear spreading, checkpoints), `read` (lookups, scans, integrity check), `cache` (values of
//! recent reads).

mod cache;
mod clean;
pub mod index;
pub mod mount;
mod read;
pub(crate) mod segment;
pub mod txn;

use alloc::vec::Vec;

use sha2::Sha256;

use crate::block::{BlockDevice, DeviceError};
use crate::container::Metadata;
use crate::crypto::{CryptoEngine, KeyHandle};

use super::error::{Db, Result, StoreError};
use super::record::Loc;

pub use cache::{CacheStats, ENTRY_OVERHEAD};
pub use read::CheckReport;

/// Default capacity of the value cache of the kernel database, in bytes.
pub const DEFAULT_KERNEL_CACHE_BYTES: usize = 64 * 1024;
/// Default capacity of the value cache of the userspace database (the VFS's), in bytes.
pub const DEFAULT_USERSPACE_CACHE_BYTES: usize = 192 * 1024;

/// The device and the crypto engine, borrowed together for one operation.
pub struct Io<'a, D, E> {
    /// The device.
    pub dev: &'a mut D,
    /// The engine.
    pub eng: &'a mut E,
}

/// Resource limits of one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of objects (keys).
    pub max_objects: u64,
    /// Maximum logical bytes (sum of key and value lengths).
    pub max_bytes: u64,
}

impl Limits {
    /// No limit beyond the device.
    pub const UNLIMITED: Limits = Limits {
        max_objects: u64::MAX,
        max_bytes: u64::MAX,
    };
}

/// Usage of one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Live objects.
    pub objects: u64,
    /// Logical bytes of live objects (keys plus values).
    pub bytes: u64,
    /// The limits.
    pub limits: Limits,
    /// Bytes of log space in the region (all segments).
    pub device_bytes_total: u64,
    /// Bytes of chunks holding live records.
    pub device_bytes_live: u64,
    /// Bytes immediately writable: free segments plus the rest of the current one.
    pub device_bytes_free: u64,
    /// Segments in the region.
    pub segments_total: u32,
    /// Segments free for writing.
    pub segments_free: u32,
}

/// Per-segment state.
#[derive(Clone, Copy, Debug, Default)]
struct SegState {
    /// Sequence number if the header is valid.
    seq: Option<u64>,
    /// Erases so far (from headers and checkpoints; approximate after a crash).
    erase_count: u32,
    /// Bytes of chunks holding records the index references.
    live: u64,
    /// Header fields needed to follow the chain.
    prev_seq: u64,
    prev_seg: u32,
    prev_len: u32,
    /// The segment begins with a checkpoint.
    ckpt_start: bool,
}

/// The segment being appended to.
#[derive(Debug)]
struct Head {
    seg: u32,
    seq: u64,
    /// Next byte to append at.
    pos: usize,
    /// Bytes `[tail_start, pos)` not yet on the device (less than a block after each write).
    tail: Vec<u8>,
    tail_start: usize,
}

/// A pending delete in [`OpenTxn::pending`].
const TOMBSTONE: Loc = Loc {
    seg: u32::MAX,
    off: u32::MAX,
    disk_len: 0,
    vlen: 0,
};

/// The open transaction.
struct OpenTxn {
    id: u64,
    /// Keys touched so far; a delete is stored as [`TOMBSTONE`] (same compact layout as the
    /// index: 24 bytes + key per touched key).
    pending: index::Index,
    n: u32,
    tags: Sha256,
    objects_delta: i64,
    bytes_delta: i64,
    key_bytes_delta: i64,
    poisoned: bool,
    /// Medium bytes of the put records this transaction has appended. (A delete record is never
    /// larger than the record it makes dead, so deletes are not charged.)
    written: u64,
    /// Medium bytes of committed or pending records this transaction has made dead (deleted or
    /// replaced keys): what committing it returns to the cleaner.
    freed: u64,
}

impl OpenTxn {
    /// Whether the transaction, after a further put record of `more` bytes that makes `frees`
    /// bytes dead, and with its commit record, still frees at least as much as it writes (a
    /// transaction of deletes only always does): such a
    /// transaction may use one reserved segment, so that a full store can always delete (also
    /// when a delete comes with small rewrites, such as the parent directory a VFS unlink
    /// updates).
    fn shrinks_with(&self, frees: u64, more: u64) -> bool {
        self.written == 0 && more == 0
            || self.written + more + txn::commit_len() as u64 <= self.freed + frees
    }
}

/// Geometry of a region, in device terms.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// First erase unit of the region on the device.
    pub base_unit: u64,
    /// Blocks per erase unit.
    pub unit_blocks: u64,
    /// Bytes per block.
    pub bs: usize,
    /// Erase units of the superblock area.
    pub sb_units: u64,
    /// Erase units per segment.
    pub seg_units: u64,
    /// Segments.
    pub seg_count: u32,
}

impl Layout {
    /// Bytes per segment.
    pub fn seg_bytes(&self) -> usize {
        (self.seg_units * self.unit_blocks) as usize * self.bs
    }
    /// Erase units of the whole region.
    pub fn units(&self) -> u64 {
        self.sb_units + self.seg_units * u64::from(self.seg_count)
    }
    /// First erase unit of segment `seg`.
    fn seg_unit(&self, seg: u32) -> u64 {
        self.base_unit + self.sb_units + u64::from(seg) * self.seg_units
    }
    /// First block of segment `seg`.
    fn seg_block(&self, seg: u32) -> u64 {
        self.seg_unit(seg) * self.unit_blocks
    }
    /// Offset in a segment where the log starts (after the two header blocks).
    fn log_start(&self) -> usize {
        2 * self.bs
    }
    /// Bytes reserved at the end of each segment for the link record: one block (the link
    /// record itself is a 64-byte chunk).
    fn link_reserve(&self) -> usize {
        self.bs
    }
}

/// A mounted region.
pub struct Region {
    /// Which database.
    pub db: Db,
    layout: Layout,
    key: KeyHandle,
    meta: Metadata,
    limits: Limits,
    segs: Vec<SegState>,
    index: index::Index,
    bytes: u64,
    key_bytes: u64,
    ckpt_seq: u64,
    next_seq: u64,
    next_txn: u64,
    chain: [u8; 32],
    head: Option<Head>,
    /// Last segment of the chain and the end of its valid log, when nothing was written since
    /// mount (the next segment records it as its predecessor).
    chain_end: Option<(u32, u64, usize)>,
    txn: Option<OpenTxn>,
    segs_since_ckpt: u32,
    modified_ns: u64,
    synced: bool,
    /// Set while appending a record of a transaction that frees at least as much as it writes
    /// ([`OpenTxn::shrinks_with`]): it may use one reserved segment, so a full store can still
    /// free space.
    shrinking: bool,
    /// A device error hit a write; no more writes until remount.
    halted: bool,
    /// Authenticated values of recent reads (see `cache.rs` for why a hit is always current).
    cache: cache::ValueCache,
    /// Where [`Region::free_at_least`] starts looking: the last free segment it found. Free
    /// segments cluster, so the question every append asks is answered in a few steps
    /// instead of a pass over every segment. Only a hint: any value gives the same answers.
    free_hint: core::cell::Cell<usize>,
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("db", &self.db)
            .field("objects", &self.index.len())
            .field("bytes", &self.bytes)
            .field("ckpt_seq", &self.ckpt_seq)
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

fn dev<T>(r: core::result::Result<T, DeviceError>) -> Result<T> {
    r.map_err(StoreError::Device)
}

impl Region {
    fn empty(db: Db, layout: Layout, key: KeyHandle, meta: Metadata) -> Self {
        let limits = Limits {
            max_objects: meta.max_objects,
            max_bytes: meta.max_bytes,
        };
        Self {
            db,
            layout,
            key,
            modified_ns: meta.modified_ns,
            meta,
            limits,
            segs: alloc::vec![SegState::default(); layout.seg_count as usize],
            index: index::Index::default(),
            bytes: 0,
            key_bytes: 0,
            ckpt_seq: 0,
            next_seq: 1,
            next_txn: 1,
            chain: [0; 32],
            head: None,
            chain_end: None,
            txn: None,
            segs_since_ckpt: 0,
            synced: true,
            shrinking: false,
            halted: false,
            free_hint: core::cell::Cell::new(0),
            cache: cache::ValueCache::new(match db {
                Db::Kernel => DEFAULT_KERNEL_CACHE_BYTES,
                Db::Userspace => DEFAULT_USERSPACE_CACHE_BYTES,
            }),
        }
    }

    /// The region's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The container metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The current master hash (head of the transaction hash chain).
    pub fn master_hash(&self) -> [u8; 32] {
        self.chain
    }

    /// Last modification time known (ns): the newest footer's, or the one set since.
    pub fn modified_ns(&self) -> u64 {
        self.modified_ns
    }

    /// Sets the time stamped into the next footer.
    pub fn set_time(&mut self, ns: u64) {
        self.modified_ns = ns;
    }

    /// Reads whole blocks of segment `seg` covering `[off, off + len)`; returns the bytes and the
    /// segment offset of the first one.
    fn read_span<D: BlockDevice, E>(
        &self,
        io: &mut Io<'_, D, E>,
        seg: u32,
        off: usize,
        len: usize,
    ) -> Result<(Vec<u8>, usize)> {
        let bs = self.layout.bs;
        let seg_bytes = self.layout.seg_bytes();
        let start = off / bs * bs;
        let end = off
            .checked_add(len)
            .map(|e| e.div_ceil(bs) * bs)
            .unwrap_or(usize::MAX);
        if end > seg_bytes || start >= end {
            return Err(StoreError::integrity_at(
                super::error::IntegrityKind::Record,
                seg,
                off,
            ));
        }
        let mut buf = alloc::vec![0u8; end - start];
        dev(io
            .dev
            .read(self.layout.seg_block(seg) + (start / bs) as u64, &mut buf))?;
        Ok((buf, start))
    }

    fn is_free(&self, i: usize) -> bool {
        if self.head.as_ref().is_some_and(|h| h.seg as usize == i) {
            return false;
        }
        if let Some((seg, _, _)) = self.chain_end
            && seg as usize == i
        {
            return false;
        }
        let s = &self.segs[i];
        match s.seq {
            None => true,
            Some(q) => q < self.ckpt_seq && s.live == 0,
        }
    }

    fn free_count(&self) -> u32 {
        (0..self.segs.len()).filter(|&i| self.is_free(i)).count() as u32
    }

    /// Whether at least `n` segments are free: `free_count() >= n`, looking from the last free
    /// segment found and stopping at the `n`th, so it costs a few steps while segments are
    /// free and a full pass only when fewer than `n` are.
    fn free_at_least(&self, n: u32) -> bool {
        let len = self.segs.len();
        if n == 0 {
            return true;
        }
        let start = self.free_hint.get() % len.max(1);
        let mut found = 0;
        for k in 0..len {
            let i = (start + k) % len;
            if self.is_free(i) {
                if found == 0 {
                    self.free_hint.set(i);
                }
                found += 1;
                if found >= n {
                    return true;
                }
            }
        }
        false
    }

    /// Usable log bytes per segment.
    fn seg_capacity(&self) -> usize {
        self.layout.seg_bytes() - self.layout.log_start() - self.layout.link_reserve()
    }

    /// Segments kept free so a checkpoint and one cleaning pass can always run.
    fn reserve(&self) -> u32 {
        self.ckpt_segments() + 1
    }

    /// Usage figures.
    pub fn usage(&self) -> Usage {
        let free = self.free_count();
        let head_room = self
            .head
            .as_ref()
            .map(|h| {
                self.layout
                    .seg_bytes()
                    .saturating_sub(h.pos + self.layout.link_reserve())
            })
            .unwrap_or(0);
        Usage {
            objects: self.index.len() as u64,
            bytes: self.bytes,
            limits: self.limits,
            device_bytes_total: self.layout.seg_bytes() as u64 * u64::from(self.layout.seg_count),
            device_bytes_live: self.segs.iter().map(|s| s.live).sum(),
            device_bytes_free: u64::from(free) * self.seg_capacity() as u64 + head_room as u64,
            segments_total: self.layout.seg_count,
            segments_free: free,
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Fails with `Halted` once a device error hit a write.
    pub fn writable(&self) -> Result<()> {
        if self.halted {
            Err(StoreError::Halted)
        } else {
            Ok(())
        }
    }

    /// Passes `r` through; a device error stops all later writes (the in-RAM state may no longer
    /// match the medium, and writing on could break the segment chain).
    pub fn guard<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(StoreError::Device(_)) = r {
            self.halted = true;
            self.txn = None;
        }
        r
    }

    /// Whether a transaction is open.
    pub fn in_txn(&self) -> bool {
        self.txn.is_some()
    }

    /// Sets the capacity of the value cache in bytes (0 disables it and frees its RAM).
    pub fn set_cache_bytes(&mut self, bytes: usize) {
        self.cache.set_capacity(bytes);
    }

    /// Counters of the value cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Number of erases of each segment (for wear tests and benchmarks).
    pub fn erase_counts(&self) -> Vec<u32> {
        self.segs.iter().map(|s| s.erase_count).collect()
    }
}

/// Derives the region's data key from the caller's key for this database.
fn region_key<E: CryptoEngine>(
    eng: &mut E,
    master: KeyHandle,
    db: Db,
    uuid: &[u8; 16],
) -> Result<KeyHandle> {
    derive_region_key(eng, master, b"zos-store/v1/", db, uuid)
}

/// HKDF-SHA256 of `master` with the container UUID as salt and `<engine prefix><db name>` as
/// info: each engine version and each database gets a key of its own from one master key.
pub(crate) fn derive_region_key<E: CryptoEngine>(
    eng: &mut E,
    master: KeyHandle,
    prefix: &[u8],
    db: Db,
    uuid: &[u8; 16],
) -> Result<KeyHandle> {
    let mut info = Vec::new();
    info.extend_from_slice(prefix);
    info.extend_from_slice(db.name().as_bytes());
    eng.derive_key(master, uuid, &info)
        .map_err(StoreError::Crypto)
}
