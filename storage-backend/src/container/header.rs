//! The 128-byte ASU header and the store region's 64-byte footer.
//!
//! [`AsuHeader`] is the one definition of the header's byte layout, shared by the store's
//! region framing (here) and zvfs's ASU backup files, which give `checksum_hash` different
//! coverage: a store region hashes the header's own first 0x54 bytes ([`AsuHeader::decode`]),
//! a backup file hashes its body (zvfs checks that itself after [`AsuHeader::parse`]).

use sha2::{Digest, Sha256};

/// Header magic.
pub const HEADER_MAGIC: [u8; 8] = *b"ASUMAGIC";
/// Footer magic.
pub const FOOTER_MAGIC: [u8; 8] = *b"ASUFOOTR";

/// The region header, field for field as stored (little-endian, offsets in comments).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsuHeader {
    /// 0x00: `ASUMAGIC`.
    pub magic: [u8; 8],
    /// 0x08: major version (1).
    pub version_major: u16,
    /// 0x0A: minor version (0).
    pub version_minor: u16,
    /// 0x0C: format revision (1).
    pub format_revision: u32,
    /// 0x10: region size in bytes (the next region starts right after).
    pub file_size: u64,
    /// 0x18: header size (128).
    pub header_size: u64,
    /// 0x20: offset of the sealed metadata chunk (128).
    pub metadata_offset: u64,
    /// 0x28: offset of the first segment (the payload: the log).
    pub payload_offset: u64,
    /// 0x30: compression type (0 = none).
    pub compression_type: u32,
    /// 0x34: compression level (0).
    pub compression_level: u32,
    /// 0x38: encryption type (1 = AES-256).
    pub encryption_type: u32,
    /// 0x3C: encryption mode (2 = GCM).
    pub encryption_mode: u32,
    /// 0x40: key-derivation salt: the container UUID.
    pub encryption_salt: [u8; 16],
    /// 0x50: checksum type (2 = SHA-256).
    pub checksum_type: u32,
    /// 0x54: SHA-256 of bytes 0x00..0x54.
    pub checksum_hash: [u8; 32],
    /// 0x74: signature type (0 = none).
    pub signature_type: u32,
    /// 0x78: feature flags (encryption | index | streaming).
    pub feature_flags: u32,
    /// 0x7C: reserved by the ASU format (0 in backup files); a store region records its kind
    /// here (0 = kernel, 1 = userspace).
    pub region_kind: u32,
}

const _: () = assert!(core::mem::size_of::<AsuHeader>() == AsuHeader::SIZE);
const _: () = assert!(core::mem::align_of::<AsuHeader>() == 8);

/// Feature flag: encryption.
pub const FEATURE_ENCRYPTION: u32 = 0x2;
/// Feature flag: index.
pub const FEATURE_INDEX: u32 = 0x8;
/// Feature flag: streaming.
pub const FEATURE_STREAMING: u32 = 0x40;

impl AsuHeader {
    /// Bytes on the medium.
    pub const SIZE: usize = 128;

    /// A header for a region of `file_size` bytes whose log starts at `payload_offset`.
    pub fn new(file_size: u64, payload_offset: u64, uuid: [u8; 16], region_kind: u32) -> Self {
        let mut h = Self {
            magic: HEADER_MAGIC,
            version_major: 1,
            version_minor: 0,
            format_revision: 1,
            file_size,
            header_size: Self::SIZE as u64,
            metadata_offset: Self::SIZE as u64,
            payload_offset,
            compression_type: 0,
            compression_level: 0,
            encryption_type: 1,
            encryption_mode: 2,
            encryption_salt: uuid,
            checksum_type: 2,
            checksum_hash: [0; 32],
            signature_type: 0,
            feature_flags: FEATURE_ENCRYPTION | FEATURE_INDEX | FEATURE_STREAMING,
            region_kind,
        };
        let bytes = h.encode();
        h.checksum_hash = Sha256::digest(&bytes[..0x54]).into();
        h
    }

    /// The bytes on the medium.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.magic);
        b[8..10].copy_from_slice(&self.version_major.to_le_bytes());
        b[10..12].copy_from_slice(&self.version_minor.to_le_bytes());
        b[12..16].copy_from_slice(&self.format_revision.to_le_bytes());
        b[16..24].copy_from_slice(&self.file_size.to_le_bytes());
        b[24..32].copy_from_slice(&self.header_size.to_le_bytes());
        b[32..40].copy_from_slice(&self.metadata_offset.to_le_bytes());
        b[40..48].copy_from_slice(&self.payload_offset.to_le_bytes());
        b[48..52].copy_from_slice(&self.compression_type.to_le_bytes());
        b[52..56].copy_from_slice(&self.compression_level.to_le_bytes());
        b[56..60].copy_from_slice(&self.encryption_type.to_le_bytes());
        b[60..64].copy_from_slice(&self.encryption_mode.to_le_bytes());
        b[64..80].copy_from_slice(&self.encryption_salt);
        b[80..84].copy_from_slice(&self.checksum_type.to_le_bytes());
        b[84..116].copy_from_slice(&self.checksum_hash);
        b[116..120].copy_from_slice(&self.signature_type.to_le_bytes());
        b[120..124].copy_from_slice(&self.feature_flags.to_le_bytes());
        b[124..128].copy_from_slice(&self.region_kind.to_le_bytes());
        b
    }

    /// Decodes a store region's header and checks its magic and its self-checksum (SHA-256 of
    /// bytes 0x00..0x54); `None` if the buffer is short or either check fails.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let h = Self::parse(b)?;
        if h.magic != HEADER_MAGIC {
            return None;
        }
        let expect: [u8; 32] = Sha256::digest(&b[..0x54]).into();
        (expect == h.checksum_hash).then_some(h)
    }

    /// Reads the fields of the first [`Self::SIZE`] bytes, checking nothing; `None` if
    /// shorter.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; Self::SIZE] = b.get(..Self::SIZE)?.try_into().ok()?;
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[0..8]);
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&b[64..80]);
        let mut sum = [0u8; 32];
        sum.copy_from_slice(&b[84..116]);
        Some(Self {
            magic,
            version_major: u16_at(8),
            version_minor: u16_at(10),
            format_revision: u32_at(12),
            file_size: u64_at(16),
            header_size: u64_at(24),
            metadata_offset: u64_at(32),
            payload_offset: u64_at(40),
            compression_type: u32_at(48),
            compression_level: u32_at(52),
            encryption_type: u32_at(56),
            encryption_mode: u32_at(60),
            encryption_salt: salt,
            checksum_type: u32_at(80),
            checksum_hash: sum,
            signature_type: u32_at(116),
            feature_flags: u32_at(120),
            region_kind: u32_at(124),
        })
    }
}

/// The footer: a clean-sync marker carried by the log (see FORMAT.md). The document's footer
/// offsets overlap at 0x40; this footer stays 64 bytes and drops the end marker.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsuFooter {
    /// 0x00: `ASUFOOTR`.
    pub magic: [u8; 8],
    /// 0x08: offset of the header in the region (0).
    pub header_offset: u64,
    /// 0x10: region size in bytes.
    pub total_file_size: u64,
    /// 0x18: last modification time, ns since the epoch.
    pub modified_ns: u64,
    /// 0x20: master hash: the head of the transaction hash chain.
    pub master_hash: [u8; 32],
}

const _: () = assert!(core::mem::size_of::<AsuFooter>() == AsuFooter::SIZE);
const _: () = assert!(core::mem::align_of::<AsuFooter>() == 8);

impl AsuFooter {
    /// Bytes on the medium.
    pub const SIZE: usize = 64;

    /// The bytes on the medium.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.magic);
        b[8..16].copy_from_slice(&self.header_offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.total_file_size.to_le_bytes());
        b[24..32].copy_from_slice(&self.modified_ns.to_le_bytes());
        b[32..64].copy_from_slice(&self.master_hash);
        b
    }

    /// Decodes; `None` if short or the magic is wrong.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let b = b.get(..Self::SIZE)?;
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[0..8]);
        if magic != FOOTER_MAGIC {
            return None;
        }
        let mut master_hash = [0u8; 32];
        master_hash.copy_from_slice(&b[32..64]);
        Some(Self {
            magic,
            header_offset: u64_at(8),
            total_file_size: u64_at(16),
            modified_ns: u64_at(24),
            master_hash,
        })
    }
}
