//! Collection of everything no inode references any more: garbage content, abandoned staging
//! areas and detached subtrees.
//!
//! Dropping content (unlink, overwrite, truncation) only writes a garbage record in the same
//! transaction as the inode change, so the change stays small and atomic whatever the file's
//! size. The collector then deletes pieces in bounded batches between requests and at boot,
//! skipping content that an open handle still reads.
//!
//! A staging area (`S` record) belongs to an open handle's uncommitted writes. Once no handle
//! stages into it — the handle was discarded, closed after a failed commit, reclaimed with its
//! dead task, or lost to a restart — it is abandoned and the collector deletes its pieces and
//! then the record. So a discard never has to write anything to give its space back, and a
//! discard that cannot finish (a device error) leaves the record for the next pass.
//!
//! Every collector transaction only deletes records, so it commits on a full store.

use alloc::vec::Vec;

use crate::error::VfsError;
use crate::inode::{be_u32, be_u64, keys};
use crate::vfs::{Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db};

/// What the collector found still to do, and what it could reclaim.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimable {
    /// Content objects awaiting collection (garbage and abandoned staging areas).
    pub objects: u64,
    /// Their stored pieces.
    pub pieces: u64,
    /// The stored bytes of those pieces (values only).
    pub bytes: u64,
    /// Detached subtrees still being reaped.
    pub detached: u64,
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Deletes up to `budget` records of unreferenced data (garbage pieces, abandoned staging
    /// areas, detached subtrees); returns whether any remain.
    ///
    /// When nothing can have become collectable since the last pass found nothing (no garbage
    /// or detached-subtree record written, no stage abandoned, no pinned version released),
    /// this returns at once without touching the store: the server calls it after every reply.
    pub fn collect_garbage(&mut self, budget: usize) -> Result<bool, VfsError> {
        if !self.collect_due {
            return Ok(false);
        }
        // Cleared first: what this pass itself hands over (a detached file's garbage record)
        // sets it again.
        self.collect_due = false;
        match self.independently(|vfs| vfs.collect_pass(budget)) {
            Ok((more, _)) => {
                self.collect_due |= more;
                Ok(self.collect_due)
            }
            Err(e) => {
                self.collect_due = true;
                Err(e)
            }
        }
    }

    /// Runs collector work, which touches nothing a deferred creation touches: it neither
    /// settles the creation nor carries it in its commits.
    fn independently<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, VfsError>,
    ) -> Result<T, VfsError> {
        let before = core::mem::replace(&mut self.independent, true);
        let owner = core::mem::replace(&mut self.owner_ctx, false);
        let r = f(self);
        self.independent = before;
        self.owner_ctx = owner;
        r
    }

    /// One collection pass: whether anything remains, and how much of `budget` it spent.
    fn collect_pass(&mut self, budget: usize) -> Result<(bool, usize), VfsError> {
        let mut left = budget;
        let more_garbage = self.collect_garbage_records(&mut left)?;
        let more_staging = self.collect_abandoned_staging(&mut left)?;
        let more_detached = self.reap_all_detached(&mut left)?;
        Ok((more_garbage || more_staging || more_detached, budget - left))
    }

    /// Collects everything collectable now (boot; the host image tool after a removal).
    /// Content that open handles still read stays, so this stops once a pass frees nothing.
    pub fn collect_all(&mut self) -> Result<(), VfsError> {
        loop {
            self.collect_due = false;
            let (more, spent) = self.independently(|vfs| vfs.collect_pass(1024))?;
            self.collect_due |= more;
            if !self.collect_due || spent == 0 {
                return Ok(());
            }
        }
    }

    fn collect_garbage_records(&mut self, left: &mut usize) -> Result<bool, VfsError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let recs = self
                .store
                .scan(Db::Userspace, &[keys::GARBAGE], after.as_deref(), 16)
                .map_err(store_err)?;
            if recs.is_empty() {
                return Ok(false);
            }
            for (key, value) in recs {
                after = Some(key.clone());
                let Some(content) = key.get(1..).and_then(be_u64) else {
                    continue;
                };
                if self.pins.contains_key(&content) {
                    continue;
                }
                if *left == 0 {
                    return Ok(true);
                }
                let from = be_u32(&value).unwrap_or(0);
                if !self.delete_pieces(content, from, key, left)? {
                    return Ok(true);
                }
            }
        }
    }

    /// Deletes pieces `from..` of `content`, at most `left` of them; once none remain, deletes
    /// `record` (the garbage or staging record that named them) in the same transaction.
    /// Returns whether the record is gone.
    fn delete_pieces(
        &mut self,
        content: u64,
        from: u32,
        record: Vec<u8>,
        left: &mut usize,
    ) -> Result<bool, VfsError> {
        let start = (from > 0).then(|| keys::piece(content, from - 1));
        let pieces = self
            .store
            .scan(
                Db::Userspace,
                &keys::content_prefix(content),
                start.as_deref(),
                *left,
            )
            .map_err(store_err)?;
        let done = pieces.len() < *left;
        *left -= pieces.len();
        self.tx(|_, tx| {
            for (k, _) in pieces {
                tx.delete(Db::Userspace, k);
            }
            if done {
                tx.delete(Db::Userspace, record);
            }
            Ok(())
        })?;
        Ok(done)
    }

    fn collect_abandoned_staging(&mut self, left: &mut usize) -> Result<bool, VfsError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let recs = self
                .store
                .scan(Db::Userspace, &[keys::STAGING], after.as_deref(), 16)
                .map_err(store_err)?;
            if recs.is_empty() {
                return Ok(false);
            }
            for (key, _) in recs {
                after = Some(key.clone());
                let Some(content) = key.get(1..).and_then(be_u64) else {
                    continue;
                };
                if self.handles.stages(content) {
                    continue;
                }
                if *left == 0 {
                    return Ok(true);
                }
                if !self.delete_pieces(content, 0, key, left)? {
                    return Ok(true);
                }
            }
        }
    }

    /// Gives back the space of a staging area no handle uses any more, now; what an error
    /// leaves is the collector's (the staging record stays until its pieces are gone).
    pub(crate) fn abandon_stage(&mut self, content: u64) {
        loop {
            // Bounded transactions, however large the stage grew.
            let mut left = 256;
            match self.delete_pieces(content, 0, keys::staging(content), &mut left) {
                Ok(false) => {}
                Ok(true) | Err(_) => return,
            }
        }
    }

    /// What collection would give back now: garbage and abandoned staging content, and
    /// detached subtrees. Reads every such piece's record, so it costs a scan of them.
    pub fn reclaimable(&mut self) -> Result<Reclaimable, VfsError> {
        let mut out = Reclaimable::default();
        for prefix in [keys::GARBAGE, keys::STAGING] {
            let mut after: Option<Vec<u8>> = None;
            loop {
                let recs = self
                    .store
                    .scan(Db::Userspace, &[prefix], after.as_deref(), 64)
                    .map_err(store_err)?;
                if recs.is_empty() {
                    break;
                }
                for (key, value) in recs {
                    after = Some(key.clone());
                    let Some(content) = key.get(1..).and_then(be_u64) else {
                        continue;
                    };
                    if prefix == keys::STAGING && self.handles.stages(content) {
                        continue;
                    }
                    let from = if prefix == keys::GARBAGE {
                        be_u32(&value).unwrap_or(0)
                    } else {
                        0
                    };
                    out.objects += 1;
                    let (pieces, bytes) = self.piece_usage(content, from)?;
                    out.pieces += pieces;
                    out.bytes += bytes;
                }
            }
        }
        let mut after: Option<Vec<u8>> = None;
        loop {
            let recs = self
                .store
                .scan(Db::Userspace, &[keys::DETACHED], after.as_deref(), 64)
                .map_err(store_err)?;
            if recs.is_empty() {
                break;
            }
            out.detached += recs.len() as u64;
            after = recs.last().map(|(k, _)| k.clone());
        }
        Ok(out)
    }

    /// The number and stored bytes of pieces `from..` of `content`.
    fn piece_usage(&mut self, content: u64, from: u32) -> Result<(u64, u64), VfsError> {
        let prefix = keys::content_prefix(content);
        let mut after = (from > 0).then(|| keys::piece(content, from - 1));
        let (mut pieces, mut bytes) = (0u64, 0u64);
        loop {
            let rows = self
                .store
                .scan(Db::Userspace, &prefix, after.as_deref(), 64)
                .map_err(store_err)?;
            if rows.is_empty() {
                return Ok((pieces, bytes));
            }
            for (k, v) in rows {
                pieces += 1;
                bytes += v.len() as u64;
                after = Some(k);
            }
        }
    }
}
