//! Lookups, ordered prefix scans and the full integrity check.

use alloc::vec::Vec;
use core::ops::Bound;

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;

use super::super::error::{IntegrityKind, Result, StoreError};
use super::super::record::{self, Loc, stream};
use super::super::seal::{Next, SegView, read_record};
use super::{Io, Region};

/// What the integrity check found (it returns an error on the first problem).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Objects verified.
    pub objects: u64,
    /// Logical bytes verified.
    pub bytes: u64,
    /// Segments holding live data.
    pub live_segments: u32,
}

impl Region {
    /// Reads and authenticates the value stored for `key` at `loc`.
    pub(super) fn read_value<D: BlockDevice, E: CryptoEngine>(
        &self,
        io: &mut Io<'_, D, E>,
        key: &[u8],
        loc: Loc,
    ) -> Result<Vec<u8>> {
        let seq =
            self.segs
                .get(loc.seg as usize)
                .and_then(|s| s.seq)
                .ok_or(StoreError::integrity_at(
                    IntegrityKind::Dangling,
                    loc.seg,
                    loc.off as usize,
                ))?;
        let (buf, base) = self.read_span(io, loc.seg, loc.off as usize, loc.disk_len as usize)?;
        let v = SegView {
            bytes: &buf,
            base,
            seq,
        };
        let rec = match read_record(io.eng, self.key, v, loc.off as usize) {
            Next::Record(r) => r,
            Next::End { bad, .. } => {
                return Err(StoreError::integrity_at(IntegrityKind::Auth, loc.seg, bad));
            }
        };
        let mismatch =
            || StoreError::integrity_at(IntegrityKind::KeyMismatch, loc.seg, loc.off as usize);
        if rec.stream != stream::TXN
            || rec.off != loc.off as usize
            || rec.disk_len != loc.disk_len as usize
        {
            return Err(mismatch());
        }
        let (_, k, value) = record::decode_keyed(&rec.plain)?;
        let value = value.ok_or_else(mismatch)?;
        if k != key || value.len() != loc.vlen as usize {
            return Err(mismatch());
        }
        Ok(value.to_vec())
    }

    /// The committed value of `key`, from the value cache when it holds the record the index
    /// points at now (same location, same incarnation of the segment), else from the medium.
    pub fn get<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        io: &mut Io<'_, D, E>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let Some(loc) = self.index.get(key) else {
            return Ok(None);
        };
        // No sequence number: the index points at a segment without a valid header, which
        // `read_value` reports; nothing is cached for it.
        let seq = self.segs.get(loc.seg as usize).and_then(|s| s.seq);
        if let Some(seq) = seq
            && let Some(v) = self.cache.get(key, loc, seq)
        {
            return Ok(Some(v));
        }
        let v = self.read_value(io, key, loc)?;
        // `read_value` returned it, so CRC, tag, position, key and length were all verified.
        if let Some(seq) = seq {
            self.cache.insert(key, loc, seq, &v);
        }
        Ok(Some(v))
    }

    /// Whether `key` exists, and its value length (no device access).
    pub fn value_len(&self, key: &[u8]) -> Option<u32> {
        self.index.get(key).map(|l| l.vlen)
    }

    /// Up to `limit` committed keys that start with `prefix`, in order, strictly after `after`
    /// (or from the first one).
    pub fn scan_keys(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<Vec<u8>> {
        let lower: Bound<&[u8]> = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        self.index
            .range(lower)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, _)| k.to_vec())
            .collect()
    }

    /// Full integrity check: remounts the region from the medium into a second state, compares
    /// it with this one, and reads and authenticates every live record.
    pub fn check<D: BlockDevice, E: CryptoEngine>(
        &self,
        io: &mut Io<'_, D, E>,
    ) -> Result<CheckReport> {
        let mut fresh = Region::empty(self.db, self.layout, self.key, self.meta.clone());
        fresh.load(io)?;
        let acct = || StoreError::integrity(IntegrityKind::Accounting);
        if fresh.index != self.index || fresh.chain != self.chain || fresh.bytes != self.bytes {
            return Err(acct());
        }
        for (a, b) in fresh.segs.iter().zip(&self.segs) {
            if a.live != b.live {
                return Err(acct());
            }
        }
        let mut report = CheckReport {
            objects: 0,
            bytes: 0,
            live_segments: 0,
        };
        for (k, loc) in self.index.iter() {
            let v = self.read_value(io, k, loc)?;
            report.objects += 1;
            report.bytes += (k.len() + v.len()) as u64;
        }
        report.live_segments = self.segs.iter().filter(|s| s.live > 0).count() as u32;
        if report.bytes != self.bytes || report.objects != self.index.len() as u64 {
            return Err(acct());
        }
        Ok(report)
    }

    /// Every committed key in order (for tests and tools).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.index.iter().map(|(k, _)| k)
    }

    /// Bytes of RAM held by the index.
    pub fn index_ram_bytes(&self) -> usize {
        self.index.ram_bytes()
    }
}
