//! Format and mount: the region header, then the newest complete checkpoint and the log tail.
//!
//! Mount never trusts the medium: every record is authenticated, the segment chain from the
//! checkpoint to the head is checked link by link, and authentic data after a segment's end is
//! reported as corruption instead of being taken for a torn write.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::block::{BlockDevice, ERASED};
use crate::chunk::codec::write_fills;
use crate::container::{AsuFooter, AsuHeader, Metadata};
use crate::crypto::{CryptoEngine, KeyHandle};

use super::super::error::{Db, IntegrityKind, Result, StoreError};
use super::super::record::{self, Loc, Reader, kind, stream};
use super::super::seal::{
    Next, SegView, authentic_after, open_chunk, read_record, seal_record, sealed_len,
};
use super::txn::{MAX_KEY, MAX_VALUE, chain_next, commit_len};
use super::{Io, Layout, Region, dev, region_key};

/// What a caller chooses when formatting a region.
#[derive(Clone, Debug)]
pub struct RegionParams {
    /// First erase unit.
    pub base_unit: u64,
    /// Erase units of the region.
    pub units: u64,
    /// Erase units per segment.
    pub seg_units: u64,
    /// Container UUID.
    pub uuid: [u8; 16],
    /// Creator string (at most 32 bytes are kept).
    pub creator: Vec<u8>,
    /// Creation time, ns since the epoch.
    pub created_ns: u64,
    /// Object limit.
    pub max_objects: u64,
    /// Byte limit.
    pub max_bytes: u64,
}

struct Pending {
    recs: Vec<(Box<[u8]>, Option<Loc>)>,
    tags: Sha256,
}

fn integ(kind: IntegrityKind, seg: u32, off: usize) -> StoreError {
    StoreError::integrity_at(kind, seg, off)
}

impl Region {
    /// Erases the region and writes an empty database.
    pub fn format<D: BlockDevice, E: CryptoEngine>(
        io: &mut Io<'_, D, E>,
        db: Db,
        master: KeyHandle,
        p: &RegionParams,
    ) -> Result<Region> {
        let g = io.dev.geometry();
        let bs = g.block_size as usize;
        let unit_bytes = g.erase_unit_bytes();
        if bs < 64 || !bs.is_multiple_of(32) || unit_bytes == 0 || p.seg_units == 0 {
            return Err(StoreError::BadGeometry);
        }
        let sb_units = 4096u64.div_ceil(unit_bytes).max(1);
        let seg_count = p.units.saturating_sub(sb_units) / p.seg_units;
        let layout = Layout {
            base_unit: p.base_unit,
            unit_blocks: u64::from(g.blocks_per_erase_unit),
            bs,
            sb_units,
            seg_units: p.seg_units,
            seg_count: u32::try_from(seg_count).map_err(|_| StoreError::BadGeometry)?,
        };
        // The largest record, with the room it keeps for its transaction's commit record.
        let largest = sealed_len(record::KEYED_HEADER + MAX_KEY + MAX_VALUE) + commit_len();
        if seg_count < 6
            || layout.seg_bytes() < layout.log_start() + layout.link_reserve() + largest
            || p.base_unit + layout.units() > g.erase_units()
        {
            return Err(StoreError::BadGeometry);
        }
        let mut creator = p.creator.clone();
        creator.truncate(32);
        let meta = Metadata {
            name: db.name().as_bytes().to_vec(),
            created_ns: p.created_ns,
            modified_ns: p.created_ns,
            creator,
            uuid: p.uuid,
            block_size: bs as u32,
            seg_units: p.seg_units as u32,
            seg_count: layout.seg_count,
            sb_units: sb_units as u32,
            max_objects: p.max_objects,
            max_bytes: p.max_bytes,
        };
        dev(io.dev.erase(p.base_unit, layout.units()))?;
        let key = region_key(io.eng, master, db, &p.uuid)?;
        let region_bytes = layout.units() * unit_bytes;
        let payload = sb_units * unit_bytes;
        let header = AsuHeader::new(region_bytes, payload, p.uuid, db.index() as u32);
        let mut sb = Vec::new();
        sb.extend_from_slice(&header.encode());
        seal_record(
            io.eng,
            key,
            0,
            AsuHeader::SIZE,
            stream::REGION_META,
            &meta.encode(),
            &mut sb,
            &mut |_| {},
        )?;
        let len = sb.len().div_ceil(bs) * bs;
        let n = sb.len();
        sb.resize(len, 0);
        write_fills(&mut sb[n..]).map_err(|_| StoreError::BadGeometry)?;
        dev(io.dev.write(p.base_unit * layout.unit_blocks, &sb))?;
        dev(io.dev.flush())?;
        let mut r = Region::empty(db, layout, key, meta);
        r.chain = genesis(&p.uuid);
        r.checkpoint(io)?;
        Ok(r)
    }

    /// Mounts the region that starts at erase unit `base_unit`.
    pub fn mount<D: BlockDevice, E: CryptoEngine>(
        io: &mut Io<'_, D, E>,
        db: Db,
        master: KeyHandle,
        base_unit: u64,
    ) -> Result<Region> {
        let g = io.dev.geometry();
        let bs = g.block_size as usize;
        let unit_blocks = u64::from(g.blocks_per_erase_unit);
        if bs == 0 || base_unit >= g.erase_units() {
            return Err(StoreError::BadGeometry);
        }
        let mut sb = alloc::vec![0u8; 4096usize.div_ceil(bs) * bs];
        let sb_blocks = (sb.len() / bs) as u64;
        if base_unit * unit_blocks + sb_blocks > g.block_count {
            return Err(StoreError::BadGeometry);
        }
        dev(io.dev.read(base_unit * unit_blocks, &mut sb))?;
        let Some(header) = AsuHeader::decode(&sb) else {
            if sb[..AsuHeader::SIZE].iter().all(|&b| b == ERASED) {
                return Err(StoreError::NotFormatted);
            }
            return Err(StoreError::integrity(IntegrityKind::RegionHeader));
        };
        if header.version_major != 1 || header.region_kind != db.index() as u32 {
            return Err(StoreError::integrity(IntegrityKind::RegionHeader));
        }
        let uuid = header.encryption_salt;
        let key = region_key(io.eng, master, db, &uuid)?;
        let v = SegView {
            bytes: &sb,
            base: 0,
            seq: 0,
        };
        let meta = open_chunk(io.eng, key, v, AsuHeader::SIZE)
            .filter(|(h, ..)| h.stream_id == stream::REGION_META && h.eof && h.offset == 0)
            .and_then(|(_, _, plain, _)| Metadata::decode(&plain))
            .ok_or(StoreError::integrity(IntegrityKind::RegionMetadata))?;
        let layout = Layout {
            base_unit,
            unit_blocks,
            bs,
            sb_units: u64::from(meta.sb_units),
            seg_units: u64::from(meta.seg_units),
            seg_count: meta.seg_count,
        };
        let unit_bytes = g.erase_unit_bytes();
        if meta.block_size as usize != bs
            || meta.uuid != uuid
            || layout.units() * unit_bytes != header.file_size
            || base_unit + layout.units() > g.erase_units()
            || layout.seg_bytes() < layout.log_start() + 4096
        {
            return Err(StoreError::integrity(IntegrityKind::RegionMetadata));
        }
        let mut r = Region::empty(db, layout, key, meta);
        r.load(io)?;
        Ok(r)
    }

    /// Bytes of the region on the device.
    pub fn region_units(&self) -> u64 {
        self.layout.units()
    }

    /// Rebuilds the in-RAM state from the medium: segment headers, the newest complete
    /// checkpoint, and the log after it.
    pub(super) fn load<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
    ) -> Result<()> {
        // Everything in RAM is rebuilt from the medium; cached values go with it.
        self.cache.clear();
        let n = self.layout.seg_count;
        let mut max_seq = 0u64;
        let mut by_seq: BTreeMap<u64, u32> = BTreeMap::new();
        for seg in 0..n {
            let (ident, meta) = self.read_seg_header(io, seg)?;
            if let Some(q) = ident {
                max_seq = max_seq.max(q);
            }
            let s = &mut self.segs[seg as usize];
            *s = super::SegState::default();
            if let (Some(q), Some(m)) = (ident, meta) {
                if by_seq.insert(q, seg).is_some() {
                    return Err(integ(IntegrityKind::Chain, seg, 0));
                }
                s.seq = Some(q);
                s.erase_count = m.erase_count;
                s.prev_seq = m.prev_seq;
                s.prev_seg = m.prev_seg;
                s.prev_len = m.prev_len;
                s.ckpt_start = m.ckpt_start;
            }
        }
        self.next_seq = max_seq + 1;
        let header_counts: Vec<u32> = self.segs.iter().map(|s| s.erase_count).collect();
        let candidates: Vec<(u64, u32)> = by_seq
            .iter()
            .rev()
            .filter(|(_, s)| self.segs[**s as usize].ckpt_start)
            .map(|(q, s)| (*q, *s))
            .collect();
        let mut first_err = None;
        for (q, _) in candidates {
            match self.replay_from(io, q, &by_seq) {
                Ok(()) => {
                    for (i, c) in header_counts.iter().enumerate() {
                        let s = &mut self.segs[i];
                        s.erase_count = s.erase_count.max(*c);
                    }
                    return self.finish_load();
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(StoreError::integrity(IntegrityKind::Checkpoint)))
    }

    /// Checks the index against the segment table and recomputes live bytes.
    fn finish_load(&mut self) -> Result<()> {
        for s in &mut self.segs {
            s.live = 0;
        }
        let mut bytes = 0u64;
        let mut key_bytes = 0u64;
        for (k, l) in self.index.iter() {
            let Some(s) = self.segs.get_mut(l.seg as usize) else {
                return Err(integ(IntegrityKind::Dangling, l.seg, l.off as usize));
            };
            if s.seq.is_none() {
                return Err(integ(IntegrityKind::Dangling, l.seg, l.off as usize));
            }
            s.live += u64::from(l.disk_len);
            bytes += k.len() as u64 + u64::from(l.vlen);
            key_bytes += k.len() as u64;
        }
        self.bytes = bytes;
        self.key_bytes = key_bytes;
        self.index.shrink();
        Ok(())
    }

    /// Loads the checkpoint that starts segment `ckpt_seq` and replays everything after it.
    fn replay_from<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        ckpt_seq: u64,
        by_seq: &BTreeMap<u64, u32>,
    ) -> Result<()> {
        self.index.clear();
        self.chain_end = None;
        self.head = None;
        let chain: Vec<(u64, u32)> = by_seq.range(ckpt_seq..).map(|(q, s)| (*q, *s)).collect();
        for w in chain.windows(2) {
            let (pq, ps) = w[0];
            let s = &self.segs[w[1].1 as usize];
            if s.prev_seq != pq || s.prev_seg != ps {
                return Err(integ(IntegrityKind::Chain, w[1].1, 0));
            }
        }
        let mut st = ReplayState::default();
        for (i, &(seq, seg)) in chain.iter().enumerate() {
            let mut buf = alloc::vec![0u8; self.layout.seg_bytes()];
            dev(io.dev.read(self.layout.seg_block(seg), &mut buf))?;
            let v = SegView {
                bytes: &buf,
                base: 0,
                seq,
            };
            let mut pos = self.layout.log_start();
            let end = loop {
                match read_record(io.eng, self.key, v, pos) {
                    Next::Record(rec) => {
                        pos = rec.off + rec.disk_len;
                        if rec.stream == stream::LINK {
                            let mut r = Reader::new(&rec.plain);
                            let ok = r.u8()? == kind::LINK;
                            let (nq, ns) = (r.u64()?, r.u32()?);
                            r.finish()?;
                            if !ok || chain.get(i + 1) != Some(&(nq, ns)) {
                                return Err(integ(IntegrityKind::Chain, seg, rec.off));
                            }
                            break rec.off;
                        }
                        self.replay_record(&mut st, seg, &rec)?;
                    }
                    Next::End { end, bad } => {
                        if let Some(at) = authentic_after(io.eng, self.key, v, bad, self.layout.bs)
                        {
                            return Err(integ(IntegrityKind::DataAfterEnd, seg, at));
                        }
                        break end;
                    }
                }
            };
            match chain.get(i + 1) {
                Some(&(_, next)) => {
                    if self.segs[next as usize].prev_len as usize != end {
                        return Err(integ(IntegrityKind::Chain, next, 0));
                    }
                }
                None => self.chain_end = Some((seg, seq, end)),
            }
        }
        if !st.ckpt_done {
            return Err(StoreError::integrity(IntegrityKind::Checkpoint));
        }
        self.ckpt_seq = ckpt_seq;
        self.segs_since_ckpt = chain.len() as u32;
        self.next_txn = self.next_txn.max(st.max_txn + 1).max(st.ckpt_next_txn);
        Ok(())
    }

    fn replay_record(
        &mut self,
        st: &mut ReplayState,
        seg: u32,
        rec: &super::super::seal::RawRecord,
    ) -> Result<()> {
        let bad = || integ(IntegrityKind::Record, seg, rec.off);
        let k = *rec.plain.first().ok_or_else(bad)?;
        let mut r = Reader::new(&rec.plain);
        r.u8()?;
        if !st.ckpt_done {
            // The checkpoint comes first: begin, entry batches, end.
            match (k, st.ckpt_begun) {
                (kind::CKPT_BEGIN, false) => {
                    self.chain = r.hash()?;
                    st.ckpt_next_txn = r.u64()?;
                    st.ckpt_entries = r.u64()?;
                    if r.u32()? != self.layout.seg_count {
                        return Err(integ(IntegrityKind::Checkpoint, seg, rec.off));
                    }
                    r.finish()?;
                    st.ckpt_begun = true;
                }
                (kind::CKPT_ENTRIES, true) => {
                    st.ckpt_hash.update(&rec.plain);
                    match r.u8()? {
                        0 => {
                            while !r.is_empty() {
                                let klen = r.u8()? as usize;
                                let key = r.take(klen)?;
                                let loc = Loc {
                                    seg: r.u32()?,
                                    off: r.u32()?,
                                    disk_len: r.u32()?,
                                    vlen: r.u32()?,
                                };
                                self.index.insert(key, loc);
                            }
                        }
                        1 => {
                            let first = r.u32()? as usize;
                            let count = r.u32()? as usize;
                            for i in 0..count {
                                let c = r.u32()?;
                                if let Some(s) =
                                    first.checked_add(i).and_then(|j| self.segs.get_mut(j))
                                {
                                    s.erase_count = s.erase_count.max(c);
                                }
                            }
                        }
                        _ => return Err(bad()),
                    }
                }
                (kind::CKPT_END, true) => {
                    let n = r.u64()?;
                    let h = r.hash()?;
                    r.finish()?;
                    let expect: [u8; 32] = core::mem::take(&mut st.ckpt_hash).finalize().into();
                    if n != st.ckpt_entries || n != self.index.len() as u64 || h != expect {
                        return Err(integ(IntegrityKind::Checkpoint, seg, rec.off));
                    }
                    st.ckpt_done = true;
                }
                _ => return Err(integ(IntegrityKind::Checkpoint, seg, rec.off)),
            }
            return Ok(());
        }
        match rec.stream {
            stream::TXN => match k {
                kind::PUT | kind::DELETE => {
                    let (txn, key, value) = record::decode_keyed(&rec.plain)?;
                    if txn < st.ckpt_next_txn || key.is_empty() {
                        return Err(bad());
                    }
                    st.max_txn = st.max_txn.max(txn);
                    let loc = value.map(|v| Loc {
                        seg,
                        off: rec.off as u32,
                        disk_len: rec.disk_len as u32,
                        vlen: v.len() as u32,
                    });
                    let p = st.pending.entry(txn).or_insert_with(|| Pending {
                        recs: Vec::new(),
                        tags: Sha256::new(),
                    });
                    for t in &rec.tags {
                        p.tags.update(t);
                    }
                    p.recs.push((Box::from(key), loc));
                }
                kind::COMMIT => {
                    let id = r.u64()?;
                    let n = r.u32()?;
                    let ch = r.hash()?;
                    r.finish()?;
                    let p = st.pending.remove(&id).ok_or_else(bad)?;
                    let tags: [u8; 32] = p.tags.finalize().into();
                    if p.recs.len() != n as usize || chain_next(&self.chain, id, n, &tags) != ch {
                        return Err(integ(IntegrityKind::Chain, seg, rec.off));
                    }
                    st.max_txn = st.max_txn.max(id);
                    self.chain = ch;
                    for (key, loc) in p.recs {
                        match loc {
                            Some(l) => {
                                self.index.insert(&key, l);
                            }
                            None => {
                                self.index.remove(&key);
                            }
                        }
                    }
                }
                _ => return Err(bad()),
            },
            // Records of a later checkpoint that did not complete (or did not verify) are
            // skipped: the state they describe is rebuilt from the log itself.
            stream::CKPT => {}
            stream::FOOTER => {
                if k != kind::FOOTER {
                    return Err(bad());
                }
                let f = AsuFooter::decode(r.rest()).ok_or_else(bad)?;
                if f.master_hash != self.chain {
                    return Err(integ(IntegrityKind::Footer, seg, rec.off));
                }
                self.modified_ns = self.modified_ns.max(f.modified_ns);
            }
            _ => return Err(bad()),
        }
        Ok(())
    }
}

#[derive(Default)]
struct ReplayState {
    ckpt_begun: bool,
    ckpt_done: bool,
    ckpt_entries: u64,
    ckpt_next_txn: u64,
    ckpt_hash: Sha256,
    max_txn: u64,
    pending: BTreeMap<u64, Pending>,
}

/// The first link of a region's hash chain.
fn genesis(uuid: &[u8; 16]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"zos-store/v1/chain");
    h.update(uuid);
    h.finalize().into()
}
