//! The medium of one v2 region: the device, the crypto engine, the two open heads (J, the
//! journal; I, index pages), segment opening under the sequence-number reservation, the delta
//! table and the free-segment queue. It is the tree's [`PageStore`]: a page is one sealed
//! continuation chunk of stream [`STREAM_INDEX`] in a segment of head I, and a page pointer is
//! `(seg, off, seq)` — the page is opened with nonce `(seq, off)`, so a stale, substituted or
//! torn page fails authentication and is a typed integrity error, never wrong data.
//!
//! Write order when opening a segment (any head): erase, block 0 (plaintext sequence number),
//! flush, block 1 (sealed SEG_META: version, head class, erase count), flush. A J segment is
//! then linked from the old J head (LINK record, pad, flush) — replay follows LINKs. An I
//! segment is only ever opened inside a checkpoint, whose CKPT record carries its SIT state, so
//! it needs no announcement in J.

use alloc::vec;
use alloc::vec::Vec;

use crate::block::BlockDevice;
use crate::chunk::codec::write_fills;
use crate::crypto::{CryptoEngine, KeyHandle, TAG_LEN};
use crate::store::btree::{PagePtr, PageStore};
use crate::store::error::{IntegrityKind, Result, StoreError};
use crate::store::record::{Reader, Writer, kind, stream};
use crate::store::region::segment::{header_blocks, parse_ident};
use crate::store::seal::{
    Next, RawRecord, SegView, open_chunk, read_record, seal_record, sealed_len,
};

use super::layout::Layout;
use super::sit::{DeltaTable, SitEntry, class};

/// Stream ID of index pages.
pub const STREAM_INDEX: u32 = 9;
/// SEG_META version byte of v2 segments.
const SEG_VERSION: u8 = 2;

/// A location in the log: segment, offset of the first chunk, segment sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogPos {
    /// Segment.
    pub seg: u32,
    /// Byte offset.
    pub off: u32,
    /// Sequence number of the incarnation.
    pub seq: u64,
}

/// An open head: the segment being appended to and its unwritten partial block.
#[derive(Debug)]
pub struct Head {
    /// Segment.
    pub seg: u32,
    /// Its sequence number.
    pub seq: u64,
    /// Next byte to append at.
    pub pos: usize,
    tail: Vec<u8>,
    tail_start: usize,
}

/// Counters of device work (tests and benches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediumStats {
    /// Pages read from the medium.
    pub page_reads: u64,
    /// Pages written.
    pub page_writes: u64,
    /// Segments opened.
    pub segments_opened: u64,
}

/// Device, engine, heads, sequence numbers, deltas and free queue of one region.
pub struct Medium<D, E> {
    /// The device.
    pub dev: D,
    /// The engine.
    pub eng: E,
    /// The region data key.
    pub key: KeyHandle,
    /// Geometry.
    pub lay: Layout,
    /// Journal head.
    pub j: Option<Head>,
    /// Index head.
    pub i: Option<Head>,
    /// The next sequence number to open a segment with.
    pub next_seq: u64,
    /// The highest sequence number a durable anchor allows.
    pub seq_limit: u64,
    /// Changes of segment state since the last fold.
    pub deltas: DeltaTable,
    /// Segments known to be free in the newest durable checkpoint's state (with erase counts).
    pub free: Vec<(u32, u32)>,
    /// Journal bytes appended since the last checkpoint.
    pub journal_bytes: u64,
    /// Counters.
    pub stats: MediumStats,
    /// The sealed bytes of the page being read (allocated on the first page read, then reused:
    /// a point read of a large store reads a page nearly every time, see `page_read.rs`).
    pub page_io: Vec<u8>,
}

impl<D: BlockDevice, E: CryptoEngine> Medium<D, E> {
    /// Bytes of one sealed page.
    pub fn page_chunk(&self) -> usize {
        sealed_len(self.lay.page_plain as usize)
    }

    fn head(&mut self, cls: u8) -> &mut Option<Head> {
        if cls == class::INDEX {
            &mut self.i
        } else {
            &mut self.j
        }
    }

    /// Reads and authenticates the header of `seg`: its sequence number and SEG_META.
    pub fn read_header(&mut self, seg: u32) -> Result<Option<(u64, u8, u32)>> {
        let bs = self.lay.bs;
        let mut buf = vec![0u8; 2 * bs];
        self.dev.read(self.lay.seg_block(seg), &mut buf)?;
        let Some(seq) = parse_ident(&buf[..bs]) else {
            return Ok(None);
        };
        let v = SegView {
            bytes: &buf,
            base: 0,
            seq,
        };
        let Some((h, _, plain, _)) = open_chunk(&mut self.eng, self.key, v, bs) else {
            return Ok(None);
        };
        if h.stream_id != stream::SEG_META || !h.eof || h.offset != 0 {
            return Ok(None);
        }
        let mut r = Reader::new(&plain);
        let parsed = (|| -> Result<(u8, u8, u32)> {
            let k = r.u8()?;
            let v = r.u8()?;
            let c = r.u8()?;
            let e = r.u32()?;
            r.finish()?;
            if k != kind::SEG_META || v != SEG_VERSION {
                return Err(StoreError::integrity(IntegrityKind::SegmentHeader));
            }
            Ok((c, v, e))
        })();
        Ok(parsed.ok().map(|(c, _, e)| (seq, c, e)))
    }

    /// Erases a free segment and writes its header for head class `cls`; returns it. The
    /// sequence number must be covered by a durable anchor (`Integrity(Anchor)` otherwise: a
    /// caller bug, reported instead of risking a nonce).
    fn open_segment(&mut self, cls: u8) -> Result<(u32, u64)> {
        if self.next_seq > self.seq_limit {
            return Err(StoreError::integrity(IntegrityKind::Anchor));
        }
        // Least-erased free segment first (dynamic wear levelling within the queue).
        let Some(ix) = (0..self.free.len()).min_by_key(|&i| (self.free[i].1, self.free[i].0))
        else {
            return Err(StoreError::NoSpace);
        };
        let (seg, erases) = self.free.swap_remove(ix);
        let seq = self.next_seq;
        self.next_seq += 1;
        let erase = erases.saturating_add(1);
        self.deltas.opened(
            seg,
            SitEntry {
                seq,
                live: 0,
                erase,
                class: cls,
            },
        );
        let bs = self.lay.bs;
        self.dev
            .erase(self.lay.seg_unit(seg), u64::from(self.lay.seg_units))?;
        let block = self.lay.seg_block(seg);
        let mut w = Writer::new(kind::SEG_META);
        w.u8(SEG_VERSION).u8(cls).u32(erase);
        let (b0, b1) = header_blocks(&mut self.eng, self.key, seq, bs, &w.0)?;
        self.dev.write(block, &b0)?;
        self.dev.flush()?;
        self.dev.write(block + 1, &b1)?;
        self.dev.flush()?;
        self.stats.segments_opened += 1;
        Ok((seg, seq))
    }

    /// Whether `need` bytes fit in the head (a J head keeps its last block for a LINK).
    fn fits(&self, h: &Head, need: usize) -> bool {
        let bs = self.lay.bs;
        (h.pos + need).div_ceil(bs) * bs + bs <= self.lay.seg_bytes()
    }

    /// Makes sure head `cls` can take `need` bytes, moving it to a fresh segment if not (J: the
    /// old head is padded and flushed, the new one opened, then LINKed from the old one).
    pub fn ensure_room(&mut self, cls: u8, need: usize) -> Result<()> {
        let bs = self.lay.bs;
        if need + self.lay.log_start() + bs > self.lay.seg_bytes() {
            return Err(StoreError::InvalidArgument);
        }
        let h = if cls == class::INDEX {
            &self.i
        } else {
            &self.j
        };
        if h.as_ref().is_some_and(|h| self.fits(h, need)) {
            return Ok(());
        }
        if let Some(mut h) = self.head(cls).take() {
            let r = self.pad_and_sync(&mut h);
            *self.head(cls) = Some(h);
            r?;
        }
        let (seg, seq) = self.open_segment(cls)?;
        let new = Head {
            seg,
            seq,
            pos: self.lay.log_start(),
            tail: Vec::new(),
            tail_start: self.lay.log_start(),
        };
        let old = self.head(cls).replace(new);
        if cls == class::JOURNAL
            && let Some(mut h) = old
        {
            let mut w = Writer::new(kind::LINK);
            w.u64(seq).u32(seg);
            self.seal_into(&mut h, stream::LINK, &w.0, &mut |_| {})?;
            self.pad_and_sync(&mut h)?;
        }
        Ok(())
    }

    /// Appends a record to head `cls`; returns where it starts and its bytes on the medium.
    pub fn append(
        &mut self,
        cls: u8,
        stream_id: u32,
        plain: &[u8],
        tags: &mut dyn FnMut(&[u8; TAG_LEN]),
    ) -> Result<(LogPos, usize)> {
        let need = sealed_len(plain.len());
        self.ensure_room(cls, need)?;
        let Some(mut h) = self.head(cls).take() else {
            return Err(StoreError::NoSpace);
        };
        let r = self.seal_into(&mut h, stream_id, plain, tags);
        let pos = LogPos {
            seg: h.seg,
            off: h.pos as u32,
            seq: h.seq,
        };
        *self.head(cls) = Some(h);
        let off = r?;
        if cls == class::JOURNAL {
            self.journal_bytes += need as u64;
        }
        Ok((
            LogPos {
                off: off as u32,
                ..pos
            },
            need,
        ))
    }

    fn seal_into(
        &mut self,
        h: &mut Head,
        stream_id: u32,
        plain: &[u8],
        tags: &mut dyn FnMut(&[u8; TAG_LEN]),
    ) -> Result<usize> {
        let off = h.pos;
        seal_record(
            &mut self.eng,
            self.key,
            h.seq,
            h.pos,
            stream_id,
            plain,
            &mut h.tail,
            tags,
        )?;
        h.pos = h.tail_start + h.tail.len();
        self.write_full_blocks(h)?;
        Ok(off)
    }

    fn write_full_blocks(&mut self, h: &mut Head) -> Result<()> {
        let bs = self.lay.bs;
        let n = h.tail.len() / bs * bs;
        if n > 0 {
            let block = self.lay.seg_block(h.seg) + (h.tail_start / bs) as u64;
            self.dev.write(block, &h.tail[..n])?;
            h.tail.drain(..n);
            h.tail_start += n;
        }
        Ok(())
    }

    fn pad_and_sync(&mut self, h: &mut Head) -> Result<()> {
        let bs = self.lay.bs;
        let pad = (bs - h.pos % bs) % bs;
        if pad > 0 {
            let start = h.tail.len();
            h.tail.resize(start + pad, 0);
            write_fills(&mut h.tail[start..]).map_err(|_| StoreError::BadGeometry)?;
            h.pos += pad;
        }
        self.write_full_blocks(h)?;
        self.dev.flush()?;
        Ok(())
    }

    /// Pads and flushes head `cls` (a durability point).
    pub fn sync(&mut self, cls: u8) -> Result<()> {
        if let Some(mut h) = self.head(cls).take() {
            let r = self.pad_and_sync(&mut h);
            *self.head(cls) = Some(h);
            r?;
        }
        Ok(())
    }

    /// Reads whole blocks of `seg` covering `[off, off + len)` (clipped to the segment).
    pub fn read_span(&mut self, seg: u32, off: usize, len: usize) -> Result<(Vec<u8>, usize)> {
        let bs = self.lay.bs;
        let seg_bytes = self.lay.seg_bytes();
        let start = off / bs * bs;
        let end = off
            .saturating_add(len)
            .div_ceil(bs)
            .saturating_mul(bs)
            .min(seg_bytes);
        if seg >= self.lay.seg_count || start >= end {
            return Err(StoreError::integrity_at(IntegrityKind::Dangling, seg, off));
        }
        let mut buf = vec![0u8; end - start];
        self.dev
            .read(self.lay.seg_block(seg) + (start / bs) as u64, &mut buf)?;
        Ok((buf, start))
    }

    /// Reads the record at `p` that occupies `disk_len` bytes; anything else there (stale
    /// location, other record, torn or tampered chunk) is an integrity error.
    pub fn read_at(&mut self, p: LogPos, disk_len: usize) -> Result<RawRecord> {
        let (buf, base) = self.read_span(p.seg, p.off as usize, disk_len)?;
        let v = SegView {
            bytes: &buf,
            base,
            seq: p.seq,
        };
        match read_record(&mut self.eng, self.key, v, p.off as usize) {
            Next::Record(r) if r.off == p.off as usize && r.disk_len == disk_len => Ok(r),
            _ => Err(StoreError::integrity_at(
                IntegrityKind::Auth,
                p.seg,
                p.off as usize,
            )),
        }
    }
}

impl<D: BlockDevice, E: CryptoEngine> PageStore for Medium<D, E> {
    fn read(&mut self, ptr: PagePtr, buf: &mut [u8]) -> Result<()> {
        if self.read_page_direct(ptr, buf)? {
            self.stats.page_reads += 1;
            return Ok(());
        }
        // A page that does not start and end on block boundaries (pages smaller than a block):
        // read the blocks around it and open it as a record.
        let chunk = self.page_chunk();
        let p = LogPos {
            seg: ptr.seg,
            off: ptr.off,
            seq: ptr.seq,
        };
        let r = self.read_at(p, chunk)?;
        if r.stream != STREAM_INDEX || r.plain.len() != buf.len() {
            return Err(StoreError::integrity_at(
                IntegrityKind::Record,
                ptr.seg,
                ptr.off as usize,
            ));
        }
        buf.copy_from_slice(&r.plain);
        self.stats.page_reads += 1;
        Ok(())
    }

    fn write(&mut self, page: &[u8]) -> Result<PagePtr> {
        let (p, len) = self.append(class::INDEX, STREAM_INDEX, page, &mut |_| {})?;
        self.deltas.add(p.seg, len as i64);
        self.stats.page_writes += 1;
        Ok(PagePtr {
            seg: p.seg,
            off: p.off,
            seq: p.seq,
        })
    }

    fn mark_dead(&mut self, ptr: PagePtr) {
        let chunk = self.page_chunk() as i64;
        self.deltas.add(ptr.seg, -chunk);
    }
}
