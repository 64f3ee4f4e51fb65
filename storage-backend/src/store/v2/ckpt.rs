//! Checkpoints: the CKPT record and the procedure (DESIGN.md V2.2 "Dirty pages and
//! checkpoints"), and the anchors that make one durable.
//!
//! Order: fold the delta table into the SIT entries (flushing pages whenever the fold would
//! exceed `D`) → write every dirty page to head I, root last → flush I → CKPT record in J →
//! flush J → anchor slot (flushed). A cut anywhere before the anchor's program completes
//! leaves the previous anchor newest, and everything it reaches intact (rule F).
//!
//! CKPT plaintext (kind 10, stream 3): `u64 generation, root (u32 seg, u32 off, u64 seq), [32] chain,
//! u64 next_txn, u8 in_flight, u64 txn, tail start (u32 seg, u32 off, u64 seq), u64 objects,
//! u64 bytes, u32 n`, then `n` carry-over deltas `u32 seg, u8 opened, [u64 seq, u32 erase,
//! u8 class if opened], u64 dlive (two's complement)`: the changes made after the fold began
//! (page writes and the deaths of the SIT leaves the fold rewrote), loaded at mount.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;
use crate::store::anchor::Anchor;
use crate::store::btree::{BTreeError, PagePtr};
use crate::store::error::{IntegrityKind, Result, StoreError};
use crate::store::record::{Reader, Writer, stream};
use crate::store::seal::sealed_len;

use super::layout::VERSION;
use super::medium::LogPos;
use super::region::{Durable, SEQ_RESERVE, V2Region, tree_err};
use super::sit::{Delta, DeltaTable, SitEntry, class, sit_key, tree_key};

/// Record kind of a v2 checkpoint.
pub(super) const KIND_CKPT: u8 = 10;
/// Longest CKPT plaintext accepted at mount.
pub(super) const MAX_CKPT: usize = 8 * 1024;
/// Generation skip after a fallback to an older anchor (see `mount`).
pub(super) const FALLBACK_GEN_SKIP: u64 = 1 << 20;

/// A decoded CKPT record.
#[derive(Clone, Debug, Default)]
pub(super) struct Ckpt {
    pub generation: u64,
    pub root: PagePtr,
    pub chain: [u8; 32],
    pub next_txn: u64,
    pub in_flight: Option<u64>,
    pub tail: LogPos,
    pub objects: u64,
    pub bytes: u64,
    pub carry: DeltaTable,
}

fn pos(w: &mut Writer, p: LogPos) {
    w.u32(p.seg).u32(p.off).u64(p.seq);
}

fn read_pos(r: &mut Reader<'_>) -> Result<LogPos> {
    Ok(LogPos {
        seg: r.u32()?,
        off: r.u32()?,
        seq: r.u64()?,
    })
}

impl Ckpt {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(KIND_CKPT);
        w.u64(self.generation);
        pos(
            &mut w,
            LogPos {
                seg: self.root.seg,
                off: self.root.off,
                seq: self.root.seq,
            },
        );
        w.bytes(&self.chain).u64(self.next_txn);
        w.u8(u8::from(self.in_flight.is_some()))
            .u64(self.in_flight.unwrap_or(0));
        pos(&mut w, self.tail);
        w.u64(self.objects)
            .u64(self.bytes)
            .u32(self.carry.len() as u32);
        for (&seg, d) in &self.carry.map {
            w.u32(seg).u8(u8::from(d.opened.is_some()));
            if let Some(e) = d.opened {
                w.u64(e.seq).u32(e.erase).u8(e.class);
            }
            w.u64(d.dlive as u64);
        }
        w.0
    }

    pub fn decode(p: &[u8]) -> Result<Ckpt> {
        let mut r = Reader::new(p);
        if r.u8()? != KIND_CKPT {
            return Err(StoreError::integrity(IntegrityKind::Checkpoint));
        }
        let generation = r.u64()?;
        let root = read_pos(&mut r)?;
        let chain = r.hash()?;
        let next_txn = r.u64()?;
        let flag = r.u8()?;
        let txn = r.u64()?;
        let tail = read_pos(&mut r)?;
        let objects = r.u64()?;
        let bytes = r.u64()?;
        let n = r.u32()?;
        let mut carry = DeltaTable::default();
        for _ in 0..n {
            let seg = r.u32()?;
            let opened = match r.u8()? {
                0 => None,
                1 => Some(SitEntry {
                    seq: r.u64()?,
                    live: 0,
                    erase: r.u32()?,
                    class: r.u8()?,
                }),
                _ => return Err(StoreError::integrity(IntegrityKind::Checkpoint)),
            };
            let dlive = r.u64()? as i64;
            carry.map.insert(seg, Delta { opened, dlive });
        }
        r.finish()?;
        Ok(Ckpt {
            generation,
            root: PagePtr {
                seg: root.seg,
                off: root.off,
                seq: root.seq,
            },
            chain,
            next_txn,
            in_flight: (flag != 0).then_some(txn),
            tail,
            objects,
            bytes,
            carry,
        })
    }
}

impl<D: BlockDevice, E: CryptoEngine> V2Region<D, E> {
    /// Writes a checkpoint and makes it durable (the caller has run `prepare`). Allowed inside
    /// an open transaction (before its COMMIT): the CKPT then names it as in flight, and the
    /// tail starts at its first record.
    pub(super) fn checkpoint(&mut self) -> Result<()> {
        self.writable()?;
        let r = self.checkpoint_inner();
        if r.is_err() {
            // Whatever failed (even `NoSpace` for an index segment), the tree's SIT entries and
            // pages may now be ahead of the durable checkpoint, and the free queue is derived
            // from them: no more writes until a mount rebuilds the state from the medium.
            self.halted = true;
            self.txn = None;
        }
        r
    }

    fn checkpoint_inner(&mut self) -> Result<()> {
        let generation = self.generation + 1;
        // 1. Fold the delta table into the SIT entries.
        let deltas = core::mem::take(&mut self.tree.store_mut().deltas);
        for (seg, d) in deltas.map {
            let e = d.apply(self.sit_entry(seg)?)?;
            let k = sit_key(seg);
            loop {
                match self.tree.insert(tree_key(&k), &e.to_value()) {
                    Ok(_) => break,
                    // Write what is dirty (this checkpoint's pages) and go on.
                    Err(BTreeError::NeedsCheckpoint) => {
                        self.tree.flush(generation).map_err(tree_err)?;
                    }
                    Err(e) => return Err(tree_err(e)),
                }
            }
        }
        // 2. Pages, children first, root last; 3. flush head I.
        let root = self.tree.flush(generation).map_err(tree_err)?;
        let m = self.tree.store_mut();
        m.sync(class::INDEX)?;
        // 4. The CKPT record: make room first, so that a J roll's delta is in the carry-over.
        let est = Ckpt {
            carry: m.deltas.clone(),
            ..Ckpt::default()
        }
        .encode()
        .len()
            + 2 * 30;
        m.ensure_room(class::JOURNAL, sealed_len(est))?;
        let (in_flight, first) = match &self.txn {
            Some(t) => (Some(t.id), t.first),
            None => (None, None),
        };
        let ck = Ckpt {
            generation,
            root,
            chain: self.chain,
            next_txn: self.next_txn,
            in_flight,
            tail: LogPos::default(),
            objects: self.objects,
            bytes: self.bytes,
            carry: m.deltas.clone(),
        };
        // The tail starts at the in-flight transaction's first record, or at the CKPT itself;
        // the record names its own position only in the first case (otherwise `tail` = 0 and
        // mount uses the anchor's location).
        let ck = Ckpt {
            tail: first.unwrap_or_default(),
            ..ck
        };
        let plain = ck.encode();
        if plain.len() > MAX_CKPT {
            return Err(StoreError::integrity(IntegrityKind::Checkpoint));
        }
        let (at, _) = m.append(class::JOURNAL, stream::CKPT, &plain, &mut |_| {})?;
        m.sync(class::JOURNAL)?;
        // 5. The anchor: durable from here.
        let seq_limit = m.next_seq + SEQ_RESERVE - 1;
        let hash: [u8; 32] = Sha256::digest(&plain).into();
        let anchor = Anchor {
            version: VERSION,
            ckpt_seg: at.seg,
            ckpt_off: at.off,
            ckpt_seq: at.seq,
            ckpt_gen: generation,
            seq_limit,
            ckpt_hash: hash,
        };
        self.generation = generation;
        self.ring.write(&mut m.dev, &mut m.eng, m.key, &anchor)?;
        m.seq_limit = seq_limit;
        m.journal_bytes = 0;
        self.durable = Durable {
            ckpt: at,
            tail: first.unwrap_or(at),
            hash,
        };
        self.scan_exhausted = false;
        Ok(())
    }

    /// The first write after mount: an anchor naming the same checkpoint with a raised
    /// `seq_limit`, so the segments the next checkpoint opens are covered by a durable anchor.
    pub(super) fn reserve(&mut self) -> Result<()> {
        let m = self.tree.store_mut();
        let seq_limit = m.next_seq + SEQ_RESERVE - 1;
        let generation = self.generation + 1;
        let anchor = Anchor {
            version: VERSION,
            ckpt_seg: self.durable.ckpt.seg,
            ckpt_off: self.durable.ckpt.off,
            ckpt_seq: self.durable.ckpt.seq,
            ckpt_gen: generation,
            seq_limit,
            ckpt_hash: self.durable.hash,
        };
        self.generation = generation;
        let r = self.ring.write(&mut m.dev, &mut m.eng, m.key, &anchor);
        if r.is_ok() {
            m.seq_limit = seq_limit;
        }
        let r = r.map(|_| ());
        self.guard(r)
    }

    /// Work due before a write: the post-mount reservation and checkpoint, the free queue, and
    /// a checkpoint when the journal, the delta table or the sequence reservation asks for one.
    pub(super) fn prepare(&mut self) -> Result<()> {
        self.writable()?;
        if self.fresh {
            self.reserve()?;
            self.fresh = false;
            let r = self.refill_free();
            self.guard(r)?;
            self.checkpoint()?;
        }
        let r = self.refill_free();
        self.guard(r)?;
        let m = self.tree.store();
        let seq_low = m.seq_limit < m.next_seq + self.ckpt_segments() as u64 + 4;
        if m.journal_bytes >= self.opts.ckpt_bytes
            || m.deltas.len() >= self.opts.max_deltas
            || seq_low
        {
            self.checkpoint()?;
            let r = self.refill_free();
            self.guard(r)?;
        }
        Ok(())
    }

    /// Makes the current state durable (a checkpoint), as `sync` does.
    pub fn sync(&mut self) -> Result<()> {
        self.prepare()?;
        self.checkpoint()
    }
}
