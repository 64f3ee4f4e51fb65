//! Segment headers, appending sealed records, and moving to a new segment.
//!
//! Write order that makes every crash state recoverable (see FORMAT.md, "Recovery"): erase the
//! new segment; program block 0 (plaintext file header chunk naming the sequence number) and
//! flush; program block 1 (sealed segment metadata) and flush; append a link record to the old
//! segment and flush. The sequence number is durable before anything is sealed under it, so
//! nonces never repeat after a crash.

use alloc::vec::Vec;

use crate::block::BlockDevice;
use crate::chunk::codec::{parse_chunk, write_file_header, write_fills};
use crate::crypto::{CryptoEngine, KeyHandle};

use super::super::error::{IntegrityKind, Result, StoreError};
use super::super::record::{Reader, Writer, kind, stream};
use super::super::seal::{SegView, open_chunk, seal_record, sealed_len};
use super::{Head, Io, Region, SegState, dev};

const IDENT_PREFIX: &[u8] = b"ZOS1:";

/// Identifier string of a segment's file header chunk: `ZOS1:` and the sequence number as 16
/// lowercase hex digits.
pub(crate) fn ident(seq: u64) -> [u8; 21] {
    let mut out = [0u8; 21];
    out[..5].copy_from_slice(IDENT_PREFIX);
    for i in 0..16 {
        let nib = ((seq >> (60 - 4 * i)) & 0xF) as u8;
        out[5 + i] = if nib < 10 {
            b'0' + nib
        } else {
            b'a' + nib - 10
        };
    }
    out
}

/// The two header blocks of a segment incarnation `seq`, each `bs` bytes and padded with fill
/// chunks: block 0, the plaintext file header naming `seq`; block 1, the sealed SEG_META
/// record carrying `meta` (v1 and v2 put different fields in it). Shared by both engines, so
/// a segment opens the same way whatever writes it.
pub(crate) fn header_blocks<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    seq: u64,
    bs: usize,
    meta: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut b0 = alloc::vec![0u8; bs];
    let n = write_file_header(&mut b0, 1, 0, &ident(seq)).map_err(|_| StoreError::BadGeometry)?;
    write_fills(&mut b0[n..]).map_err(|_| StoreError::BadGeometry)?;
    let mut b1 = Vec::with_capacity(bs);
    seal_record(
        eng,
        key,
        seq,
        bs,
        stream::SEG_META,
        meta,
        &mut b1,
        &mut |_| {},
    )?;
    let n = b1.len();
    b1.resize(bs, 0);
    write_fills(&mut b1[n..]).map_err(|_| StoreError::BadGeometry)?;
    Ok((b0, b1))
}

/// The sequence number in a segment's block 0, if its file header chunk is intact.
pub(crate) fn parse_ident(block0: &[u8]) -> Option<u64> {
    let c = parse_chunk(block0).ok()?;
    let (minor, major, id) = c.file_header().ok()?;
    if minor != 1 || major != 0 || id.len() != 21 || &id[..5] != IDENT_PREFIX {
        return None;
    }
    let mut seq = 0u64;
    for &b in &id[5..] {
        let nib = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        seq = (seq << 4) | u64::from(nib);
    }
    Some(seq)
}

/// Decoded sealed segment metadata.
pub(super) struct SegMeta {
    pub db: u8,
    pub ckpt_start: bool,
    pub erase_count: u32,
    pub prev_seq: u64,
    pub prev_seg: u32,
    pub prev_len: u32,
}

impl Region {
    /// Reads and authenticates the header of segment `seg`: `(ident seq, metadata)`.
    pub(super) fn read_seg_header<D: BlockDevice, E: CryptoEngine>(
        &self,
        io: &mut Io<'_, D, E>,
        seg: u32,
    ) -> Result<(Option<u64>, Option<SegMeta>)> {
        let bs = self.layout.bs;
        let mut buf = alloc::vec![0u8; 2 * bs];
        dev(io.dev.read(self.layout.seg_block(seg), &mut buf))?;
        let Some(seq) = parse_ident(&buf[..bs]) else {
            return Ok((None, None));
        };
        let v = SegView {
            bytes: &buf,
            base: 0,
            seq,
        };
        let Some((h, _, plain, _)) = open_chunk(io.eng, self.key, v, bs) else {
            return Ok((Some(seq), None));
        };
        if h.stream_id != stream::SEG_META || !h.eof || h.offset != 0 {
            return Ok((Some(seq), None));
        }
        let mut r = Reader::new(&plain);
        let parse = |r: &mut Reader<'_>| -> Result<SegMeta> {
            if r.u8()? != kind::SEG_META {
                return Err(StoreError::integrity(IntegrityKind::SegmentHeader));
            }
            let m = SegMeta {
                db: r.u8()?,
                ckpt_start: r.u8()? != 0,
                erase_count: r.u32()?,
                prev_seq: r.u64()?,
                prev_seg: r.u32()?,
                prev_len: r.u32()?,
            };
            r.finish()?;
            Ok(m)
        };
        match parse(&mut r) {
            Ok(m) if m.db == self.db.index() as u8 => Ok((Some(seq), Some(m))),
            _ => Ok((Some(seq), None)),
        }
    }

    /// Erases `seg` and writes its header; it becomes the head.
    pub(super) fn open_segment<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        seg: u32,
        ckpt_start: bool,
        prev: (u64, u32, usize),
    ) -> Result<()> {
        let bs = self.layout.bs;
        let seq = self.next_seq;
        self.next_seq += 1;
        let erase_count = self.segs[seg as usize].erase_count.saturating_add(1);
        // Forget the old contents before erasing: a crash mid-erase leaves garbage, not data.
        // Cached values read from the old incarnation stop matching here: the value cache checks
        // the segment's sequence number, which changes now.
        self.segs[seg as usize] = SegState {
            erase_count,
            ..SegState::default()
        };
        dev(io
            .dev
            .erase(self.layout.seg_unit(seg), self.layout.seg_units))?;
        let block = self.layout.seg_block(seg);
        let mut w = Writer::new(kind::SEG_META);
        w.u8(self.db.index() as u8)
            .u8(u8::from(ckpt_start))
            .u32(erase_count)
            .u64(prev.0)
            .u32(prev.1)
            .u32(prev.2 as u32);
        let (b0, b1) = header_blocks(io.eng, self.key, seq, bs, &w.0)?;
        dev(io.dev.write(block, &b0))?;
        dev(io.dev.flush())?;
        dev(io.dev.write(block + 1, &b1))?;
        dev(io.dev.flush())?;
        self.segs[seg as usize] = SegState {
            seq: Some(seq),
            erase_count,
            live: 0,
            prev_seq: prev.0,
            prev_seg: prev.1,
            prev_len: prev.2 as u32,
            ckpt_start,
        };
        self.head = Some(Head {
            seg,
            seq,
            pos: self.layout.log_start(),
            tail: Vec::new(),
            tail_start: self.layout.log_start(),
        });
        self.chain_end = None;
        self.segs_since_ckpt += 1;
        Ok(())
    }

    /// Picks the free segment with the fewest erases (wear spreading).
    fn pick_free(&self) -> Option<u32> {
        (0..self.segs.len())
            .filter(|&i| self.is_free(i))
            .min_by_key(|&i| (self.segs[i].erase_count, i))
            .map(|i| i as u32)
    }

    /// Moves the log to a fresh segment, linking the old head to it.
    pub(super) fn roll<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        ckpt_start: bool,
    ) -> Result<()> {
        let seg = self.pick_free().ok_or(StoreError::NoSpace)?;
        let mut old = self.head.take();
        if let Some(h) = old.as_mut() {
            // Make the old head's tail durable first, so that its valid end on the medium is
            // exactly the length the new segment records, whether or not the link lands.
            if let Err(e) = self.pad_and_sync(io, h) {
                self.head = old;
                return Err(e);
            }
        }
        let prev = match (&old, self.chain_end) {
            (Some(h), _) => (h.seq, h.seg, h.pos),
            (None, Some((s, q, end))) => (q, s, end),
            (None, None) => (0, 0, 0),
        };
        self.open_segment(io, seg, ckpt_start, prev)?;
        let new_head = self.head.take();
        if let (Some(mut h), Some(nh)) = (old, new_head.as_ref()) {
            let mut w = Writer::new(kind::LINK);
            w.u64(nh.seq).u32(nh.seg);
            self.seal_into(io, &mut h, stream::LINK, &w.0, &mut |_| {})?;
            self.pad_and_sync(io, &mut h)?;
        }
        self.head = new_head;
        Ok(())
    }

    /// Seals a record at the head's position and writes every completed block.
    fn seal_into<D: BlockDevice, E: CryptoEngine>(
        &self,
        io: &mut Io<'_, D, E>,
        h: &mut Head,
        stream_id: u32,
        plain: &[u8],
        tags: &mut dyn FnMut(&[u8; 16]),
    ) -> Result<usize> {
        let off = h.pos;
        seal_record(
            io.eng,
            self.key,
            h.seq,
            h.pos,
            stream_id,
            plain,
            &mut h.tail,
            tags,
        )?;
        h.pos = h.tail_start + h.tail.len();
        self.write_full_blocks(io, h)?;
        Ok(off)
    }

    fn write_full_blocks<D: BlockDevice, E>(
        &self,
        io: &mut Io<'_, D, E>,
        h: &mut Head,
    ) -> Result<()> {
        let bs = self.layout.bs;
        let n = h.tail.len() / bs * bs;
        if n > 0 {
            let block = self.layout.seg_block(h.seg) + (h.tail_start / bs) as u64;
            dev(io.dev.write(block, &h.tail[..n]))?;
            h.tail.drain(..n);
            h.tail_start += n;
        }
        Ok(())
    }

    /// Pads the partial block with fill chunks, writes it, and flushes the device.
    pub(super) fn pad_and_sync<D: BlockDevice, E>(
        &self,
        io: &mut Io<'_, D, E>,
        h: &mut Head,
    ) -> Result<()> {
        let bs = self.layout.bs;
        let pad = (bs - h.pos % bs) % bs;
        if pad > 0 {
            let start = h.tail.len();
            h.tail.resize(start + pad, 0);
            write_fills(&mut h.tail[start..]).map_err(|_| StoreError::BadGeometry)?;
            h.pos += pad;
        }
        self.write_full_blocks(io, h)?;
        dev(io.dev.flush())
    }

    /// Appends a record, moving to a new segment first if it does not fit together with
    /// `then` more bytes (the room a transaction's record keeps for its commit record).
    /// `internal` appends (cleaning, checkpoints) may use the reserved segments.
    pub(super) fn append<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        stream_id: u32,
        plain: &[u8],
        internal: bool,
        then: usize,
        tags: &mut dyn FnMut(&[u8; 16]),
    ) -> Result<(u32, usize, usize)> {
        let need = sealed_len(plain.len());
        if need + then > self.seg_capacity() {
            return Err(StoreError::InvalidArgument);
        }
        self.ensure_room(io, need + then, internal)?;
        let Some(mut h) = self.head.take() else {
            return Err(StoreError::NoSpace);
        };
        let r = self.seal_into(io, &mut h, stream_id, plain, tags);
        let seg = h.seg;
        self.head = Some(h);
        let off = r?;
        Ok((seg, off, need))
    }

    /// Makes sure the head has room for `need` bytes of chunks, cleaning, checkpointing and
    /// moving to a new segment as needed. Callers that record state in the next record (the
    /// hash chain in a commit) call this first, so no cleaning commit slips in between.
    pub(super) fn ensure_room<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        need: usize,
        internal: bool,
    ) -> Result<()> {
        // Once the store has dipped into its reserve (a delete opened a reserved segment), the
        // head is reserved space: only cleaning, checkpoints and records that free at least what
        // they write may use it, even where they fit.
        let may_use_head = |r: &Self| internal || r.shrinking || r.free_at_least(r.reserve());
        loop {
            if let Some(h) = &self.head
                && self.fits(h, need)
                && may_use_head(self)
            {
                return Ok(());
            }
            self.make_free(io, internal)?;
            // Cleaning may have moved the head to a segment with room.
            if let Some(h) = &self.head
                && self.fits(h, need)
            {
                return Ok(());
            }
            self.roll(io, false)?;
        }
    }

    /// Whether `need` more bytes fit in the head while leaving a whole block for the link (a
    /// commit pads to the block end, so the link always starts a block of its own).
    fn fits(&self, h: &Head, need: usize) -> bool {
        let bs = self.layout.bs;
        (h.pos + need).div_ceil(bs) * bs + self.layout.link_reserve() <= self.layout.seg_bytes()
    }

    /// Pads and flushes the head, if any.
    pub(super) fn sync_head<D: BlockDevice, E>(&mut self, io: &mut Io<'_, D, E>) -> Result<()> {
        if let Some(mut h) = self.head.take() {
            let r = self.pad_and_sync(io, &mut h);
            self.head = Some(h);
            r?;
        }
        Ok(())
    }
}
