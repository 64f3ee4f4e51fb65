//! The v2 region handle: its state, point reads and ordered prefix scans, and the free-segment
//! queue (refilled from the SIT entries in the tree under rule F).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use sha2::Sha256;

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;
use crate::store::anchor::AnchorRing;
use crate::store::btree::{BTree, BTreeError, Config, Key, PageFormat, Value};
use crate::store::error::{Db, IntegrityKind, Result, StoreError};
use crate::store::record::decode_keyed;

use super::medium::{LogPos, Medium, MediumStats};
use super::sit::{NS_SYSTEM, NS_USER, SitEntry, class, sit_key, tree_key};

/// Longest key.
pub const MAX_KEY: usize = 255;
/// Longest value.
pub const MAX_VALUE: usize = 8 * 1024;

/// Choices made at format (geometry, `D`) and at mount (RAM budget, checkpoint triggers).
#[derive(Clone, Copy, Debug)]
pub struct V2Options {
    /// Erase units per segment.
    pub seg_units: u32,
    /// Erase units of the anchor ring (at least 2).
    pub ring_units: u32,
    /// Page plaintext: 994 (1-KiB pages) or 4066 (4-KiB pages).
    pub page_plain: u32,
    /// `D`: most dirty pages.
    pub max_dirty: u32,
    /// RAM budget of the whole region: the tree (page pool, split scratch, path) gets what
    /// [`V2Options::overhead`] leaves; mount and format fail with `InvalidArgument` below
    /// [`V2Options::min_budget`].
    pub ram_budget: usize,
    /// Container UUID (HKDF salt; a reformat needs a new one).
    pub uuid: [u8; 16],
    /// `T`: journal bytes after which a checkpoint is due.
    pub ckpt_bytes: u64,
    /// `E`: delta-table entries after which a checkpoint is due.
    pub max_deltas: usize,
    /// `B`: most journal bytes of one transaction.
    pub txn_bytes: u64,
}

impl Default for V2Options {
    /// Small test geometry: 1-KiB pages, `D` = 64, 160 KiB in all, `T` = 32 KiB.
    fn default() -> Self {
        V2Options {
            seg_units: 2,
            ring_units: 2,
            page_plain: 994,
            max_dirty: 64,
            ram_budget: 160 * 1024,
            uuid: *b"zos-v2-test-uuid",
            ckpt_bytes: 32 * 1024,
            max_deltas: 32,
            txn_bytes: 256 * 1024,
        }
    }
}

impl V2Options {
    /// Heap the region holds outside its tree, at most: the replay window (mount) and the
    /// buffers of one record read, one record sealed and one CKPT record (the longest record
    /// each), the delta table (`E` entries of a `BTreeMap`, 64 bytes each), the open
    /// transaction's pending keys (as many as the COMMIT page bound lets in, 255-byte keys),
    /// the free queue and the page read buffer, plus allocator slack.
    pub fn overhead(&self) -> usize {
        let window = 16 * 1024 + 512;
        let io = 3 * 8704 + 4096;
        let deltas = self.max_deltas * 64;
        let txn = (self.max_dirty as usize / 6 + 1) * (255 + 96);
        let free = 64 * 8;
        // The reused buffer of the page read fast path (`page_read.rs`): one sealed page.
        let page_io = crate::store::seal::sealed_len(self.page_plain as usize);
        window + io + deltas + txn + free + page_io + 4096
    }
}

/// What mount did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountInfo {
    /// The newest anchor slot did not authenticate and an older one was used.
    pub fell_back: bool,
    /// Anchor slots read.
    pub anchor_reads: u32,
    /// Journal bytes replayed (from the tail start to the end of the log).
    pub tail_bytes: u64,
    /// Transactions replayed.
    pub replayed: u64,
    /// The sequence number the next segment opened will get.
    pub next_seq: u64,
    /// The `seq_limit` of the anchor used.
    pub seq_limit: u64,
}

/// Sequence numbers a checkpoint's anchor reserves ahead (`S`).
pub const SEQ_RESERVE: u64 = 256;

pub(super) type PendingOp = Option<(LogPos, u32, u32)>;

/// The open transaction.
pub(super) struct OpenTxn {
    pub id: u64,
    /// Final change per key: `Some((record, disk_len, vlen))` for a put, `None` for a delete.
    pub pending: BTreeMap<Vec<u8>, PendingOp>,
    pub n: u32,
    pub tags: Sha256,
    pub first: Option<LogPos>,
    pub bytes: u64,
}

/// The newest durable checkpoint.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Durable {
    pub ckpt: LogPos,
    pub tail: LogPos,
    pub hash: [u8; 32],
}

/// A mounted v2 region.
pub struct V2Region<D: BlockDevice, E: CryptoEngine> {
    pub(super) tree: BTree<Medium<D, E>>,
    pub(super) ring: AnchorRing,
    pub(super) db: Db,
    pub(super) opts: V2Options,
    pub(super) chain: [u8; 32],
    pub(super) next_txn: u64,
    /// Newest checkpoint generation used by an anchor or a CKPT record.
    pub(super) generation: u64,
    pub(super) objects: u64,
    pub(super) bytes: u64,
    pub(super) durable: Durable,
    pub(super) txn: Option<OpenTxn>,
    /// Mounted and not written yet: the first write reserves sequence numbers and checkpoints.
    pub(super) fresh: bool,
    pub(super) halted: bool,
    /// Next segment the free-queue refill looks at.
    pub(super) sit_cursor: u32,
    /// A whole refill pass found nothing new since the last checkpoint.
    pub(super) scan_exhausted: bool,
    pub(super) info: MountInfo,
}

pub(super) fn tree_err(e: BTreeError) -> StoreError {
    match e {
        BTreeError::Store(s) => s,
        BTreeError::Corrupt { ptr, .. } => {
            StoreError::integrity_at(IntegrityKind::Record, ptr.seg, ptr.off as usize)
        }
        BTreeError::InvalidArgument | BTreeError::Budget { .. } => StoreError::InvalidArgument,
        _ => StoreError::integrity(IntegrityKind::Checkpoint),
    }
}

impl<D: BlockDevice, E: CryptoEngine> V2Region<D, E> {
    /// The smallest `ram_budget` that mounts with `opts` (its page size and `D`); `None` for a
    /// page size the tree does not support.
    pub fn min_budget(opts: &V2Options) -> Option<usize> {
        let cfg = Config {
            format: PageFormat::new(opts.page_plain as usize)?,
            max_dirty: opts.max_dirty as usize,
            ram_budget: 0,
        };
        Some(opts.overhead() + BTree::<Medium<D, E>>::min_budget(&cfg))
    }

    /// Exchanges the tree's page pool with `other` (the store lends a shared pool to the
    /// region in use).
    pub(crate) fn swap_pool(&mut self, other: &mut crate::store::btree::pool::Pool) {
        self.tree.swap_pool(other);
    }

    /// Which database.
    pub fn db(&self) -> Db {
        self.db
    }

    /// Live objects.
    pub fn objects(&self) -> u64 {
        self.objects
    }

    /// Logical bytes (keys plus values) of live objects.
    pub fn logical_bytes(&self) -> u64 {
        self.bytes
    }

    /// The head of the transaction hash chain (the master hash).
    pub fn master_hash(&self) -> [u8; 32] {
        self.chain
    }

    /// What mount did.
    pub fn mount_info(&self) -> MountInfo {
        self.info
    }

    /// Device work counters of this mount.
    pub fn medium_stats(&self) -> MediumStats {
        self.tree.store().stats
    }

    /// Bytes the tree holds (pool, buffers); never above the budget.
    pub fn tree_ram_bytes(&self) -> usize {
        self.tree.ram_bytes()
    }

    /// Structural changes of the tree since mount (splits, merges, ...).
    pub fn tree_counters(&self) -> crate::store::btree::Counters {
        self.tree.counters()
    }

    /// Segments in the free queue (tests: rule F).
    pub fn free_segments(&self) -> Vec<u32> {
        self.tree.store().free.iter().map(|f| f.0).collect()
    }

    /// Segment of the newest durable checkpoint record, and of the journal head.
    pub fn checkpoint_and_head(&self) -> (u32, Option<u32>) {
        let j = self.tree.store().j.as_ref().map(|h| h.seg);
        (self.durable.ckpt.seg, j)
    }

    /// Segments in the region.
    pub fn segment_count(&self) -> u32 {
        self.tree.store().lay.seg_count
    }

    /// Height of the tree.
    pub fn tree_height(&self) -> usize {
        self.tree.height()
    }

    /// Checkpoint generation of the newest anchor or checkpoint record.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.tree.store().dev
    }

    /// The device, to change (tests).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.tree.store_mut().dev
    }

    /// Gives the device and engine back (unwritten state is dropped, as by a power cut).
    pub fn into_parts(self) -> (D, E) {
        let m = self.tree.into_store();
        (m.dev, m.eng)
    }

    /// Fails with `Halted` once a device error hit a write.
    pub(super) fn writable(&self) -> Result<()> {
        if self.halted {
            Err(StoreError::Halted)
        } else {
            Ok(())
        }
    }

    /// Passes `r` through; any error during a write that may have left the medium and RAM apart
    /// (device, integrity) stops writes until the region is mounted again.
    pub(super) fn guard<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && !matches!(e, StoreError::NoSpace | StoreError::InvalidArgument)
        {
            self.halted = true;
            self.txn = None;
        }
        r
    }

    /// The committed value of `key` (not the open transaction's).
    pub fn get(&mut self, key: &[u8]) -> Result<Option<alloc::vec::Vec<u8>>> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(StoreError::InvalidArgument);
        }
        let v = self.tree.get(Key::new(NS_USER, key)).map_err(tree_err)?;
        match v {
            None => Ok(None),
            Some(v) => self.read_value(key, &v).map(Some),
        }
    }

    /// Reads the value a leaf entry points at, checking the record holds this key.
    pub(super) fn read_value(&mut self, key: &[u8], v: &Value) -> Result<Vec<u8>> {
        let Value::Loc {
            seg,
            off,
            seq,
            disk_len,
            vlen,
        } = *v
        else {
            return Err(StoreError::integrity(IntegrityKind::Record));
        };
        let m = self.tree.store_mut();
        let rec = m.read_at(LogPos { seg, off, seq }, disk_len as usize)?;
        let (_, k, val) = decode_keyed(&rec.plain)?;
        match val {
            Some(val) if k == key && val.len() == vlen as usize => Ok(val.to_vec()),
            _ => Err(StoreError::integrity_at(
                IntegrityKind::KeyMismatch,
                seg,
                off as usize,
            )),
        }
    }

    /// Committed keys starting with `prefix`, in order, after `after` if given, at most `limit`.
    pub fn scan_keys(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .scan_locs(prefix, after, limit)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Committed `(key, value)` pairs starting with `prefix`, as [`Self::scan_keys`].
    pub fn scan(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let locs = self.scan_locs(prefix, after, limit)?;
        let mut out = Vec::with_capacity(locs.len());
        for (k, v) in locs {
            let val = self.read_value(&k, &v)?;
            out.push((k, val));
        }
        Ok(out)
    }

    fn scan_locs(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>> {
        let start = match after {
            Some(a) if a > prefix => a,
            _ => prefix,
        };
        let mut out = Vec::new();
        let mut c = self
            .tree
            .cursor(Key::new(NS_USER, start))
            .map_err(tree_err)?;
        while out.len() < limit {
            let Some(e) = c.next_entry().map_err(tree_err)? else {
                break;
            };
            if e.ns != NS_USER || !e.key().starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| e.key() <= a) {
                continue;
            }
            out.push((e.key().to_vec(), e.value));
        }
        Ok(out)
    }

    /// The state of `seg` in the newest durable checkpoint's SIT (the tree's entries; changes
    /// since are in the delta table).
    pub(super) fn sit_entry(&mut self, seg: u32) -> Result<SitEntry> {
        let k = sit_key(seg);
        match self.tree.get(tree_key(&k)).map_err(tree_err)? {
            Some(v) => SitEntry::from_value(&v),
            None => Ok(SitEntry::default()),
        }
    }

    /// Segments a checkpoint may need (its pages, a J roll for its record) plus one.
    pub(super) fn ckpt_segments(&self) -> usize {
        let m = self.tree.store();
        let cap = m.lay.seg_bytes() - m.lay.log_start() - m.lay.bs;
        // The dirty pages, plus the SIT leaves the fold may rewrite (at most one per delta, at
        // most all of them; a leaf holds at least 12 entries) with their paths.
        let sit_leaves = (m.lay.seg_count as usize).div_ceil(12);
        let pages = self.opts.max_dirty as usize
            + self.opts.max_deltas.min(sit_leaves) * (self.tree.height() + 1);
        (pages * m.page_chunk()).div_ceil(cap.max(1)) + 2
    }

    /// Fills the free queue from the SIT entries: a segment is free if it was never opened, or
    /// its live count is 0 in the durable state, it is not a head, has no change pending, and
    /// is not a journal segment of the durable checkpoint's tail (rule F).
    pub(super) fn refill_free(&mut self) -> Result<()> {
        let want = self.ckpt_segments() * 2 + 2;
        let count = self.tree.store().lay.seg_count;
        if self.tree.store().free.len() >= want || self.scan_exhausted || count == 0 {
            return Ok(());
        }
        let tail_seq = self.durable.tail.seq;
        let mut visited = 0u32;
        while visited < count && self.tree.store().free.len() < want {
            // Entries from the cursor on, merged with the segment numbers (no entry: never opened).
            let from = self.sit_cursor;
            let mut batch: Vec<(u32, SitEntry)> = Vec::new();
            {
                let k = sit_key(from);
                let mut c = self.tree.cursor(tree_key(&k)).map_err(tree_err)?;
                while batch.len() < 64 {
                    let Some(e) = c.next_entry().map_err(tree_err)? else {
                        break;
                    };
                    if e.ns != NS_SYSTEM || e.key().len() != 5 || e.key()[0] != b'S' {
                        break;
                    }
                    let kb = e.key();
                    let seg = u32::from_be_bytes([kb[1], kb[2], kb[3], kb[4]]);
                    batch.push((seg, SitEntry::from_value(&e.value)?));
                }
            }
            let mut bi = 0;
            let end = batch
                .last()
                .map(|&(s, _)| s + 1)
                .filter(|_| batch.len() == 64)
                .unwrap_or(count);
            let mut seg = from;
            while seg < end && seg < count {
                let e = match batch.get(bi) {
                    Some(&(s, e)) if s == seg => {
                        bi += 1;
                        e
                    }
                    _ => SitEntry::default(),
                };
                let m = self.tree.store_mut();
                let is_head = m.j.as_ref().is_some_and(|h| h.seg == seg)
                    || m.i.as_ref().is_some_and(|h| h.seg == seg);
                let free = e.class == class::NONE
                    || (e.live == 0 && !(e.class == class::JOURNAL && e.seq >= tail_seq));
                if free
                    && !is_head
                    && !m.deltas.map.contains_key(&seg)
                    && !m.free.iter().any(|f| f.0 == seg)
                {
                    m.free.push((seg, e.erase));
                }
                seg += 1;
                visited += 1;
            }
            self.sit_cursor = if seg >= count { 0 } else { seg };
        }
        if self.tree.store().free.len() < want {
            self.scan_exhausted = true;
        }
        Ok(())
    }
}
