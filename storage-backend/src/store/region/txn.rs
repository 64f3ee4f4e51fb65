//! Transactions: records go to the log as they are added; only the commit record makes them
//! visible. RAM per transaction is one index-sized entry per touched key, never the values.

use sha2::{Digest, Sha256};

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;

use super::super::error::{LimitKind, Result, StoreError};
use super::super::record::{self, Loc, Writer, kind, stream};
use super::{Io, OpenTxn, Region, TOMBSTONE};

/// Longest key.
pub const MAX_KEY: usize = 255;
/// Longest value.
pub const MAX_VALUE: usize = 8 * 1024;

/// Bytes of a sealed commit record (kind, id, count, chain hash). Every record of a transaction
/// is appended only where this much room remains after it, so the commit record always fits in
/// the segment of the transaction's last record.
pub(super) fn commit_len() -> usize {
    super::super::seal::sealed_len(1 + 8 + 4 + 32)
}

/// The next link of the transaction hash chain.
pub(crate) fn chain_next(prev: &[u8; 32], id: u64, n: u32, tags: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(id.to_le_bytes());
    h.update(n.to_le_bytes());
    h.update(tags);
    h.finalize().into()
}

impl Region {
    /// Starts a transaction (an unfinished earlier one is abandoned).
    pub fn begin(&mut self) {
        let id = self.next_txn;
        self.next_txn += 1;
        self.txn = Some(OpenTxn {
            id,
            pending: super::index::Index::default(),
            n: 0,
            tags: Sha256::new(),
            objects_delta: 0,
            bytes_delta: 0,
            key_bytes_delta: 0,
            poisoned: false,
            written: 0,
            freed: 0,
        });
    }

    /// Abandons the open transaction: its records stay in the log as garbage. The value cache
    /// needs nothing: it only ever holds committed values read through the index, which an
    /// abort does not change.
    pub fn abort(&mut self) {
        self.txn = None;
    }

    /// Where `key`'s value is as seen by the open transaction (`None` if absent).
    fn effective_loc(&self, key: &[u8]) -> Option<Loc> {
        if let Some(t) = &self.txn
            && let Some(p) = t.pending.get(key)
        {
            return (p != TOMBSTONE).then_some(p);
        }
        self.index.get(key)
    }

    /// Appends a record of the open transaction, letting it use one reserved segment when the
    /// transaction still frees at least as much as it writes, and counts its bytes. `frees`:
    /// the bytes of the record it makes dead; `is_put`: whether its own bytes are charged.
    fn append_txn_record<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        plain: &[u8],
        frees: u64,
        is_put: bool,
        tags: &mut dyn FnMut(&[u8; 16]),
    ) -> Result<(u32, usize, usize)> {
        let need = if is_put {
            super::super::seal::sealed_len(plain.len()) as u64
        } else {
            0
        };
        // A delete always frees at least its own bytes, so it may always use the reserve.
        self.shrinking = !is_put
            || self
                .txn
                .as_ref()
                .is_some_and(|t| t.shrinks_with(frees, need));
        let r = self.append(io, stream::TXN, plain, false, commit_len(), tags);
        self.shrinking = false;
        if let (Ok(_), Some(t)) = (&r, &mut self.txn) {
            t.written += need;
            t.freed += frees;
        }
        r
    }

    fn txn_ok(&self) -> Result<()> {
        match &self.txn {
            Some(t) if !t.poisoned => Ok(()),
            _ => Err(StoreError::TxnPoisoned),
        }
    }

    fn poison(&mut self) {
        if let Some(t) = &mut self.txn {
            t.poisoned = true;
        }
    }

    /// Adds `key = value` to the open transaction.
    pub fn put<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        self.txn_ok()?;
        if key.is_empty() || key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return Err(StoreError::InvalidArgument);
        }
        let before = self.effective_loc(key);
        let (dobj, dbytes) = match before {
            Some(old) => (0i64, value.len() as i64 - i64::from(old.vlen)),
            None => (1i64, (key.len() + value.len()) as i64),
        };
        let t = self.txn.as_ref().ok_or(StoreError::TxnPoisoned)?;
        let objects = self.index.len() as i64 + t.objects_delta + dobj;
        let bytes = self.bytes as i64 + t.bytes_delta + dbytes;
        if dobj > 0 && objects as u64 > self.limits.max_objects {
            return Err(StoreError::ResourceLimitExceeded(LimitKind::Objects));
        }
        if dbytes > 0 && bytes as u64 > self.limits.max_bytes {
            return Err(StoreError::ResourceLimitExceeded(LimitKind::Bytes));
        }
        let id = t.id;
        let plain = record::put(id, key, value);
        let mut tags = self
            .txn
            .as_ref()
            .map(|t| t.tags.clone())
            .unwrap_or_default();
        let frees = before.map_or(0, |l| u64::from(l.disk_len));
        match self.append_txn_record(io, &plain, frees, true, &mut |tag| tags.update(tag)) {
            Ok((seg, off, len)) => {
                if let Some(t) = &mut self.txn {
                    t.tags = tags;
                    t.n += 1;
                    t.objects_delta += dobj;
                    t.bytes_delta += dbytes;
                    if before.is_none() {
                        t.key_bytes_delta += key.len() as i64;
                    }
                    let loc = Loc {
                        seg,
                        off: off as u32,
                        disk_len: len as u32,
                        vlen: value.len() as u32,
                    };
                    t.pending.insert(key, loc);
                }
                Ok(())
            }
            Err(e) => {
                self.poison();
                Err(e)
            }
        }
    }

    /// Adds the removal of `key` to the open transaction (a no-op if it does not exist).
    pub fn delete<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        key: &[u8],
    ) -> Result<()> {
        self.txn_ok()?;
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(StoreError::InvalidArgument);
        }
        let Some(old) = self.effective_loc(key) else {
            return Ok(());
        };
        let id = self.txn.as_ref().map(|t| t.id).unwrap_or(0);
        let plain = record::delete(id, key);
        let mut tags = self
            .txn
            .as_ref()
            .map(|t| t.tags.clone())
            .unwrap_or_default();
        let r = self.append_txn_record(io, &plain, u64::from(old.disk_len), false, &mut |tag| {
            tags.update(tag)
        });
        match r {
            Ok(_) => {
                if let Some(t) = &mut self.txn {
                    t.tags = tags;
                    t.n += 1;
                    t.objects_delta -= 1;
                    t.bytes_delta -= key.len() as i64 + i64::from(old.vlen);
                    t.key_bytes_delta -= key.len() as i64;
                    t.pending.insert(key, TOMBSTONE);
                }
                Ok(())
            }
            Err(e) => {
                self.poison();
                Err(e)
            }
        }
    }

    /// Writes the commit record and makes the transaction visible. Durable on return. On an
    /// error the transaction is abandoned: its records stay in the log as garbage.
    pub fn commit<D: BlockDevice, E: CryptoEngine>(&mut self, io: &mut Io<'_, D, E>) -> Result<()> {
        self.txn_ok()?;
        let Some(t) = self.txn.as_ref() else {
            return Err(StoreError::TxnPoisoned);
        };
        if t.n == 0 {
            self.txn = None;
            return Ok(());
        }
        let (id, n, shrinks) = (t.id, t.n, t.shrinks_with(0, 0));
        let tags: [u8; 32] = t.tags.clone().finalize().into();
        // The transaction stays open until its commit record is durable: while it is open no
        // checkpoint can be written, and a checkpoint between a transaction's records and its
        // commit record would leave replay a commit without records, and would let the segments
        // holding those records count as free. (Each record of the transaction already reserved
        // room for the commit record, so making room is not needed here anyway.)
        self.shrinking = shrinks;
        let r = self.write_commit(io, id, n, tags, false);
        self.shrinking = false;
        let t = self.txn.take();
        r?;
        let Some(t) = t else {
            return Err(StoreError::TxnPoisoned);
        };
        for (k, loc) in t.pending.iter() {
            if loc == TOMBSTONE {
                self.apply_delete(k);
            } else {
                self.apply_put(k, loc);
            }
        }
        self.maybe_checkpoint(io)
    }

    /// Appends a commit record, pads and flushes: the durability point of a transaction.
    pub(super) fn write_commit<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        id: u64,
        n: u32,
        tags: [u8; 32],
        internal: bool,
    ) -> Result<()> {
        // Room first: cleaning may commit (and advance the chain) while making room.
        self.ensure_room(io, commit_len(), internal)?;
        let next = chain_next(&self.chain, id, n, &tags);
        let mut w = Writer::new(kind::COMMIT);
        w.u64(id).u32(n).bytes(&next);
        self.append(io, stream::TXN, &w.0, internal, 0, &mut |_| {})?;
        self.sync_head(io)?;
        self.chain = next;
        self.synced = false;
        Ok(())
    }

    /// Index update for a committed put.
    pub(super) fn apply_put(&mut self, k: &[u8], loc: Loc) {
        // The key moves (overwrite, or cleaning's copy): its cached value no longer matches the
        // index and would never hit again; free it now.
        self.cache.remove(k);
        if let Some(seg) = self.segs.get_mut(loc.seg as usize) {
            seg.live += u64::from(loc.disk_len);
        }
        let klen = k.len() as u64;
        match self.index.insert(k, loc) {
            Some(old) => {
                if let Some(seg) = self.segs.get_mut(old.seg as usize) {
                    seg.live = seg.live.saturating_sub(u64::from(old.disk_len));
                }
                self.bytes = self.bytes - u64::from(old.vlen) + u64::from(loc.vlen);
            }
            None => {
                self.bytes += klen + u64::from(loc.vlen);
                self.key_bytes += klen;
            }
        }
    }

    /// Index update for a committed delete.
    pub(super) fn apply_delete(&mut self, k: &[u8]) {
        self.cache.remove(k);
        if let Some(old) = self.index.remove(k) {
            if let Some(seg) = self.segs.get_mut(old.seg as usize) {
                seg.live = seg.live.saturating_sub(u64::from(old.disk_len));
            }
            self.bytes -= k.len() as u64 + u64::from(old.vlen);
            self.key_bytes -= k.len() as u64;
        }
    }

    /// Writes a footer (clean-sync marker with the master hash) if anything changed since the
    /// last one, and flushes.
    pub fn sync<D: BlockDevice, E: CryptoEngine>(&mut self, io: &mut Io<'_, D, E>) -> Result<()> {
        if self.synced || self.head.is_none() {
            return Ok(());
        }
        self.sync_head(io)?;
        let f = crate::container::AsuFooter {
            magic: crate::container::FOOTER_MAGIC,
            header_offset: 0,
            total_file_size: self.layout.units() * self.layout.unit_blocks * self.layout.bs as u64,
            modified_ns: self.modified_ns,
            master_hash: self.chain,
        };
        let mut w = Writer::new(kind::FOOTER);
        w.bytes(&f.encode());
        self.append(io, stream::FOOTER, &w.0, true, 0, &mut |_| {})?;
        self.sync_head(io)?;
        self.synced = true;
        Ok(())
    }
}
