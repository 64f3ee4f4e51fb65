//! The fixed-size structures of an ASU file and their little-endian byte encodings. Offsets are
//! those of `ASU-FORMAT.md`; each struct mirrors the on-disk record field for field, and a
//! compile-time assertion ties its size to the record's.

use super::error::AsuError;

pub const HEADER_MAGIC: [u8; 8] = *b"ASUMAGIC";
pub const FOOTER_MAGIC: [u8; 8] = *b"ASUFOOTR";
pub const END_MARKER: [u8; 8] = *b"ASUENDMK";
pub const SIGNATURE_MAGIC: [u8; 8] = *b"ASUSIGNT";

pub const VERSION_MAJOR: u16 = 1;
pub const VERSION_MINOR: u16 = 0;
pub const FORMAT_REVISION: u32 = 1;

pub const HEADER_SIZE: usize = 128;
pub const FOOTER_SIZE: usize = 64;
pub const SECTION_HEADER_SIZE: usize = 32;
pub const METADATA_ENTRY_HEADER_SIZE: usize = 8;
pub const CHUNK_ENTRY_SIZE: usize = 32;
pub const INDEX_ENTRY_SIZE: usize = 32;
pub const SIGNATURE_BLOCK_SIZE: usize = 112;

pub const ENCRYPTION_NONE: u32 = 0;
pub const ENCRYPTION_AES256: u32 = 1;
pub const ENCRYPTION_MODE_GCM: u32 = 2;
pub const CHECKSUM_SHA256: u32 = 2;
pub const SIGNATURE_NONE: u32 = 0;
pub const SIGNATURE_EDDSA: u32 = 3;

/// Feature flag: chunks are compressed.
pub const FEATURE_COMPRESSION: u32 = 0x01;
/// Feature flag: chunks are encrypted.
pub const FEATURE_ENCRYPTION: u32 = 0x02;
/// Feature flag: an Ed25519 signature block precedes the footer.
pub const FEATURE_SIGNATURE: u32 = 0x04;
/// Feature flag: a name-hash index follows the payload.
pub const FEATURE_INDEX: u32 = 0x08;
/// The flags this implementation understands; a file with others is refused.
pub const KNOWN_FEATURES: u32 =
    FEATURE_COMPRESSION | FEATURE_ENCRYPTION | FEATURE_SIGNATURE | FEATURE_INDEX;

pub const META_FILENAME: u16 = 0x0001;
pub const META_TIMESTAMP: u16 = 0x0002;
pub const META_AUTHOR: u16 = 0x0003;
pub const META_PLATFORM: u16 = 0x0006;

/// Chunk type of the manifest (chunk 0): the list of entries. A Zero OS type outside the
/// document's 0x0001-0x0007 range.
pub const CHUNK_MANIFEST: u32 = 0x0100;
/// Chunk type of file content.
pub const CHUNK_RESOURCES: u32 = 0x0006;

/// Compression of every chunk of a file (`compression_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is (type 0).
    None,
    /// Zstandard frames (type 2).
    Zstd,
    /// LZ4 block format (type 3).
    Lz4,
}

impl Compression {
    pub(crate) fn code(self) -> u32 {
        match self {
            Self::None => 0,
            Self::Zstd => 2,
            Self::Lz4 => 3,
        }
    }

    pub(crate) fn from_code(code: u32) -> Result<Self, AsuError> {
        match code {
            0 => Ok(Self::None),
            1 => Err(AsuError::Unsupported("GZIP compression")),
            2 => Ok(Self::Zstd),
            3 => Ok(Self::Lz4),
            _ => Err(AsuError::Unsupported("unknown compression type")),
        }
    }
}

/// Rounds up to the 8-byte alignment of every ASU structure.
pub const fn align8(n: u64) -> u64 {
    (n + 7) & !7
}

/// The header (offset 0, 128 bytes): the store's definition of the layout, whose field at 0x7C
/// (`region_kind`) is reserved (0) in a backup file and whose `checksum_hash` covers the body.
pub use storage_backend::container::AsuHeader as Header;

/// The footer (last 64 bytes).
#[repr(C)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footer {
    pub magic: [u8; 8],
    pub total_file_size: u64,
    pub creation_timestamp: u64,
    pub master_hash: [u8; 32],
    pub end_marker: [u8; 8],
}
const _: () = assert!(core::mem::size_of::<Footer>() == FOOTER_SIZE);

/// A chunk directory entry (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkEntry {
    pub offset: u64,
    pub stored_size: u64,
    pub uncompressed_size: u64,
    pub chunk_type: u32,
    pub checksum: u32,
}
const _: () = assert!(core::mem::size_of::<ChunkEntry>() == CHUNK_ENTRY_SIZE);

/// A name-hash index entry (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexEntry {
    pub name_hash: u64,
    pub first_chunk: u64,
    pub size: u64,
    pub kind: u32,
    pub entry: u32,
}
const _: () = assert!(core::mem::size_of::<IndexEntry>() == INDEX_ENTRY_SIZE);

/// A little-endian writer into a fixed buffer.
struct Put<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Put<'_> {
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
}

/// A little-endian reader over a buffer whose length the caller has checked.
pub struct Get<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Get<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], AsuError> {
        let end = self.at.checked_add(N).ok_or(AsuError::Truncated)?;
        let slice = self.buf.get(self.at..end).ok_or(AsuError::Truncated)?;
        self.at = end;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
    pub fn u16(&mut self) -> Result<u16, AsuError> {
        self.take().map(u16::from_le_bytes)
    }
    pub fn u32(&mut self) -> Result<u32, AsuError> {
        self.take().map(u32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Result<u64, AsuError> {
        self.take().map(u64::from_le_bytes)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], AsuError> {
        self.take()
    }
}

impl Footer {
    pub fn encode(&self) -> [u8; FOOTER_SIZE] {
        let mut buf = [0u8; FOOTER_SIZE];
        Put {
            buf: &mut buf,
            at: 0,
        }
        .bytes(&self.magic)
        .u64(self.total_file_size)
        .u64(self.creation_timestamp)
        .bytes(&self.master_hash)
        .bytes(&self.end_marker);
        buf
    }

    /// The footer bytes the master hash covers: everything before the hash itself.
    pub fn hashed_prefix(&self) -> [u8; 0x18] {
        let mut prefix = [0u8; 0x18];
        prefix.copy_from_slice(&self.encode()[..0x18]);
        prefix
    }

    pub fn decode(buf: &[u8]) -> Result<Self, AsuError> {
        let mut g = Get::new(buf);
        Ok(Self {
            magic: g.array()?,
            total_file_size: g.u64()?,
            creation_timestamp: g.u64()?,
            master_hash: g.array()?,
            end_marker: g.array()?,
        })
    }
}

impl ChunkEntry {
    pub fn encode(&self) -> [u8; CHUNK_ENTRY_SIZE] {
        let mut buf = [0u8; CHUNK_ENTRY_SIZE];
        Put {
            buf: &mut buf,
            at: 0,
        }
        .u64(self.offset)
        .u64(self.stored_size)
        .u64(self.uncompressed_size)
        .u32(self.chunk_type)
        .u32(self.checksum);
        buf
    }

    pub fn decode(buf: &[u8]) -> Result<Self, AsuError> {
        let mut g = Get::new(buf);
        Ok(Self {
            offset: g.u64()?,
            stored_size: g.u64()?,
            uncompressed_size: g.u64()?,
            chunk_type: g.u32()?,
            checksum: g.u32()?,
        })
    }
}

impl IndexEntry {
    pub fn encode(&self) -> [u8; INDEX_ENTRY_SIZE] {
        let mut buf = [0u8; INDEX_ENTRY_SIZE];
        Put {
            buf: &mut buf,
            at: 0,
        }
        .u64(self.name_hash)
        .u64(self.first_chunk)
        .u64(self.size)
        .u32(self.kind)
        .u32(self.entry);
        buf
    }

    pub fn decode(buf: &[u8]) -> Result<Self, AsuError> {
        let mut g = Get::new(buf);
        Ok(Self {
            name_hash: g.u64()?,
            first_chunk: g.u64()?,
            size: g.u64()?,
            kind: g.u32()?,
            entry: g.u32()?,
        })
    }
}

/// The 32-byte header every variable section (metadata, payload, index) starts with:
/// version, count, size, one section-specific u64 and reserved space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionHeader {
    pub version: u32,
    pub count: u32,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

impl SectionHeader {
    pub fn encode(&self) -> [u8; SECTION_HEADER_SIZE] {
        let mut buf = [0u8; SECTION_HEADER_SIZE];
        Put {
            buf: &mut buf,
            at: 0,
        }
        .u32(self.version)
        .u32(self.count)
        .u64(self.a)
        .u64(self.b)
        .u64(self.c);
        buf
    }

    pub fn decode(buf: &[u8]) -> Result<Self, AsuError> {
        let mut g = Get::new(buf);
        Ok(Self {
            version: g.u32()?,
            count: g.u32()?,
            a: g.u64()?,
            b: g.u64()?,
            c: g.u64()?,
        })
    }
}

/// Encodes one metadata entry, padded to 8 bytes.
pub fn encode_metadata_entry(kind: u16, data: &[u8]) -> Result<Vec<u8>, AsuError> {
    let size = u16::try_from(METADATA_ENTRY_HEADER_SIZE + data.len())
        .map_err(|_| AsuError::ContentMismatch("metadata entry over 64 KiB".into()))?;
    let mut out = Vec::with_capacity(align8(u64::from(size)) as usize);
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(data);
    out.resize(align8(out.len() as u64) as usize, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_sit_at_the_documented_offsets() {
        let header = Header {
            magic: HEADER_MAGIC,
            version_major: 1,
            version_minor: 2,
            format_revision: 3,
            file_size: 0x1111,
            header_size: 128,
            metadata_offset: 128,
            payload_offset: 0x2222,
            compression_type: 3,
            compression_level: 4,
            encryption_type: 1,
            encryption_mode: 2,
            encryption_salt: [0xaa; 16],
            checksum_type: 2,
            checksum_hash: [0xbb; 32],
            signature_type: 3,
            feature_flags: 0xf,
            region_kind: 0,
        };
        let bytes = header.encode();
        assert_eq!(&bytes[0..8], b"ASUMAGIC");
        assert_eq!(&bytes[0x08..0x0a], &[1, 0]);
        assert_eq!(&bytes[0x0a..0x0c], &[2, 0]);
        assert_eq!(&bytes[0x10..0x18], &0x1111u64.to_le_bytes());
        assert_eq!(&bytes[0x28..0x30], &0x2222u64.to_le_bytes());
        assert_eq!(&bytes[0x30..0x34], &3u32.to_le_bytes());
        assert_eq!(&bytes[0x40..0x50], &[0xaa; 16]);
        assert_eq!(&bytes[0x50..0x54], &2u32.to_le_bytes());
        assert_eq!(&bytes[0x54..0x74], &[0xbb; 32]);
        assert_eq!(&bytes[0x74..0x78], &3u32.to_le_bytes());
        assert_eq!(&bytes[0x78..0x7c], &0xfu32.to_le_bytes());
        assert_eq!(Header::parse(&bytes), Some(header));
    }

    #[test]
    fn footer_fields_sit_at_the_documented_offsets() {
        let footer = Footer {
            magic: FOOTER_MAGIC,
            total_file_size: 0x1234,
            creation_timestamp: 0x5678,
            master_hash: [0xcc; 32],
            end_marker: END_MARKER,
        };
        let bytes = footer.encode();
        assert_eq!(&bytes[0..8], b"ASUFOOTR");
        assert_eq!(&bytes[0x08..0x10], &0x1234u64.to_le_bytes());
        assert_eq!(&bytes[0x10..0x18], &0x5678u64.to_le_bytes());
        assert_eq!(&bytes[0x18..0x38], &[0xcc; 32]);
        assert_eq!(&bytes[0x38..0x40], b"ASUENDMK");
        assert_eq!(Footer::decode(&bytes).ok(), Some(footer));
    }

    #[test]
    fn short_buffers_are_truncation_errors() {
        assert_eq!(Header::parse(&[0; 127]), None);
        assert!(matches!(
            ChunkEntry::decode(&[0; 31]),
            Err(AsuError::Truncated)
        ));
    }

    #[test]
    fn metadata_entries_are_padded_to_eight_bytes() {
        let entry = encode_metadata_entry(META_AUTHOR, b"abc").unwrap_or_default();
        assert_eq!(entry.len(), 16);
        assert_eq!(&entry[0..2], &META_AUTHOR.to_le_bytes());
        assert_eq!(&entry[2..4], &11u16.to_le_bytes());
        assert_eq!(&entry[8..11], b"abc");
    }
}
