//! Replay of the log tail at mount: from the tail start (the CKPT record, or the first record
//! of the transaction it names as in flight) through the journal's LINKs to the end of the
//! valid log, through one window of at most [`WINDOW`] bytes (no segment-sized buffer).
//!
//! Per transaction the records and their chunk tags are collected; a COMMIT whose count and
//! chain check is applied if its transaction is the in-flight one or not older than the
//! checkpoint's `next_txn`; an unfinished transaction is dropped. Later CKPT records (whose
//! anchors never became durable) are skipped, but their generations are remembered so the next
//! anchor uses a generation no attempt has used. At the end of the log, an authentic chunk on
//! any later block boundary of that segment is corruption (`DataAfterEnd`), as in v1.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;
use crate::store::error::{IntegrityKind, Result, StoreError};
use crate::store::record::{Reader, decode_keyed, kind, stream};
use crate::store::region::txn::chain_next;
use crate::store::seal::{Next, SegView, authentic_after, read_record};

use super::ckpt::{Ckpt, KIND_CKPT};
use super::medium::{LogPos, Medium};
use super::region::{PendingOp, V2Region};
use super::sit::{SitEntry, class};

/// Bytes of the replay window.
const WINDOW: usize = 16 * 1024;
/// The longest record the journal holds (a PUT of the longest key and value; CKPT records are
/// shorter), sealed.
const LONGEST: usize = 8704;

/// A window over one journal segment.
struct Window {
    seg: u32,
    seq: u64,
    base: usize,
    buf: Vec<u8>,
}

impl Window {
    /// Whether the window holds `[pos, end of segment)` or at least the longest record there.
    fn holds(&self, pos: usize, seg_bytes: usize, longest: usize) -> bool {
        let end = self.base + self.buf.len();
        pos >= self.base && (pos + longest <= end || end >= seg_bytes)
    }

    /// Moves the window to start at the block of `pos`.
    fn load<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        m: &mut Medium<D, E>,
        pos: usize,
    ) -> Result<()> {
        let start = pos / m.lay.bs * m.lay.bs;
        let len = WINDOW.min(m.lay.seg_bytes() - start);
        let (buf, base) = m.read_span(self.seg, pos, len)?;
        self.buf = buf;
        self.base = base;
        Ok(())
    }

    fn view(&self) -> SegView<'_> {
        SegView {
            bytes: &self.buf,
            base: self.base,
            seq: self.seq,
        }
    }
}

struct Collect {
    id: u64,
    ops: BTreeMap<Vec<u8>, PendingOp>,
    n: u32,
    tags: Sha256,
}

impl<D: BlockDevice, E: CryptoEngine> V2Region<D, E> {
    pub(super) fn replay(
        &mut self,
        start: LogPos,
        in_flight: Option<u64>,
        next_txn: u64,
    ) -> Result<()> {
        let mut w = Window {
            seg: start.seg,
            seq: start.seq,
            base: 0,
            buf: Vec::new(),
        };
        let mut pos = start.off as usize;
        let mut cur: Option<Collect> = None;
        let wanted = |id: u64| Some(id) == in_flight || id >= next_txn;
        loop {
            if pos >= self.tree.store().lay.seg_bytes() {
                return Ok(());
            }
            let m = self.tree.store_mut();
            let seg_bytes = m.lay.seg_bytes();
            if pos < w.base || pos >= w.base + w.buf.len() {
                w.load(m, pos)?;
            }
            let mut next = read_record(&mut m.eng, m.key, w.view(), pos);
            // A record cut by the window's end: read again from its start.
            if matches!(next, Next::End { .. }) && !w.holds(pos, seg_bytes, LONGEST) {
                w.load(m, pos)?;
                next = read_record(&mut m.eng, m.key, w.view(), pos);
            }
            let rec = match next {
                Next::Record(r) => r,
                Next::End { bad, .. } => return self.check_end(&mut w, bad),
            };
            self.info.tail_bytes += (rec.off + rec.disk_len - pos) as u64;
            pos = rec.off + rec.disk_len;
            let first = rec.plain.first().copied();
            match (rec.stream, first) {
                (stream::TXN, Some(kind::PUT | kind::DELETE)) => {
                    let (id, key, val) = decode_keyed(&rec.plain)?;
                    if !wanted(id) {
                        continue;
                    }
                    if cur.as_ref().is_none_or(|c| c.id != id) {
                        cur = Some(Collect {
                            id,
                            ops: BTreeMap::new(),
                            n: 0,
                            tags: Sha256::new(),
                        });
                    }
                    let Some(c) = cur.as_mut() else { continue };
                    for t in &rec.tags {
                        c.tags.update(t);
                    }
                    c.n += 1;
                    let p = LogPos {
                        seg: w.seg,
                        off: rec.off as u32,
                        seq: w.seq,
                    };
                    let op = val.map(|v| (p, rec.disk_len as u32, v.len() as u32));
                    c.ops.insert(key.to_vec(), op);
                }
                (stream::TXN, Some(kind::COMMIT)) => {
                    let mut r = Reader::new(&rec.plain);
                    let (_, id, n, chain) = (r.u8()?, r.u64()?, r.u32()?, r.hash()?);
                    r.finish()?;
                    if !wanted(id) {
                        continue;
                    }
                    let Some(c) = cur.take().filter(|c| c.id == id && c.n == n) else {
                        return Err(StoreError::integrity_at(
                            IntegrityKind::Chain,
                            w.seg,
                            rec.off,
                        ));
                    };
                    let tags: [u8; 32] = c.tags.finalize().into();
                    if chain_next(&self.chain, id, n, &tags) != chain {
                        return Err(StoreError::integrity_at(
                            IntegrityKind::Chain,
                            w.seg,
                            rec.off,
                        ));
                    }
                    self.chain = chain;
                    self.next_txn = self.next_txn.max(id + 1);
                    self.apply(&c.ops)?;
                    self.info.replayed += 1;
                }
                (stream::CKPT, Some(KIND_CKPT)) => {
                    let ck = Ckpt::decode(&rec.plain)?;
                    self.generation = self.generation.max(ck.generation);
                }
                (stream::LINK, Some(kind::LINK)) => {
                    let mut r = Reader::new(&rec.plain);
                    let (_, seq, seg) = (r.u8()?, r.u64()?, r.u32()?);
                    r.finish()?;
                    self.follow(seg, seq)?;
                    w = Window {
                        seg,
                        seq,
                        base: 0,
                        buf: Vec::new(),
                    };
                    pos = self.tree.store().lay.log_start();
                }
                _ => {
                    return Err(StoreError::integrity_at(
                        IntegrityKind::Record,
                        w.seg,
                        rec.off,
                    ));
                }
            }
        }
    }

    /// The journal continues in `seg`: check its header and record its opening if the
    /// checkpoint's SIT does not know this incarnation yet.
    fn follow(&mut self, seg: u32, seq: u64) -> Result<()> {
        let m = self.tree.store_mut();
        if seg >= m.lay.seg_count {
            return Err(StoreError::integrity_at(IntegrityKind::Chain, seg, 0));
        }
        let Some((hseq, cls, erase)) = m.read_header(seg)? else {
            return Err(StoreError::integrity_at(
                IntegrityKind::SegmentHeader,
                seg,
                0,
            ));
        };
        if hseq != seq || cls != class::JOURNAL {
            return Err(StoreError::integrity_at(IntegrityKind::Chain, seg, 0));
        }
        if m.deltas
            .map
            .get(&seg)
            .and_then(|d| d.opened)
            .is_some_and(|e| e.seq == seq)
        {
            return Ok(());
        }
        if self.sit_entry(seg)?.seq == seq {
            return Ok(());
        }
        let m = self.tree.store_mut();
        m.deltas.opened(
            seg,
            SitEntry {
                seq,
                live: 0,
                erase,
                class: class::JOURNAL,
            },
        );
        Ok(())
    }

    /// The log ends at `bad`: nothing authentic may follow in this segment.
    fn check_end(&mut self, w: &mut Window, bad: usize) -> Result<()> {
        let m = self.tree.store_mut();
        let (bs, seg_bytes) = (m.lay.bs, m.lay.seg_bytes());
        let mut from = bad;
        loop {
            // Cover `[from - from % bs, ...)`; block boundaries after `bad` are checked.
            let start = from / bs * bs;
            if start >= seg_bytes {
                return Ok(());
            }
            let len = WINDOW.min(seg_bytes - start);
            let (buf, base) = m.read_span(w.seg, start, len)?;
            let v = SegView {
                bytes: &buf,
                base,
                seq: w.seq,
            };
            if let Some(at) = authentic_after(&mut m.eng, m.key, v, from.max(base), bs)
                && at > bad
            {
                return Err(StoreError::integrity_at(
                    IntegrityKind::DataAfterEnd,
                    w.seg,
                    at,
                ));
            }
            let end = base + buf.len();
            if end >= seg_bytes {
                return Ok(());
            }
            // Overlap by one largest chunk, so a chunk cut by the window's end is seen whole;
            // `authentic_after` starts at the boundary after its argument.
            from = end - 4096 - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::region::{MAX_KEY, MAX_VALUE};
    use super::*;
    use crate::store::seal::sealed_len;

    #[test]
    fn longest_record_fits_the_window() {
        let put = sealed_len(1 + 8 + 1 + MAX_KEY + MAX_VALUE);
        assert_eq!(put, LONGEST);
        assert!(sealed_len(super::super::ckpt::MAX_CKPT) <= LONGEST);
        const { assert!(LONGEST + 4096 <= WINDOW) };
    }
}
