//! Encoding and decoding of single chunks.
//!
//! Layout (little-endian): header word at offset 0 (`type` bits 0-1, size exponent bits 2-4 with
//! size `32 << e`, invalid trailing byte count bits 5-15), CRC at offset 2, payload from offset 4.
//! The valid bytes are `4 .. size - invalid`; the CRC covers bytes 0-1 and the valid bytes.
//! Parsing never panics and never indexes outside the input: untrusted bytes become a checked
//! [`Chunk`] or a [`ChunkError`].

use super::crc::chunk_crc;

/// Smallest chunk.
pub const MIN_CHUNK: usize = 32;
/// Largest chunk.
pub const MAX_CHUNK: usize = 4096;
/// Offset of the data in a continuation chunk.
pub const CONT_DATA_OFFSET: usize = 14;
/// Size of a stream start chunk as real containers write it.
pub const STREAM_START_SIZE: usize = 128;
/// Size of a file header chunk as real containers write it.
pub const FILE_HEADER_SIZE: usize = 32;

/// The four chunk types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkType {
    /// File header chunk (type 0): version and identifier string.
    FileHeader = 0,
    /// Stream start chunk (type 1): stream ID and virtual file name.
    StreamStart = 1,
    /// Stream continuation chunk (type 2): stream ID, stream offset, data.
    Continuation = 2,
    /// Fill chunk (type 3): no valid data, no valid CRC.
    Fill = 3,
}

impl ChunkType {
    fn from_bits(b: u16) -> Self {
        match b & 3 {
            0 => ChunkType::FileHeader,
            1 => ChunkType::StreamStart,
            2 => ChunkType::Continuation,
            _ => ChunkType::Fill,
        }
    }
}

/// The decoded 16-bit header word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderWord {
    /// Chunk type.
    pub ty: ChunkType,
    /// Size exponent: the chunk is `32 << exp` bytes (0..=7).
    pub exp: u8,
    /// Number of invalid bytes at the end of the chunk (0..=2047).
    pub invalid: u16,
}

impl HeaderWord {
    /// Decodes a header word.
    pub fn decode(w: u16) -> Self {
        Self {
            ty: ChunkType::from_bits(w),
            exp: ((w >> 2) & 7) as u8,
            invalid: w >> 5,
        }
    }

    /// Encodes the header word.
    pub fn encode(&self) -> u16 {
        (self.ty as u16) | (u16::from(self.exp & 7) << 2) | ((self.invalid & 0x7FF) << 5)
    }

    /// Chunk size in bytes.
    pub fn size(&self) -> usize {
        MIN_CHUNK << self.exp
    }
}

/// Why bytes are not a valid chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// Fewer bytes than the header claims.
    Truncated,
    /// The invalid count exceeds the payload size.
    BadLength,
    /// The CRC does not match.
    Crc,
    /// The chunk's fixed fields are malformed for its type.
    Malformed,
    /// The data does not fit in a chunk.
    TooLarge,
}

/// A parsed chunk borrowing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Decoded header word.
    pub header: HeaderWord,
    /// Stored CRC (meaningless for fill chunks).
    pub crc: u16,
    /// The valid bytes, from chunk offset 4 on (empty for fill chunks).
    pub valid: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Total chunk size.
    pub fn size(&self) -> usize {
        self.header.size()
    }

    /// For a continuation chunk: its stream header and data.
    pub fn continuation(&self) -> Result<(ContinuationHeader, &'a [u8]), ChunkError> {
        if self.header.ty != ChunkType::Continuation || self.valid.len() < CONT_DATA_OFFSET - 4 {
            return Err(ChunkError::Malformed);
        }
        let v = self.valid;
        let word = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let mut off = [0u8; 8];
        off[..6].copy_from_slice(&v[4..10]);
        Ok((
            ContinuationHeader {
                stream_id: word & 0x7FFF_FFFF,
                eof: word & 0x8000_0000 != 0,
                offset: u64::from_le_bytes(off),
            },
            &v[CONT_DATA_OFFSET - 4..],
        ))
    }

    /// For a stream start chunk: stream ID, EOF flag and name (up to the first nul).
    pub fn stream_start(&self) -> Result<(u32, bool, &'a [u8]), ChunkError> {
        if self.header.ty != ChunkType::StreamStart || self.valid.len() < 4 {
            return Err(ChunkError::Malformed);
        }
        let v = self.valid;
        let word = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let name = &v[4..];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Ok((word & 0x7FFF_FFFF, word & 0x8000_0000 != 0, &name[..end]))
    }

    /// For a file header chunk: (minor, major, identifier).
    pub fn file_header(&self) -> Result<(u8, u8, &'a [u8]), ChunkError> {
        if self.header.ty != ChunkType::FileHeader || self.valid.len() < 4 {
            return Err(ChunkError::Malformed);
        }
        Ok((self.valid[0], self.valid[1], &self.valid[4..]))
    }
}

/// The fixed fields of a continuation chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContinuationHeader {
    /// 31-bit stream ID.
    pub stream_id: u32,
    /// EOF flag (bit 31 of the word at offset 4).
    pub eof: bool,
    /// 48-bit byte offset in the stream of the first data byte.
    pub offset: u64,
}

/// Parses the chunk at the start of `buf`, checking lengths and (except for fill chunks) the CRC.
pub fn parse_chunk(buf: &[u8]) -> Result<Chunk<'_>, ChunkError> {
    if buf.len() < 4 {
        return Err(ChunkError::Truncated);
    }
    let word = u16::from_le_bytes([buf[0], buf[1]]);
    let header = HeaderWord::decode(word);
    let size = header.size();
    if buf.len() < size {
        return Err(ChunkError::Truncated);
    }
    let stored = u16::from_le_bytes([buf[2], buf[3]]);
    if header.ty == ChunkType::Fill {
        return Ok(Chunk {
            header,
            crc: stored,
            valid: &[],
        });
    }
    let invalid = usize::from(header.invalid);
    if invalid > size - 4 {
        return Err(ChunkError::BadLength);
    }
    let valid = &buf[4..size - invalid];
    if chunk_crc(word, valid) != stored {
        return Err(ChunkError::Crc);
    }
    Ok(Chunk {
        header,
        crc: stored,
        valid,
    })
}

/// The smallest size exponent whose chunk holds `total` bytes (header included).
pub fn exp_for_len(total: usize) -> Option<u8> {
    (0u8..8).find(|&e| (MIN_CHUNK << e) >= total)
}

/// Finishes a chunk whose payload is already in `out[4..4 + valid_len]`: pads the rest with
/// zeros, writes header word and CRC. Returns the chunk size.
fn finish(out: &mut [u8], ty: ChunkType, valid_len: usize) -> Result<usize, ChunkError> {
    let exp = exp_for_len(valid_len + 4).ok_or(ChunkError::TooLarge)?;
    let size = MIN_CHUNK << exp;
    if out.len() < size {
        return Err(ChunkError::Truncated);
    }
    out[4 + valid_len..size].fill(0);
    let hw = HeaderWord {
        ty,
        exp,
        invalid: (size - 4 - valid_len) as u16,
    };
    let word = hw.encode();
    out[0..2].copy_from_slice(&word.to_le_bytes());
    let crc = chunk_crc(word, &out[4..4 + valid_len]);
    out[2..4].copy_from_slice(&crc.to_le_bytes());
    Ok(size)
}

/// Writes a file header chunk (32 bytes for identifiers up to 24 bytes). Returns its size.
pub fn write_file_header(
    out: &mut [u8],
    minor: u8,
    major: u8,
    ident: &[u8],
) -> Result<usize, ChunkError> {
    let valid = 4 + ident.len();
    if valid + 4 > MAX_CHUNK || out.len() < valid + 4 {
        return Err(ChunkError::TooLarge);
    }
    out[4] = minor;
    out[5] = major;
    out[6] = 0;
    out[7] = 0;
    out[8..8 + ident.len()].copy_from_slice(ident);
    finish(out, ChunkType::FileHeader, valid)
}

/// Writes a 128-byte stream start chunk: stream ID (EOF clear) and a nul-terminated name of at
/// most 119 bytes, padded with nuls.
pub fn write_stream_start(
    out: &mut [u8],
    stream_id: u32,
    name: &[u8],
) -> Result<usize, ChunkError> {
    if name.len() > STREAM_START_SIZE - 9 || stream_id > 0x7FFF_FFFF || name.contains(&0) {
        return Err(ChunkError::TooLarge);
    }
    if out.len() < STREAM_START_SIZE {
        return Err(ChunkError::Truncated);
    }
    out[4..8].copy_from_slice(&stream_id.to_le_bytes());
    out[8..STREAM_START_SIZE].fill(0);
    out[8..8 + name.len()].copy_from_slice(name);
    finish(out, ChunkType::StreamStart, STREAM_START_SIZE - 4)
}

/// Writes a continuation chunk of the smallest size that holds `data`. Returns its size.
pub fn write_continuation(
    out: &mut [u8],
    h: ContinuationHeader,
    data: &[u8],
) -> Result<usize, ChunkError> {
    let valid = CONT_DATA_OFFSET - 4 + data.len();
    if valid + 4 > MAX_CHUNK || h.stream_id > 0x7FFF_FFFF || h.offset >= 1 << 48 {
        return Err(ChunkError::TooLarge);
    }
    if out.len() < valid + 4 {
        return Err(ChunkError::Truncated);
    }
    let word = h.stream_id | if h.eof { 0x8000_0000 } else { 0 };
    out[4..8].copy_from_slice(&word.to_le_bytes());
    out[8..14].copy_from_slice(&h.offset.to_le_bytes()[..6]);
    out[14..14 + data.len()].copy_from_slice(data);
    finish(out, ChunkType::Continuation, valid)
}

/// Writes one fill chunk of `size` bytes (a power of two, 32..=4096): header word with type 3,
/// invalid count 0, CRC field 0, zero payload.
pub fn write_fill(out: &mut [u8], size: usize) -> Result<(), ChunkError> {
    let exp = exp_for_len(size).ok_or(ChunkError::TooLarge)?;
    if MIN_CHUNK << exp != size {
        return Err(ChunkError::Malformed);
    }
    let dst = out.get_mut(..size).ok_or(ChunkError::Truncated)?;
    dst.fill(0);
    let hw = HeaderWord {
        ty: ChunkType::Fill,
        exp,
        invalid: 0,
    };
    dst[0..2].copy_from_slice(&hw.encode().to_le_bytes());
    Ok(())
}

/// Fills `out` (a multiple of 32 bytes) with as few fill chunks as possible, largest first.
pub fn write_fills(out: &mut [u8]) -> Result<(), ChunkError> {
    if !out.len().is_multiple_of(MIN_CHUNK) {
        return Err(ChunkError::Malformed);
    }
    let mut pos = 0;
    while pos < out.len() {
        let left = out.len() - pos;
        let mut size = MAX_CHUNK;
        while size > left {
            size /= 2;
        }
        write_fill(&mut out[pos..], size)?;
        pos += size;
    }
    Ok(())
}

/// Merges adjacent fill chunks of equal size into one chunk of twice the size (up to 4096),
/// repeatedly, over a buffer of back-to-back chunks. Returns the number of merges done.
/// Merging never changes the total length, so offsets of the other chunks are untouched.
pub fn merge_fills(buf: &mut [u8]) -> Result<usize, ChunkError> {
    let mut merges = 0;
    loop {
        let mut changed = false;
        let mut pos = 0;
        let mut prev_fill: Option<(usize, usize)> = None;
        while pos < buf.len() {
            let c = parse_chunk(&buf[pos..])?;
            let size = c.size();
            if c.header.ty == ChunkType::Fill {
                if let Some((ppos, psize)) = prev_fill
                    && psize == size
                    && size < MAX_CHUNK
                {
                    write_fill(&mut buf[ppos..], size * 2)?;
                    merges += 1;
                    changed = true;
                    prev_fill = None;
                    pos += size;
                    continue;
                }
                prev_fill = Some((pos, size));
            } else {
                prev_fill = None;
            }
            pos += size;
        }
        if !changed {
            return Ok(merges);
        }
    }
}
