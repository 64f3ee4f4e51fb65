//! Where things are in a v2 region, and its superblock.
//!
//! ```text
//! | superblock (sb_units) | anchor ring (ring_units) | segment 0 | segment 1 | ... |
//! ```
//!
//! The superblock is v1's: the ASU header (with `format_revision` 2) and, at byte 128, the
//! sealed REGION_META record (stream 6, nonce `(0, 128)`), whose plaintext in version 2 is the
//! geometry: `u16 version = 2, u32 block_size, u32 unit_blocks, u32 sb_units, u32 ring_units,
//! u32 seg_units, u32 seg_count, u32 page_plaintext, u32 max_dirty (D)`. A wrong key makes it
//! fail to authenticate (`Integrity(RegionMetadata)`), like v1.

use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::block::{BlockDevice, ERASED};
use crate::chunk::codec::write_fills;
use crate::container::AsuHeader;
use crate::crypto::{CryptoEngine, KeyHandle};
use crate::store::anchor::RingLayout;
use crate::store::error::{Db, IntegrityKind, Result, StoreError};
use crate::store::record::{Reader, Writer, stream};
use crate::store::seal::{Next, SegView, read_record, seal_record};

/// Format version of v2 regions (REGION_META, anchors).
pub const VERSION: u16 = 2;
const META_KIND: u8 = 0x20;

/// Geometry of a v2 region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per block.
    pub bs: usize,
    /// Blocks per erase unit.
    pub unit_blocks: u32,
    /// Units of the superblock.
    pub sb_units: u32,
    /// Units of the anchor ring.
    pub ring_units: u32,
    /// Units per segment.
    pub seg_units: u32,
    /// Segments.
    pub seg_count: u32,
    /// Page plaintext bytes (994 or 4066).
    pub page_plain: u32,
    /// `D`: most dirty pages.
    pub max_dirty: u32,
}

impl Layout {
    /// Bytes per segment.
    pub fn seg_bytes(&self) -> usize {
        self.seg_units as usize * self.unit_blocks as usize * self.bs
    }
    /// First erase unit of segment `seg`.
    pub fn seg_unit(&self, seg: u32) -> u64 {
        u64::from(self.sb_units)
            + u64::from(self.ring_units)
            + u64::from(seg) * u64::from(self.seg_units)
    }
    /// First block of segment `seg`.
    pub fn seg_block(&self, seg: u32) -> u64 {
        self.seg_unit(seg) * u64::from(self.unit_blocks)
    }
    /// Where the log of a segment starts (after the two header blocks).
    pub fn log_start(&self) -> usize {
        2 * self.bs
    }
    /// The anchor ring.
    pub fn ring(&self) -> RingLayout {
        RingLayout {
            first_unit: u64::from(self.sb_units),
            units: self.ring_units,
            unit_blocks: self.unit_blocks,
            block_size: self.bs as u32,
        }
    }
    /// Units of the superblock for a device of this block and unit size.
    pub fn sb_units_for(unit_bytes: u64) -> u32 {
        4096u64.div_ceil(unit_bytes.max(1)).max(1) as u32
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(META_KIND);
        w.u8((VERSION & 0xFF) as u8).u8((VERSION >> 8) as u8);
        for x in [
            self.bs as u32,
            self.unit_blocks,
            self.sb_units,
            self.ring_units,
            self.seg_units,
            self.seg_count,
            self.page_plain,
            self.max_dirty,
        ] {
            w.u32(x);
        }
        w.0
    }

    fn decode(p: &[u8]) -> Result<Layout> {
        let bad = || StoreError::integrity(IntegrityKind::RegionMetadata);
        let mut r = Reader::new(p);
        if r.u8()? != META_KIND {
            return Err(bad());
        }
        let v = u16::from(r.u8()?) | (u16::from(r.u8()?) << 8);
        if v != VERSION {
            return Err(StoreError::BadGeometry);
        }
        let l = Layout {
            bs: r.u32()? as usize,
            unit_blocks: r.u32()?,
            sb_units: r.u32()?,
            ring_units: r.u32()?,
            seg_units: r.u32()?,
            seg_count: r.u32()?,
            page_plain: r.u32()?,
            max_dirty: r.u32()?,
        };
        r.finish().map_err(|_| bad())?;
        Ok(l)
    }
}

/// Derives the region data key (a v2 region uses its own HKDF info, `zos-store/v2/<name>`).
pub fn region_key<E: CryptoEngine>(
    eng: &mut E,
    master: KeyHandle,
    db: Db,
    uuid: &[u8; 16],
) -> Result<KeyHandle> {
    crate::store::region::derive_region_key(eng, master, b"zos-store/v2/", db, uuid)
}

fn sb_bytes(bs: usize) -> usize {
    512usize.div_ceil(bs) * bs
}

/// Erases the superblock units and writes the header and REGION_META.
pub fn write_superblock<D: BlockDevice, E: CryptoEngine>(
    dev: &mut D,
    eng: &mut E,
    key: KeyHandle,
    db: Db,
    uuid: [u8; 16],
    l: &Layout,
) -> Result<()> {
    let region_bytes = dev.geometry().total_bytes();
    let payload = l.seg_unit(0) * u64::from(l.unit_blocks) * l.bs as u64;
    let mut h = AsuHeader::new(region_bytes, payload, uuid, db.index() as u32);
    h.format_revision = u32::from(VERSION);
    let enc = h.encode();
    h.checksum_hash = Sha256::digest(&enc[..0x54]).into();
    let mut buf = Vec::with_capacity(sb_bytes(l.bs));
    buf.extend_from_slice(&h.encode());
    seal_record(
        eng,
        key,
        0,
        AsuHeader::SIZE,
        stream::REGION_META,
        &l.encode(),
        &mut buf,
        &mut |_| {},
    )?;
    let n = buf.len();
    buf.resize(sb_bytes(l.bs), 0);
    write_fills(&mut buf[n..]).map_err(|_| StoreError::BadGeometry)?;
    dev.erase(0, u64::from(l.sb_units))?;
    dev.write(0, &buf)?;
    dev.flush()?;
    Ok(())
}

/// Reads the superblock: the header's UUID and the geometry, after deriving the key.
pub fn read_superblock<D: BlockDevice, E: CryptoEngine>(
    dev: &mut D,
    eng: &mut E,
    master: KeyHandle,
    db: Db,
) -> Result<(Layout, KeyHandle)> {
    let bs = dev.geometry().block_size as usize;
    let mut buf = vec![0u8; sb_bytes(bs)];
    dev.read(0, &mut buf)?;
    if buf[..8].iter().all(|&b| b == ERASED) {
        return Err(StoreError::NotFormatted);
    }
    let h = AsuHeader::decode(&buf).ok_or(StoreError::integrity(IntegrityKind::RegionHeader))?;
    if h.format_revision != u32::from(VERSION) || h.region_kind != db.index() as u32 {
        return Err(StoreError::integrity(IntegrityKind::RegionHeader));
    }
    let key = region_key(eng, master, db, &h.encryption_salt)?;
    let v = SegView {
        bytes: &buf,
        base: 0,
        seq: 0,
    };
    let rec = match read_record(eng, key, v, AsuHeader::SIZE) {
        Next::Record(r) if r.off == AsuHeader::SIZE && r.stream == stream::REGION_META => r,
        _ => return Err(StoreError::integrity(IntegrityKind::RegionMetadata)),
    };
    let l = Layout::decode(&rec.plain)?;
    let g = dev.geometry();
    let units = u64::from(l.sb_units)
        + u64::from(l.ring_units)
        + u64::from(l.seg_count) * u64::from(l.seg_units);
    if l.bs != g.block_size as usize
        || l.unit_blocks != g.blocks_per_erase_unit
        || units > g.erase_units()
    {
        return Err(StoreError::BadGeometry);
    }
    Ok((l, key))
}
