//! Reading an ASU file: everything is validated before it is used. `open` checks the framing,
//! the master hash, the section hash, every offset and size, and the signature; chunks are
//! then opened one at a time and checked as they are read.

use std::io::{Read, Seek, SeekFrom, Write};

use ed25519_dalek::{Signature as EdSignature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::chunk::{ChunkCodec, derive_keys, name_hash};
use super::error::AsuError;
use super::layout::*;
use super::manifest::{self, Entry};
use super::writer::{hash_range, master_hash};

/// The largest chunk a reader accepts (the document's `ASU_MAX_CHUNK_SIZE`).
const MAX_CHUNK_BYTES: u64 = 64 << 20;
/// The largest metadata section a reader accepts (the document's `ASU_MAX_METADATA_SIZE`).
const MAX_METADATA_BYTES: u64 = 1 << 20;

/// What the file says about its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// The file is not signed.
    None,
    /// Signed, and the signature verified under the public key the caller gave.
    Verified,
    /// Signed, but no public key was given to check it against; the embedded key is shown.
    Unchecked {
        /// The public key stored in the file (not a trust anchor).
        embedded_key: [u8; 32],
    },
}

/// An opened, validated ASU file.
pub struct AsuReader<F: Read + Seek> {
    file: F,
    header: Header,
    footer: Footer,
    metadata: Vec<(u16, Vec<u8>)>,
    directory: Vec<ChunkEntry>,
    data_start: u64,
    index: Vec<IndexEntry>,
    signature: Signature,
    codec: Option<ChunkCodec>,
    index_key: Option<[u8; 32]>,
}

impl<F: Read + Seek> AsuReader<F> {
    /// Opens and validates a file. `key` is needed only to read chunks of an encrypted file;
    /// `public_key` makes the signature mandatory and checked.
    pub fn open(
        mut file: F,
        key: Option<&[u8; 32]>,
        public_key: Option<&[u8; 32]>,
    ) -> Result<Self, AsuError> {
        let len = file.seek(SeekFrom::End(0))?;
        if len < (HEADER_SIZE + SECTION_HEADER_SIZE * 2 + FOOTER_SIZE) as u64 {
            return Err(AsuError::Truncated);
        }
        let header = Header::parse(&read_at(&mut file, 0, HEADER_SIZE as u64)?)
            .ok_or(AsuError::Truncated)?;
        if header.magic != HEADER_MAGIC {
            return Err(AsuError::BadMagic("header magic"));
        }
        if header.version_major != VERSION_MAJOR {
            return Err(AsuError::UnsupportedVersion {
                major: header.version_major,
                minor: header.version_minor,
            });
        }
        if header.file_size > len {
            return Err(AsuError::Truncated);
        }
        if header.file_size != len {
            return Err(AsuError::Corrupt(
                "file size in header differs from the file's",
            ));
        }
        let footer_offset = len - FOOTER_SIZE as u64;
        let footer = Footer::decode(&read_at(&mut file, footer_offset, FOOTER_SIZE as u64)?)?;
        if footer.magic != FOOTER_MAGIC {
            return Err(AsuError::BadMagic("footer magic"));
        }
        if footer.end_marker != END_MARKER {
            return Err(AsuError::BadMagic("end marker"));
        }
        if footer.total_file_size != len {
            return Err(AsuError::Corrupt(
                "file size in footer differs from the file's",
            ));
        }
        if master_hash(&mut file, footer_offset, &footer)? != footer.master_hash {
            return Err(AsuError::HashMismatch("master"));
        }

        // The master hash holds; now check the header's claims one by one.
        if header.header_size != HEADER_SIZE as u64 || header.metadata_offset != HEADER_SIZE as u64
        {
            return Err(AsuError::Corrupt("header or metadata offset"));
        }
        if header.feature_flags & !KNOWN_FEATURES != 0 {
            return Err(AsuError::Unsupported("unknown feature flags"));
        }
        if header.checksum_type != CHECKSUM_SHA256 {
            return Err(AsuError::Unsupported("checksum type other than SHA-256"));
        }
        let compression = Compression::from_code(header.compression_type)?;
        if (compression != Compression::None) != (header.feature_flags & FEATURE_COMPRESSION != 0) {
            return Err(AsuError::Corrupt(
                "compression type and feature flag disagree",
            ));
        }
        let encrypted = header.feature_flags & FEATURE_ENCRYPTION != 0;
        match (encrypted, header.encryption_type, header.encryption_mode) {
            (false, ENCRYPTION_NONE, _) | (true, ENCRYPTION_AES256, ENCRYPTION_MODE_GCM) => {}
            (true, ENCRYPTION_AES256, _) => {
                return Err(AsuError::Unsupported("AES-256 modes other than GCM"));
            }
            (true, 2, _) => return Err(AsuError::Unsupported("ChaCha20 encryption")),
            _ => {
                return Err(AsuError::Corrupt(
                    "encryption type and feature flag disagree",
                ));
            }
        }
        let signed = header.feature_flags & FEATURE_SIGNATURE != 0;
        if signed != (header.signature_type == SIGNATURE_EDDSA)
            || (!signed && header.signature_type != SIGNATURE_NONE)
        {
            return Err(AsuError::Unsupported("signature type other than EdDSA"));
        }
        let sections_end = footer_offset
            .checked_sub(if signed {
                SIGNATURE_BLOCK_SIZE as u64
            } else {
                0
            })
            .filter(|end| *end >= HEADER_SIZE as u64)
            .ok_or(AsuError::Corrupt("no room for the signature block"))?;
        if hash_range(&mut file, HEADER_SIZE as u64, sections_end)? != header.checksum_hash {
            return Err(AsuError::HashMismatch("section"));
        }

        let signature = if signed {
            let block = read_at(&mut file, sections_end, SIGNATURE_BLOCK_SIZE as u64)?;
            check_signature(&mut file, &block, sections_end, public_key)?
        } else if public_key.is_some() {
            return Err(AsuError::NotSigned);
        } else {
            Signature::None
        };

        let metadata = read_metadata(&mut file, &header)?;
        let (directory, data_start, data_end) = read_directory(&mut file, &header, sections_end)?;
        let index = if header.feature_flags & FEATURE_INDEX != 0 {
            read_index(&mut file, align8(data_end), sections_end)?
        } else {
            Vec::new()
        };

        let keys = match (encrypted, key) {
            (true, Some(key)) => Some(derive_keys(key, &header.encryption_salt)),
            _ => None,
        };
        let codec = (!encrypted || keys.is_some()).then(|| {
            ChunkCodec::new(
                compression,
                header.compression_level,
                keys.as_ref().map(|k| &k.payload),
            )
        });
        Ok(Self {
            file,
            header,
            footer,
            metadata,
            directory,
            data_start,
            index,
            signature,
            codec,
            index_key: keys.map(|k| k.index),
        })
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The footer's creation time, nanoseconds since the Unix epoch.
    pub fn created_ns(&self) -> u64 {
        self.footer.creation_timestamp
    }

    /// Metadata entries as (type, data).
    pub fn metadata(&self) -> &[(u16, Vec<u8>)] {
        &self.metadata
    }

    /// The signature state.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// Number of chunks in the directory.
    pub fn chunk_count(&self) -> usize {
        self.directory.len()
    }

    /// Whether the file is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.header.feature_flags & FEATURE_ENCRYPTION != 0
    }

    fn chunk(&mut self, index: u64) -> Result<Vec<u8>, AsuError> {
        let entry = *self
            .directory
            .get(usize::try_from(index).map_err(|_| AsuError::Corrupt("chunk index"))?)
            .ok_or(AsuError::Corrupt("chunk index out of range"))?;
        let stored = read_at(
            &mut self.file,
            self.data_start + entry.offset,
            entry.stored_size,
        )?;
        let codec = self.codec.as_ref().ok_or(AsuError::MissingKey)?;
        codec.open(index, &entry, &stored)
    }

    /// The manifest: every entry of the archived tree, checked.
    pub fn entries(&mut self) -> Result<Vec<Entry>, AsuError> {
        if self.directory.first().map(|e| e.chunk_type) != Some(CHUNK_MANIFEST) {
            return Err(AsuError::Corrupt("chunk 0 is not the manifest"));
        }
        let entries = manifest::decode(&self.chunk(0)?)?;
        let content_chunks: u64 = entries.iter().map(Entry::chunk_count).sum();
        if content_chunks + 1 != self.directory.len() as u64 {
            return Err(AsuError::Corrupt("manifest and chunk directory disagree"));
        }
        Ok(entries)
    }

    /// Streams entry `number`'s content to `out`, checking every chunk and the SHA-256.
    pub fn read_content(
        &mut self,
        entries: &[Entry],
        number: usize,
        out: &mut dyn Write,
    ) -> Result<(), AsuError> {
        let entry = entries
            .get(number)
            .ok_or(AsuError::Corrupt("entry number"))?;
        let first = 1 + entries[..number]
            .iter()
            .map(Entry::chunk_count)
            .sum::<u64>();
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        for index in first..first + entry.chunk_count() {
            if self.directory.get(index as usize).map(|e| e.chunk_type) != Some(CHUNK_RESOURCES) {
                return Err(AsuError::Corrupt("content chunk has the wrong type"));
            }
            let data = self.chunk(index)?;
            hasher.update(&data);
            written += data.len() as u64;
            out.write_all(&data)?;
        }
        if written != entry.size {
            return Err(AsuError::Corrupt(
                "content length differs from the manifest",
            ));
        }
        let digest: [u8; 32] = hasher.finalize().into();
        if entry
            .content_sha256
            .is_some_and(|declared| declared != digest)
        {
            return Err(AsuError::HashMismatch("content"));
        }
        Ok(())
    }

    /// Finds an entry's number through the name-hash index (no manifest scan).
    pub fn find(&self, path: &str) -> Option<u32> {
        if self.is_encrypted() && self.index_key.is_none() {
            return None;
        }
        let hash = name_hash(path, self.index_key.as_ref());
        self.index
            .iter()
            .find(|e| e.name_hash == hash)
            .map(|e| e.entry)
    }

    /// Opens every chunk (needs the key of an encrypted file): a full integrity check.
    pub fn verify_chunks(&mut self) -> Result<(), AsuError> {
        for index in 0..self.directory.len() as u64 {
            self.chunk(index)?;
        }
        Ok(())
    }
}

fn read_at<F: Read + Seek>(file: &mut F, offset: u64, len: u64) -> Result<Vec<u8>, AsuError> {
    if len > MAX_CHUNK_BYTES + 16 {
        return Err(AsuError::Corrupt("record larger than any ASU record"));
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

fn check_signature<F: Read + Seek>(
    file: &mut F,
    block: &[u8],
    signed_end: u64,
    public_key: Option<&[u8; 32]>,
) -> Result<Signature, AsuError> {
    let mut g = Get::new(block);
    if g.array::<8>()? != SIGNATURE_MAGIC {
        return Err(AsuError::BadMagic("signature block magic"));
    }
    if g.u32()? != SIGNATURE_EDDSA {
        return Err(AsuError::Unsupported("signature type other than EdDSA"));
    }
    let _reserved = g.u32()?;
    let embedded_key: [u8; 32] = g.array()?;
    let signature: [u8; 64] = g.array()?;
    let Some(public_key) = public_key else {
        return Ok(Signature::Unchecked { embedded_key });
    };
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| AsuError::BadSignature)?;
    let digest = hash_range(file, 0, signed_end)?;
    key.verify(&digest, &EdSignature::from_bytes(&signature))
        .map_err(|_| AsuError::BadSignature)?;
    Ok(Signature::Verified)
}

fn read_metadata<F: Read + Seek>(
    file: &mut F,
    header: &Header,
) -> Result<Vec<(u16, Vec<u8>)>, AsuError> {
    let section = SectionHeader::decode(&read_at(
        file,
        HEADER_SIZE as u64,
        SECTION_HEADER_SIZE as u64,
    )?)?;
    if section.version != 1 {
        return Err(AsuError::Unsupported("metadata version"));
    }
    let size = section.a;
    if size < SECTION_HEADER_SIZE as u64
        || size > MAX_METADATA_BYTES
        || section.b != header.payload_offset
        || align8(HEADER_SIZE as u64 + size) != header.payload_offset
    {
        return Err(AsuError::Corrupt(
            "metadata section size or next-section offset",
        ));
    }
    let body = read_at(
        file,
        (HEADER_SIZE + SECTION_HEADER_SIZE) as u64,
        size - SECTION_HEADER_SIZE as u64,
    )?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    for _ in 0..section.count {
        let mut g = Get::new(body.get(at..).ok_or(AsuError::Corrupt("metadata entry"))?);
        let kind = g.u16()?;
        let entry_size = usize::from(g.u16()?);
        let _flags = g.u32()?;
        let data = body
            .get(at + METADATA_ENTRY_HEADER_SIZE..at + entry_size)
            .filter(|_| entry_size >= METADATA_ENTRY_HEADER_SIZE)
            .ok_or(AsuError::Corrupt("metadata entry size"))?;
        entries.push((kind, data.to_vec()));
        at += align8(entry_size as u64) as usize;
    }
    if at != body.len() {
        return Err(AsuError::Corrupt(
            "metadata entries do not fill their section",
        ));
    }
    Ok(entries)
}

fn read_directory<F: Read + Seek>(
    file: &mut F,
    header: &Header,
    sections_end: u64,
) -> Result<(Vec<ChunkEntry>, u64, u64), AsuError> {
    let payload = SectionHeader::decode(&read_at(
        file,
        header.payload_offset,
        SECTION_HEADER_SIZE as u64,
    )?)?;
    if payload.version != 1 {
        return Err(AsuError::Unsupported("payload version"));
    }
    let count = u64::from(payload.count);
    let data_start =
        header.payload_offset + SECTION_HEADER_SIZE as u64 + count * CHUNK_ENTRY_SIZE as u64;
    let data_end = data_start
        .checked_add(payload.b)
        .ok_or(AsuError::Corrupt("payload size"))?;
    if data_end > sections_end {
        return Err(AsuError::Corrupt(
            "payload runs past the end of the sections",
        ));
    }
    file.seek(SeekFrom::Start(
        header.payload_offset + SECTION_HEADER_SIZE as u64,
    ))?;
    let mut directory = Vec::with_capacity(count as usize);
    let (mut next_offset, mut uncompressed) = (0u64, 0u64);
    let mut raw = [0u8; CHUNK_ENTRY_SIZE];
    for _ in 0..count {
        file.read_exact(&mut raw)?;
        let entry = ChunkEntry::decode(&raw)?;
        // Chunks lie back to back in directory order; anything else is not what a writer makes.
        if entry.offset != next_offset
            || entry.uncompressed_size > MAX_CHUNK_BYTES
            || entry.stored_size > MAX_CHUNK_BYTES + 16
        {
            return Err(AsuError::Corrupt("chunk directory entry"));
        }
        next_offset += entry.stored_size;
        uncompressed += entry.uncompressed_size;
        directory.push(entry);
    }
    if next_offset != payload.b || uncompressed != payload.a {
        return Err(AsuError::Corrupt(
            "chunk directory and payload sizes disagree",
        ));
    }
    Ok((directory, data_start, data_end))
}

fn read_index<F: Read + Seek>(
    file: &mut F,
    offset: u64,
    sections_end: u64,
) -> Result<Vec<IndexEntry>, AsuError> {
    let section = SectionHeader::decode(&read_at(file, offset, SECTION_HEADER_SIZE as u64)?)?;
    let size = SECTION_HEADER_SIZE as u64 + u64::from(section.count) * INDEX_ENTRY_SIZE as u64;
    if section.version != 1 || section.a != size || offset + size != sections_end {
        return Err(AsuError::Corrupt("index section"));
    }
    let body = read_at(
        file,
        offset + SECTION_HEADER_SIZE as u64,
        size - SECTION_HEADER_SIZE as u64,
    )?;
    body.chunks_exact(INDEX_ENTRY_SIZE)
        .map(IndexEntry::decode)
        .collect()
}
