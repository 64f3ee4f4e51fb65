//! Sealing records into continuation chunks and opening them again.
//!
//! A record of `n` plaintext bytes becomes one or more continuation chunks (stream ID = record
//! class, 48-bit offset = byte offset of the piece in the record, EOF bit on the last piece).
//! Each chunk's data is `AES-256-GCM(piece) || tag` with
//! nonce = `seq (u64 LE) || offset of the chunk in its segment (u32 LE)` and
//! AAD = chunk bytes 0..2 and 4..14 (header word, stream word, stream offset). The CRC is computed
//! over the ciphertext, so a torn chunk is caught before any decryption.

use alloc::vec;
use alloc::vec::Vec;

use crate::chunk::codec::{
    CONT_DATA_OFFSET, ChunkType, ContinuationHeader, MAX_CHUNK, exp_for_len, parse_chunk,
    write_continuation,
};
use crate::chunk::crc::chunk_crc;
use crate::crypto::{CryptoEngine, CryptoError, KeyHandle, NONCE_LEN, TAG_LEN};

use super::error::{IntegrityKind, Result, StoreError};

/// Largest plaintext piece per chunk.
pub const PIECE_MAX: usize = MAX_CHUNK - CONT_DATA_OFFSET - TAG_LEN;

/// The nonce of the chunk at `off` in the segment with sequence number `seq`.
pub fn nonce(seq: u64, off: u32) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&seq.to_le_bytes());
    n[8..].copy_from_slice(&off.to_le_bytes());
    n
}

fn piece_chunk_len(piece: usize) -> usize {
    // exp_for_len is Some for every piece <= PIECE_MAX.
    32usize << exp_for_len(CONT_DATA_OFFSET + piece + TAG_LEN).unwrap_or(7)
}

/// Bytes of chunks a record of `len` plaintext bytes occupies.
pub fn sealed_len(len: usize) -> usize {
    let full = len / PIECE_MAX;
    let rem = len % PIECE_MAX;
    let mut total = full * MAX_CHUNK;
    if rem > 0 || len == 0 {
        total += piece_chunk_len(rem);
    }
    total
}

/// The associated data of a continuation chunk: its header word and stream header.
pub(crate) fn aad(chunk: &[u8]) -> [u8; 12] {
    let mut a = [0u8; 12];
    a[..2].copy_from_slice(&chunk[..2]);
    a[2..].copy_from_slice(&chunk[4..14]);
    a
}

fn map_crypto(e: CryptoError, seg: u32, off: usize) -> StoreError {
    match e {
        CryptoError::AuthFailed => StoreError::integrity_at(IntegrityKind::Auth, seg, off),
        other => StoreError::Crypto(other),
    }
}

/// Seals `plain` as chunks placed at segment offset `off`, appending them to `out`. Every chunk's
/// tag is passed to `tags` (the transaction hash chain is built from them).
#[allow(clippy::too_many_arguments)]
pub fn seal_record<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    seq: u64,
    off: usize,
    stream: u32,
    plain: &[u8],
    out: &mut Vec<u8>,
    tags: &mut dyn FnMut(&[u8; TAG_LEN]),
) -> Result<()> {
    let base = out.len();
    let mut pos = 0usize;
    loop {
        let n = (plain.len() - pos).min(PIECE_MAX);
        let last = pos + n == plain.len();
        let size = piece_chunk_len(n);
        let start = out.len();
        out.resize(start + size, 0);
        let chunk = &mut out[start..];
        let mut data = vec![0u8; n + TAG_LEN];
        data[..n].copy_from_slice(&plain[pos..pos + n]);
        let h = ContinuationHeader {
            stream_id: stream,
            eof: last,
            offset: pos as u64,
        };
        write_continuation(chunk, h, &data).map_err(|_| StoreError::InvalidArgument)?;
        let chunk_off = off + (start - base);
        let nn = nonce(
            seq,
            u32::try_from(chunk_off).map_err(|_| StoreError::InvalidArgument)?,
        );
        let a = aad(chunk);
        let tag = eng
            .seal(
                key,
                &nn,
                &a,
                &mut chunk[CONT_DATA_OFFSET..CONT_DATA_OFFSET + n],
            )
            .map_err(StoreError::Crypto)?;
        chunk[CONT_DATA_OFFSET + n..CONT_DATA_OFFSET + n + TAG_LEN].copy_from_slice(&tag);
        let word = u16::from_le_bytes([chunk[0], chunk[1]]);
        let crc = chunk_crc(word, &chunk[4..CONT_DATA_OFFSET + n + TAG_LEN]);
        chunk[2..4].copy_from_slice(&crc.to_le_bytes());
        tags(&tag);
        pos += n;
        if last {
            return Ok(());
        }
    }
}

/// A record read back from a segment.
#[derive(Debug)]
pub struct RawRecord {
    /// Segment offset of its first chunk.
    pub off: usize,
    /// Bytes of chunks it occupies.
    pub disk_len: usize,
    /// Stream ID of its chunks.
    pub stream: u32,
    /// The plaintext.
    pub plain: Vec<u8>,
    /// Tags of its chunks, in order.
    pub tags: Vec<[u8; TAG_LEN]>,
}

/// What [`read_record`] found at a position.
#[derive(Debug)]
pub enum Next {
    /// A complete, authentic record.
    Record(RawRecord),
    /// The log of this segment ends: `end` is where the last complete record (and any fill
    /// chunks after it) ends, `bad` the offset of the first chunk that is not valid.
    End {
        /// End of the valid log.
        end: usize,
        /// First invalid chunk.
        bad: usize,
    },
}

/// True for the fill chunks this store writes (type 3, invalid count 0). Erased flash (0xFFFF)
/// is also type 3 but has invalid count 2047, so it ends the log.
fn is_our_fill(buf: &[u8]) -> bool {
    buf.len() >= 2 && {
        let w = u16::from_le_bytes([buf[0], buf[1]]);
        w & 3 == ChunkType::Fill as u16 && (w >> 5) == 0
    }
}

/// Bytes of a segment read into memory: `bytes[0]` is at segment offset `base`.
#[derive(Clone, Copy)]
pub struct SegView<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Segment offset of `bytes[0]`.
    pub base: usize,
    /// Sequence number of the segment (nonce prefix).
    pub seq: u64,
}

impl SegView<'_> {
    /// Segment offset one past the last byte.
    pub fn end(&self) -> usize {
        self.base + self.bytes.len()
    }
    fn at(&self, off: usize) -> &[u8] {
        off.checked_sub(self.base)
            .and_then(|r| self.bytes.get(r..))
            .unwrap_or(&[])
    }
}

/// Opens one chunk at segment offset `off`: returns its continuation header, size, plaintext
/// and tag, or `None` if it is not an authentic chunk.
pub fn open_chunk<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    v: SegView<'_>,
    off: usize,
) -> Option<(ContinuationHeader, usize, Vec<u8>, [u8; TAG_LEN])> {
    let seq = v.seq;
    let raw = v.at(off);
    let c = parse_chunk(raw).ok()?;
    let (h, data) = c.continuation().ok()?;
    if data.len() < TAG_LEN {
        return None;
    }
    let n = data.len() - TAG_LEN;
    let mut plain = data[..n].to_vec();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&data[n..]);
    let a = aad(raw);
    let nn = nonce(seq, u32::try_from(off).ok()?);
    eng.open(key, &nn, &a, &mut plain, &tag).ok()?;
    Some((h, c.size(), plain, tag))
}

/// Reads the record that starts at or after `pos` (skipping fill chunks).
pub fn read_record<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    v: SegView<'_>,
    mut pos: usize,
) -> Next {
    while pos < v.end() && is_our_fill(v.at(pos)) {
        match parse_chunk(v.at(pos)) {
            Ok(c) => pos += c.size(),
            Err(_) => return Next::End { end: pos, bad: pos },
        }
    }
    let start = pos;
    let mut plain = Vec::new();
    let mut tags = Vec::new();
    let mut stream = 0;
    loop {
        let Some((h, size, piece, tag)) = open_chunk(eng, key, v, pos) else {
            return Next::End {
                end: start,
                bad: pos,
            };
        };
        if h.offset != plain.len() as u64 || (pos > start && h.stream_id != stream) {
            return Next::End {
                end: start,
                bad: pos,
            };
        }
        stream = h.stream_id;
        plain.extend_from_slice(&piece);
        tags.push(tag);
        pos += size;
        if h.eof {
            return Next::Record(RawRecord {
                off: start,
                disk_len: pos - start,
                stream,
                plain,
                tags,
            });
        }
    }
}

/// True if an authentic chunk starts at any block boundary strictly after `bad`: then the end of
/// the log at `bad` is not a torn write (which leaves nothing after it) but a corruption.
pub fn authentic_after<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    v: SegView<'_>,
    bad: usize,
    block: usize,
) -> Option<usize> {
    let mut b = (bad / block + 1) * block;
    while b < v.end() {
        if open_chunk(eng, key, v, b).is_some() {
            return Some(b);
        }
        b += block;
    }
    None
}

/// Maps a crypto failure at a location to a store error.
pub fn crypto_at(e: CryptoError, seg: u32, off: usize) -> StoreError {
    map_crypto(e, seg, off)
}
