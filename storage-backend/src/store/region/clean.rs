//! Space management: segment cleaning, wear spreading and checkpoints.
//!
//! A segment can be reused once (a) its sequence number is older than the newest complete
//! checkpoint, so replay never needs it, and (b) no index entry points into it. Cleaning makes (b)
//! true by copying the live records of a victim into the head as an internal transaction; a
//! checkpoint makes (a) true for everything written before it.

use alloc::boxed::Box;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;

use super::super::error::{Result, StoreError};
use super::super::record::{Loc, Writer, kind, stream};
use super::txn::commit_len;
use super::{Io, Region};

/// Spread of erase counts beyond which cold segments are moved (static wear leveling).
const WEAR_SPREAD: u32 = 8;
/// Segments cleaned ahead at most between two transactions.
const UPKEEP_CLEANS: u32 = 2;
/// Bytes of index entries per checkpoint record (one chunk).
const CKPT_BATCH: usize = 3900;

impl Region {
    /// Makes sure a free segment exists for the next roll (beyond the reserve unless
    /// `internal`), cleaning and checkpointing as needed.
    pub(super) fn make_free<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        internal: bool,
    ) -> Result<()> {
        let mut checkpointed = false;
        let mut rounds = 2 * self.segs.len();
        loop {
            rounds = rounds.checked_sub(1).ok_or(StoreError::NoSpace)?;
            let reserve = self.reserve() - u32::from(self.shrinking);
            if self.free_at_least(reserve + 1) || (internal && self.free_at_least(1)) {
                return Ok(());
            }
            if internal {
                return Err(StoreError::NoSpace);
            }
            if let Some(v) = self.pick_victim() {
                self.clean(io, v)?;
                continue;
            }
            if self.txn.is_none() && !checkpointed && self.checkpoint_helps() {
                self.checkpoint(io)?;
                checkpointed = true;
                continue;
            }
            return Err(StoreError::NoSpace);
        }
    }

    /// True if segments written since the checkpoint hold garbage a new checkpoint would free.
    fn checkpoint_helps(&self) -> bool {
        let cap = self.seg_capacity() as u64;
        let head = self.head.as_ref().map(|h| h.seg);
        self.segs.iter().enumerate().any(|(i, s)| {
            s.seq.is_some_and(|q| q >= self.ckpt_seq) && Some(i as u32) != head && s.live < cap
        })
    }

    /// A segment worth cleaning: older than the checkpoint, partly live; the least live one, or
    /// the least-erased one when wear has spread too far.
    fn pick_victim(&self) -> Option<u32> {
        let cap = self.seg_capacity() as u64;
        let head = self.head.as_ref().map(|h| h.seg);
        let candidates = || {
            self.segs.iter().enumerate().filter(move |(i, s)| {
                s.seq.is_some_and(|q| q < self.ckpt_seq) && s.live > 0 && Some(*i as u32) != head
            })
        };
        let max_erase = self.segs.iter().map(|s| s.erase_count).max().unwrap_or(0);
        if let Some((i, s)) = candidates().min_by_key(|(_, s)| s.erase_count)
            && s.erase_count + WEAR_SPREAD < max_erase
            && self.free_at_least(1)
        {
            return Some(i as u32);
        }
        candidates()
            // Only worth it if at least an eighth of the segment comes back.
            .filter(|(_, s)| s.live + cap / 8 <= cap)
            .min_by_key(|(_, s)| s.live)
            .map(|(i, _)| i as u32)
    }

    /// Copies the live records of `victim` to the head as one internal transaction.
    fn clean<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        victim: u32,
    ) -> Result<()> {
        let keys: Vec<(Box<[u8]>, Loc)> = self
            .index
            .iter()
            .filter(|(_, l)| l.seg == victim)
            .map(|(k, l)| (Box::from(k), l))
            .collect();
        let id = self.next_txn;
        self.next_txn += 1;
        let mut tags = Sha256::new();
        let mut moved = Vec::with_capacity(keys.len());
        for (k, loc) in keys {
            let value = self.read_value(io, &k, loc)?;
            let plain = super::super::record::put(id, &k, &value);
            let (seg, off, len) =
                self.append(io, stream::TXN, &plain, true, commit_len(), &mut |t| {
                    tags.update(t)
                })?;
            moved.push((
                k,
                Loc {
                    seg,
                    off: off as u32,
                    disk_len: len as u32,
                    vlen: loc.vlen,
                },
            ));
        }
        let n = moved.len() as u32;
        self.write_commit(io, id, n, tags.finalize().into(), true)?;
        for (k, loc) in moved {
            self.apply_put(&k, loc);
        }
        Ok(())
    }

    /// Writes a checkpoint at the start of a fresh segment. Only between transactions.
    pub(super) fn checkpoint<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
    ) -> Result<()> {
        if self.txn.is_some() {
            return Ok(());
        }
        // A checkpoint that runs out of room half-way keeps the segments it wrote until a later
        // checkpoint completes (replay must still find the log through them), so one that
        // cannot finish must not start: on a full medium, attempts would use up the reserve.
        if !self.free_at_least(self.ckpt_segments()) {
            return Err(StoreError::NoSpace);
        }
        self.make_free(io, true)?;
        self.roll(io, true)?;
        let ckpt_seq = self
            .head
            .as_ref()
            .map(|h| h.seq)
            .ok_or(StoreError::NoSpace)?;
        let mut w = Writer::new(kind::CKPT_BEGIN);
        w.bytes(&self.chain)
            .u64(self.next_txn)
            .u64(self.index.len() as u64)
            .u32(self.layout.seg_count);
        self.append(io, stream::CKPT, &w.0, true, 0, &mut |_| {})?;
        let mut hash = Sha256::new();
        // Erase counts, then index entries, in batches of one chunk each.
        let counts: Vec<u32> = self.segs.iter().map(|s| s.erase_count).collect();
        for (i, part) in counts.chunks(CKPT_BATCH / 4).enumerate() {
            let mut w = Writer::new(kind::CKPT_ENTRIES);
            w.u8(1)
                .u32((i * (CKPT_BATCH / 4)) as u32)
                .u32(part.len() as u32);
            for c in part {
                w.u32(*c);
            }
            hash.update(&w.0);
            self.append(io, stream::CKPT, &w.0, true, 0, &mut |_| {})?;
        }
        // One batch (one chunk) at a time: the index does not change while a checkpoint is
        // written (internal appends never clean), so entries are taken by position.
        let mut next = 0usize;
        loop {
            let mut batch = Writer::new(kind::CKPT_ENTRIES);
            batch.u8(0);
            while let Some((k, l)) = self.index.get_at(next) {
                if batch.0.len() + k.len() + 17 > CKPT_BATCH {
                    break;
                }
                batch
                    .u8(k.len() as u8)
                    .bytes(k)
                    .u32(l.seg)
                    .u32(l.off)
                    .u32(l.disk_len)
                    .u32(l.vlen);
                next += 1;
            }
            hash.update(&batch.0);
            self.append(io, stream::CKPT, &batch.0, true, 0, &mut |_| {})?;
            if next >= self.index.len() {
                break;
            }
        }
        let mut w = Writer::new(kind::CKPT_END);
        w.u64(self.index.len() as u64).bytes(&hash.finalize());
        self.append(io, stream::CKPT, &w.0, true, 0, &mut |_| {})?;
        self.sync_head(io)?;
        self.ckpt_seq = ckpt_seq;
        self.segs_since_ckpt = 0;
        Ok(())
    }

    /// Free segments a checkpoint of the current index needs at most, starting in a fresh
    /// segment: an upper bound in O(1). Entry and erase-count records are one chunk of at most
    /// 4,096 bytes each; entry batches hold at least `CKPT_BATCH - 2 - (17 + MAX_KEY)` bytes
    /// of entries (17 + key bytes each) except the last; erase counts go 975 to a record; the
    /// begin and end records (under 128 bytes each) are kept room for in every segment.
    pub(super) fn ckpt_segments(&self) -> u32 {
        const CHUNK: u64 = crate::chunk::codec::MAX_CHUNK as u64;
        let min_batch = (CKPT_BATCH - 2 - 17 - super::txn::MAX_KEY) as u64;
        let entry_bytes = self.index.len() as u64 * 17 + self.key_bytes;
        let chunks = entry_bytes.div_ceil(min_batch).max(1)
            + (self.segs.len() as u64).div_ceil((CKPT_BATCH / 4) as u64);
        let per_seg = (self.seg_capacity() as u64).saturating_sub(256) / CHUNK;
        u32::try_from(chunks.div_ceil(per_seg.max(1))).unwrap_or(u32::MAX)
    }

    /// Called before a transaction begins: the same upkeep as after a commit, so that space left
    /// by a failed or abandoned transaction is reclaimed before the next one needs it.
    pub fn between_transactions<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
    ) -> Result<()> {
        self.maybe_checkpoint(io)
    }

    /// Between transactions: writes a checkpoint when the log since the last one has grown long
    /// (bounded mount time), and cleans ahead so the next transaction starts with free segments
    /// (a checkpoint cannot be written while a transaction is open).
    pub(super) fn maybe_checkpoint<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
    ) -> Result<()> {
        if self.txn.is_some() {
            return Ok(());
        }
        // Replay after mount reads at most this many segments of log. Twice the checkpoint's own
        // size keeps the checkpoints' share of the writes under a third, at least 8 segments
        // avoids checkpointing small stores all the time, a quarter of the region caps it.
        let ckpt_segs = self.reserve() - 1;
        let limit = (2 * ckpt_segs)
            .max(8)
            .min((self.layout.seg_count / 4).max(4));
        let low = |r: &Self| !r.free_at_least(r.reserve() + 3);
        if self.segs_since_ckpt >= limit || (low(self) && self.checkpoint_helps()) {
            match self.checkpoint(io) {
                Err(StoreError::NoSpace) | Ok(()) => {}
                Err(e) => return Err(e),
            }
        }
        // Bounded work per transaction: near full, cleaning frees only the garbage share of each
        // victim, so "clean until not low" would copy most of the region on every call.
        // Writes that need room clean on demand (`make_free`).
        let mut rounds = UPKEEP_CLEANS;
        while low(self) && rounds > 0 {
            rounds -= 1;
            let Some(v) = self.pick_victim() else { break };
            match self.clean(io, v) {
                Err(StoreError::NoSpace) => break,
                r => r?,
            }
        }
        Ok(())
    }
}
