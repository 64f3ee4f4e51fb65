//! Plaintext records of the log, before sealing and after opening.
//!
//! A record is a byte string whose first byte is its kind. Decoding checks every length against
//! the input: a malformed record becomes `IntegrityKind::Record`, never a panic.

use alloc::vec::Vec;

use super::error::{IntegrityKind, Result, StoreError};

/// Record kinds (first plaintext byte).
pub mod kind {
    /// A key gets a value inside a transaction.
    pub const PUT: u8 = 1;
    /// A key is removed inside a transaction.
    pub const DELETE: u8 = 2;
    /// A transaction becomes visible.
    pub const COMMIT: u8 = 3;
    /// The log continues in another segment.
    pub const LINK: u8 = 4;
    /// Clean-sync marker carrying the ASU footer.
    pub const FOOTER: u8 = 5;
    /// Start of a checkpoint.
    pub const CKPT_BEGIN: u8 = 6;
    /// A batch of checkpoint index entries.
    pub const CKPT_ENTRIES: u8 = 7;
    /// End of a checkpoint.
    pub const CKPT_END: u8 = 8;
    /// Segment metadata (the sealed part of a segment header).
    pub const SEG_META: u8 = 9;
}

/// Stream IDs used in continuation chunks, one per record class.
pub mod stream {
    /// Segment metadata.
    pub const SEG_META: u32 = 1;
    /// Transaction records (put, delete, commit).
    pub const TXN: u32 = 2;
    /// Checkpoint records.
    pub const CKPT: u32 = 3;
    /// Links.
    pub const LINK: u32 = 4;
    /// Footers.
    pub const FOOTER: u32 = 5;
    /// Region metadata in the superblock area.
    pub const REGION_META: u32 = 6;
}

/// Where a record lives: physical segment, byte offset of its first chunk, bytes of chunks it
/// occupies, and the length of its value (for puts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// Physical segment number inside the region.
    pub seg: u32,
    /// Byte offset of the record's first chunk inside the segment.
    pub off: u32,
    /// Bytes of chunks the record occupies.
    pub disk_len: u32,
    /// Value length.
    pub vlen: u32,
}

/// Appends little-endian integers and byte strings.
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A record of `kind`.
    pub fn new(kind: u8) -> Self {
        Writer(alloc::vec![kind])
    }
    /// u8.
    pub fn u8(&mut self, x: u8) -> &mut Self {
        self.0.push(x);
        self
    }
    /// u32.
    pub fn u32(&mut self, x: u32) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    /// u64.
    pub fn u64(&mut self, x: u64) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// Reads little-endian integers and byte strings with bounds checks.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bad() -> StoreError {
    StoreError::integrity(IntegrityKind::Record)
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    /// `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(bad)?;
        let s = self.buf.get(self.pos..end).ok_or_else(bad)?;
        self.pos = end;
        Ok(s)
    }
    /// u8.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// u32.
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// u64.
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// 32 bytes.
    pub fn hash(&mut self) -> Result<[u8; 32]> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    /// The rest.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos.min(self.buf.len())..];
        self.pos = self.buf.len();
        s
    }
    /// True when everything was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// Fails unless everything was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.is_empty() { Ok(()) } else { Err(bad()) }
    }
}

/// Plaintext of a put record: kind, txn, key length, key, value.
pub fn put(txn: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(kind::PUT);
    w.u64(txn).u8(key.len() as u8).bytes(key).bytes(value);
    w.0
}

/// Plaintext of a delete record.
pub fn delete(txn: u64, key: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(kind::DELETE);
    w.u64(txn).u8(key.len() as u8).bytes(key);
    w.0
}

/// Bytes before the key in a put or delete record.
pub const KEYED_HEADER: usize = 1 + 8 + 1;

/// A decoded put or delete: transaction, key, value (`None` for a delete).
pub type Keyed<'a> = (u64, &'a [u8], Option<&'a [u8]>);

/// A decoded put or delete: (txn, key, value or `None` for delete).
pub fn decode_keyed(p: &[u8]) -> Result<Keyed<'_>> {
    let mut r = Reader::new(p);
    let k = r.u8()?;
    let txn = r.u64()?;
    let klen = r.u8()? as usize;
    let key = r.take(klen)?;
    match k {
        kind::PUT => Ok((txn, key, Some(r.rest()))),
        kind::DELETE => {
            r.finish()?;
            Ok((txn, key, None))
        }
        _ => Err(bad()),
    }
}
