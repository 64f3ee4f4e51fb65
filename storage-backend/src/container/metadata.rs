//! Typed metadata entries of a region (ASU metadata section), sealed in one chunk.
//!
//! Layout: a 32-byte section header (version u32, entry count u32, section size u64, next
//! section offset u64, one reserved u64 — the document lists two but gives the header 32
//! bytes), then entries of `type u16, size u16 (data bytes), flags u32, data`, each padded to 8
//! bytes.

use alloc::vec::Vec;

use crate::store::record::Reader;

/// Entry types.
pub mod meta_type {
    /// Region name (UTF-8).
    pub const FILENAME: u16 = 0x0001;
    /// Created and modified times: two u64 ns since the epoch.
    pub const TIMESTAMP: u16 = 0x0002;
    /// Creator (UTF-8, up to 32 bytes).
    pub const AUTHOR: u16 = 0x0003;
    /// Container UUID (16 bytes).
    pub const CONTAINER_ID: u16 = 0x0100;
    /// Geometry: block size u32, units per segment u32, segment count u32, superblock units u32.
    pub const GEOMETRY: u16 = 0x0101;
    /// Limits: max objects u64, max bytes u64.
    pub const LIMITS: u16 = 0x0102;
}

/// Decoded metadata.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Region name.
    pub name: Vec<u8>,
    /// Creation time, ns.
    pub created_ns: u64,
    /// Modification time at format, ns (later ones are in footers).
    pub modified_ns: u64,
    /// Creator.
    pub creator: Vec<u8>,
    /// Container UUID.
    pub uuid: [u8; 16],
    /// Block size.
    pub block_size: u32,
    /// Erase units per segment.
    pub seg_units: u32,
    /// Segments in the region.
    pub seg_count: u32,
    /// Erase units of the superblock area.
    pub sb_units: u32,
    /// Object limit.
    pub max_objects: u64,
    /// Byte limit.
    pub max_bytes: u64,
}

/// Size of the section header.
const SECTION_HEADER: usize = 32;

fn entry(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

impl Metadata {
    /// Encodes the section.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Vec::new();
        entry(&mut e, meta_type::FILENAME, &self.name);
        let mut ts = [0u8; 16];
        ts[..8].copy_from_slice(&self.created_ns.to_le_bytes());
        ts[8..].copy_from_slice(&self.modified_ns.to_le_bytes());
        entry(&mut e, meta_type::TIMESTAMP, &ts);
        entry(&mut e, meta_type::AUTHOR, &self.creator);
        entry(&mut e, meta_type::CONTAINER_ID, &self.uuid);
        let mut g = Vec::new();
        for x in [
            self.block_size,
            self.seg_units,
            self.seg_count,
            self.sb_units,
        ] {
            g.extend_from_slice(&x.to_le_bytes());
        }
        entry(&mut e, meta_type::GEOMETRY, &g);
        let mut l = Vec::new();
        l.extend_from_slice(&self.max_objects.to_le_bytes());
        l.extend_from_slice(&self.max_bytes.to_le_bytes());
        entry(&mut e, meta_type::LIMITS, &l);
        let mut out = Vec::new();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&6u32.to_le_bytes());
        out.extend_from_slice(&((SECTION_HEADER + e.len()) as u64).to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&e);
        out
    }

    /// Decodes the section; unknown entry types are skipped, missing required ones fail.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut r = Reader::new(b);
        let version = r.u32().ok()?;
        let count = r.u32().ok()?;
        let size = r.u64().ok()?;
        r.take(SECTION_HEADER - 16).ok()?;
        if version != 1 || size as usize != b.len() {
            return None;
        }
        let mut m = Metadata::default();
        let mut seen = 0u32;
        for _ in 0..count {
            let ty = u16::from_le_bytes(r.take(2).ok()?.try_into().ok()?);
            let len = u16::from_le_bytes(r.take(2).ok()?.try_into().ok()?) as usize;
            r.u32().ok()?;
            let data = r.take(len).ok()?;
            r.take((8 - (8 + len) % 8) % 8).ok()?;
            let mut d = Reader::new(data);
            match ty {
                meta_type::FILENAME => m.name = data.to_vec(),
                meta_type::TIMESTAMP => {
                    m.created_ns = d.u64().ok()?;
                    m.modified_ns = d.u64().ok()?;
                }
                meta_type::AUTHOR => m.creator = data.to_vec(),
                meta_type::CONTAINER_ID => m.uuid = data.try_into().ok()?,
                meta_type::GEOMETRY => {
                    m.block_size = d.u32().ok()?;
                    m.seg_units = d.u32().ok()?;
                    m.seg_count = d.u32().ok()?;
                    m.sb_units = d.u32().ok()?;
                }
                meta_type::LIMITS => {
                    m.max_objects = d.u64().ok()?;
                    m.max_bytes = d.u64().ok()?;
                }
                _ => continue,
            }
            seen |= match ty {
                meta_type::FILENAME => 1,
                meta_type::TIMESTAMP => 2,
                meta_type::AUTHOR => 4,
                meta_type::CONTAINER_ID => 8,
                meta_type::GEOMETRY => 16,
                _ => 32,
            };
        }
        r.finish().ok()?;
        // Every entry type above is required.
        if seen != 0b11_1111 || m.block_size == 0 || m.seg_count == 0 {
            return None;
        }
        Some(m)
    }
}
