//! Transactions: the same model as v1 (one open transaction, records appended to the journal
//! as they come, COMMIT last; a commit is durable when its padded COMMIT is flushed) with the
//! index change applied to the tree after the COMMIT.
//!
//! *Commits always fit.* Before the COMMIT is written, the pages its changes may dirty are
//! bounded: per distinct key at most `2 (h + 1) + 2` (its path, a split per level and a new
//! root, or for a delete a sibling per level). If the pages already dirty plus that bound
//! exceed `D`, a checkpoint is taken first — inside the transaction, which it names as in
//! flight — so the apply, and its replay from any durable checkpoint, never needs more than
//! `D` dirty pages. A transaction whose bound alone exceeds `D` is refused at the put or
//! delete that makes it so (`InvalidArgument`, nothing written; DESIGN.md calls it
//! `TxnTooLarge`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;
use crate::store::btree::{BTreeError, Key, Value};
use crate::store::error::{Result, StoreError};
use crate::store::record::{self, Writer, kind, stream};
use crate::store::region::txn::chain_next;

use super::region::{MAX_KEY, MAX_VALUE, OpenTxn, PendingOp, V2Region, tree_err};
use super::sit::{NS_USER, class};

impl<D: BlockDevice, E: CryptoEngine> V2Region<D, E> {
    /// Starts a transaction (`InvalidArgument` if one is open).
    pub fn begin(&mut self) -> Result<()> {
        if self.txn.is_some() {
            return Err(StoreError::InvalidArgument);
        }
        self.prepare()?;
        let id = self.next_txn;
        self.next_txn += 1;
        self.txn = Some(OpenTxn {
            id,
            pending: BTreeMap::new(),
            n: 0,
            tags: Sha256::new(),
            first: None,
            bytes: 0,
        });
        Ok(())
    }

    /// Whether a transaction is open.
    pub fn in_txn(&self) -> bool {
        self.txn.is_some()
    }

    /// Drops the open transaction (its records stay in the log, never visible).
    pub fn abort(&mut self) {
        self.txn = None;
    }

    /// Dirty pages the changes of `keys` distinct keys may need.
    pub(super) fn page_bound(&self, keys: usize) -> usize {
        keys * (2 * (self.tree.height() + 1) + 2)
    }

    /// Sets `key` to `value` in the open transaction.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.is_empty() || key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return Err(StoreError::InvalidArgument);
        }
        let plain = record::put(self.txn_id()?, key, value);
        self.append_op(key, &plain, Some(value.len() as u32))
    }

    /// Removes `key` in the open transaction.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(StoreError::InvalidArgument);
        }
        let plain = record::delete(self.txn_id()?, key);
        self.append_op(key, &plain, None)
    }

    /// The value of `key` as the open transaction sees it (its own changes first).
    pub fn txn_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let t = self.txn.as_ref().ok_or(StoreError::InvalidArgument)?;
        match t.pending.get(key).copied() {
            None => self.get(key),
            Some(None) => Ok(None),
            Some(Some((p, disk, vlen))) => {
                // The record may still sit in the head's unwritten block.
                let r = self.tree.store_mut().sync(class::JOURNAL);
                self.guard(r)?;
                let v = Value::Loc {
                    seg: p.seg,
                    off: p.off,
                    seq: p.seq,
                    disk_len: disk,
                    vlen,
                };
                self.read_value(key, &v).map(Some)
            }
        }
    }

    fn txn_id(&self) -> Result<u64> {
        self.writable()?;
        self.txn
            .as_ref()
            .map(|t| t.id)
            .ok_or(StoreError::InvalidArgument)
    }

    fn append_op(&mut self, key: &[u8], plain: &[u8], vlen: Option<u32>) -> Result<()> {
        let (keys, bytes) = match &self.txn {
            Some(t) => (
                t.pending.len() + usize::from(!t.pending.contains_key(key)),
                t.bytes,
            ),
            None => return Err(StoreError::InvalidArgument),
        };
        let need = crate::store::seal::sealed_len(plain.len());
        if self.page_bound(keys) + 1 > self.opts.max_dirty as usize
            || bytes + need as u64 > self.opts.txn_bytes
        {
            return Err(StoreError::InvalidArgument);
        }
        self.prepare()?;
        // User records keep the reserve: a checkpoint must always find its segments.
        let reserve = self.ckpt_segments();
        let m = self.tree.store_mut();
        let room = m.j.as_ref().is_some_and(|h| {
            (h.pos + need).div_ceil(m.lay.bs) * m.lay.bs + m.lay.bs <= m.lay.seg_bytes()
        });
        if !room && m.free.len() <= reserve {
            return Err(StoreError::NoSpace);
        }
        let mut tags = Vec::new();
        let r = m.append(class::JOURNAL, stream::TXN, plain, &mut |t| tags.push(*t));
        let (p, disk) = self.guard(r)?;
        let Some(t) = self.txn.as_mut() else {
            return Err(StoreError::InvalidArgument);
        };
        for tag in &tags {
            t.tags.update(tag);
        }
        t.n += 1;
        t.bytes += disk as u64;
        t.first.get_or_insert(p);
        let op: PendingOp = vlen.map(|v| (p, disk as u32, v));
        t.pending.insert(key.to_vec(), op);
        Ok(())
    }

    /// Commits the open transaction: durable when this returns `Ok`.
    pub fn commit(&mut self) -> Result<()> {
        let Some(t) = self.txn.as_ref() else {
            return Err(StoreError::InvalidArgument);
        };
        if t.n == 0 {
            self.txn = None;
            return Ok(());
        }
        let keys = t.pending.len();
        self.prepare()?;
        if self.tree.dirty_pages() + self.page_bound(keys) > self.opts.max_dirty as usize {
            // An in-flight checkpoint: the transaction's changes then fit under `D`.
            self.checkpoint()?;
        }
        let Some(t) = self.txn.take() else {
            return Err(StoreError::InvalidArgument);
        };
        let tags: [u8; 32] = t.tags.clone().finalize().into();
        let chain = chain_next(&self.chain, t.id, t.n, &tags);
        let mut w = Writer::new(kind::COMMIT);
        w.u64(t.id).u32(t.n).bytes(&chain);
        let m = self.tree.store_mut();
        let r = m
            .append(class::JOURNAL, stream::TXN, &w.0, &mut |_| {})
            .and_then(|_| m.sync(class::JOURNAL));
        if let Err(e) = r {
            // Whether the COMMIT landed is unknown: stop writing until the next mount decides.
            self.halted = true;
            return Err(e);
        }
        self.chain = chain;
        let r = self.apply(&t.pending);
        self.guard(r)?;
        // Upkeep between transactions.
        self.prepare()
    }

    /// Applies committed changes to the tree, accounting live bytes and usage from the values
    /// they replace (so applying a change twice changes nothing).
    pub(super) fn apply(&mut self, ops: &BTreeMap<Vec<u8>, PendingOp>) -> Result<()> {
        for (k, op) in ops {
            let key = Key::new(NS_USER, k);
            let r = match op {
                Some((p, disk, vlen)) => {
                    let v = Value::Loc {
                        seg: p.seg,
                        off: p.off,
                        seq: p.seq,
                        disk_len: *disk,
                        vlen: *vlen,
                    };
                    self.tree.insert(key, &v)
                }
                None => self.tree.delete(key),
            };
            let old = match r {
                Ok(old) => old,
                // The bound above makes this unreachable; report it rather than guess.
                Err(BTreeError::NeedsCheckpoint) | Err(BTreeError::DirtyCapTooSmall) => {
                    return Err(StoreError::integrity(
                        crate::store::error::IntegrityKind::Checkpoint,
                    ));
                }
                Err(e) => return Err(tree_err(e)),
            };
            let m = self.tree.store_mut();
            if let Some(Value::Loc {
                seg,
                disk_len,
                vlen,
                ..
            }) = old
            {
                m.deltas.add(seg, -i64::from(disk_len));
                self.objects = self.objects.saturating_sub(1);
                self.bytes = self.bytes.saturating_sub(k.len() as u64 + u64::from(vlen));
            }
            if let Some((p, disk, vlen)) = op {
                m.deltas.add(p.seg, i64::from(*disk));
                self.objects += 1;
                self.bytes += k.len() as u64 + u64::from(*vlen);
            }
        }
        Ok(())
    }
}
