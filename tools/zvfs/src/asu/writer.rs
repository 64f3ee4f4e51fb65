//! Writing an ASU file in one pass over the content: the manifest fixes every chunk's place up
//! front, content streams through in 1 MiB chunks, and the directory, hashes, signature and
//! footer are filled in at the end.

use std::io::{Read, Seek, SeekFrom, Write};

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::CONTENT_CHUNK_BYTES;
use super::chunk::{ChunkCodec, checksum, derive_keys, name_hash};
use super::error::AsuError;
use super::layout::*;
use super::manifest::{self, Entry, EntryKind};

/// How to write the file.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Compression of every chunk.
    pub compression: Compression,
    /// Compression level recorded in the header (0-9).
    pub compression_level: u32,
    /// A 256-bit key: chunks are sealed with AES-256-GCM under a key derived from it.
    pub key: Option<[u8; 32]>,
    /// Write the name-hash index.
    pub index: bool,
    /// An Ed25519 secret key (32-byte seed): the file is signed with it.
    pub signing_key: Option<[u8; 32]>,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_ns: u64,
    /// The FILENAME metadata entry: what the archive was made from.
    pub source_name: String,
    /// The AUTHOR metadata entry.
    pub creator: String,
}

/// An ASU file being written.
pub struct AsuWriter<F: Read + Write + Seek> {
    file: F,
    compression: Compression,
    compression_level: u32,
    encrypted: bool,
    salt: [u8; 16],
    codec: ChunkCodec,
    index_key: Option<[u8; 32]>,
    with_index: bool,
    signing_key: Option<[u8; 32]>,
    created_ns: u64,
    entries: Vec<Entry>,
    directory: Vec<ChunkEntry>,
    payload_offset: u64,
    data_start: u64,
    /// Bytes of chunk data written so far.
    data_len: u64,
    /// Total uncompressed bytes of all chunks so far.
    uncompressed_len: u64,
    /// The next entry whose content `write_content` expects.
    next_entry: usize,
}

impl<F: Read + Write + Seek> AsuWriter<F> {
    /// Starts a file for `entries`; file content is then given in the same order.
    pub fn create(
        mut file: F,
        options: WriteOptions,
        entries: Vec<Entry>,
    ) -> Result<Self, AsuError> {
        for entry in &entries {
            manifest::check(entry).map_err(|_| {
                AsuError::ContentMismatch(format!("entry {:?} is not valid", entry.path))
            })?;
        }
        let mut salt = [0u8; 16];
        let keys = match &options.key {
            Some(key) => {
                getrandom::getrandom(&mut salt)
                    .map_err(|e| AsuError::Io(std::io::Error::other(e.to_string())))?;
                Some(derive_keys(key, &salt))
            }
            None => None,
        };
        let codec = ChunkCodec::new(
            options.compression,
            options.compression_level,
            keys.as_ref().map(|k| &k.payload),
        );

        let metadata = metadata_section(&options)?;
        let payload_offset = align8(HEADER_SIZE as u64 + metadata.len() as u64);
        let chunk_count = 1 + entries.iter().map(Entry::chunk_count).sum::<u64>();
        let data_start =
            payload_offset + SECTION_HEADER_SIZE as u64 + chunk_count * CHUNK_ENTRY_SIZE as u64;

        // Header and directory are written for real in `finish`; zeros hold their place.
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&[0u8; HEADER_SIZE])?;
        file.write_all(&metadata)?;
        file.seek(SeekFrom::Start(data_start))?;

        let mut writer = Self {
            file,
            compression: options.compression,
            compression_level: options.compression_level,
            encrypted: keys.is_some(),
            salt,
            codec,
            index_key: keys.map(|k| k.index),
            with_index: options.index,
            signing_key: options.signing_key,
            created_ns: options.created_ns,
            entries,
            directory: Vec::with_capacity(usize::try_from(chunk_count).unwrap_or(0)),
            payload_offset,
            data_start,
            data_len: 0,
            uncompressed_len: 0,
            next_entry: 0,
        };
        let encoded = manifest::encode(&writer.entries)?;
        writer.put_chunk(CHUNK_MANIFEST, &encoded)?;
        writer.skip_contentless();
        Ok(writer)
    }

    /// The path of the entry whose content is expected next, if any.
    pub fn next_path(&self) -> Option<&str> {
        self.entries.get(self.next_entry).map(|e| e.path.as_str())
    }

    /// Writes the content of the next file entry from `content`, which must yield exactly the
    /// entry's size (and match its SHA-256 when the entry carries one).
    pub fn write_content(&mut self, content: &mut dyn Read) -> Result<(), AsuError> {
        let Some(entry) = self.entries.get(self.next_entry).cloned() else {
            return Err(AsuError::ContentMismatch(
                "no file entry left for content".into(),
            ));
        };
        let mut hasher = Sha256::new();
        let mut remaining = entry.size;
        let mut buf = vec![0u8; CONTENT_CHUNK_BYTES as usize];
        while remaining > 0 {
            let want = remaining.min(CONTENT_CHUNK_BYTES) as usize;
            read_exactly(content, &mut buf[..want], &entry.path)?;
            hasher.update(&buf[..want]);
            self.put_chunk(CHUNK_RESOURCES, &buf[..want])?;
            remaining -= want as u64;
        }
        let mut probe = [0u8; 1];
        if content.read(&mut probe)? != 0 {
            return Err(AsuError::ContentMismatch(format!(
                "{}: longer than declared",
                entry.path
            )));
        }
        let digest: [u8; 32] = hasher.finalize().into();
        if entry
            .content_sha256
            .is_some_and(|declared| declared != digest)
        {
            return Err(AsuError::ContentMismatch(format!(
                "{}: SHA-256 differs",
                entry.path
            )));
        }
        self.next_entry += 1;
        self.skip_contentless();
        Ok(())
    }

    /// Moves past directories, symlinks and empty files: they have no content to give.
    fn skip_contentless(&mut self) {
        while self
            .entries
            .get(self.next_entry)
            .is_some_and(|e| e.chunk_count() == 0)
        {
            self.next_entry += 1;
        }
    }

    fn put_chunk(&mut self, chunk_type: u32, data: &[u8]) -> Result<(), AsuError> {
        let index = self.directory.len() as u64;
        let stored = self.codec.seal(index, chunk_type, data)?;
        self.file.write_all(&stored)?;
        self.directory.push(ChunkEntry {
            offset: self.data_len,
            stored_size: stored.len() as u64,
            uncompressed_size: data.len() as u64,
            chunk_type,
            checksum: checksum(data),
        });
        self.data_len += stored.len() as u64;
        self.uncompressed_len += data.len() as u64;
        Ok(())
    }

    /// Completes the file: index, directory, section hash, signature, footer. Returns the file.
    pub fn finish(mut self) -> Result<F, AsuError> {
        if let Some(path) = self.next_path() {
            return Err(AsuError::ContentMismatch(format!(
                "no content given for {path}"
            )));
        }
        let data_end = self.data_start + self.data_len;
        let mut end = align8(data_end);
        self.file.seek(SeekFrom::Start(data_end))?;
        self.file.write_all(&vec![0u8; (end - data_end) as usize])?;

        let mut features = 0;
        if self.compression != Compression::None {
            features |= FEATURE_COMPRESSION;
        }
        if self.encrypted {
            features |= FEATURE_ENCRYPTION;
        }
        if self.with_index {
            features |= FEATURE_INDEX;
            let index = self.index_section();
            self.file.write_all(&index)?;
            end += index.len() as u64;
        }
        let signature_len = if self.signing_key.is_some() {
            features |= FEATURE_SIGNATURE;
            SIGNATURE_BLOCK_SIZE as u64
        } else {
            0
        };
        let file_size = end + signature_len + FOOTER_SIZE as u64;

        // Payload header and chunk directory.
        let payload_header = SectionHeader {
            version: 1,
            count: u32::try_from(self.directory.len())
                .map_err(|_| AsuError::ContentMismatch("too many chunks".into()))?,
            a: self.uncompressed_len,
            b: self.data_len,
            c: 0,
        };
        self.file.seek(SeekFrom::Start(self.payload_offset))?;
        self.file.write_all(&payload_header.encode())?;
        for entry in &self.directory {
            self.file.write_all(&entry.encode())?;
        }

        // The header, with the hash of everything between it and the signature/footer.
        let mut header = Header {
            magic: HEADER_MAGIC,
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            format_revision: FORMAT_REVISION,
            file_size,
            header_size: HEADER_SIZE as u64,
            metadata_offset: HEADER_SIZE as u64,
            payload_offset: self.payload_offset,
            compression_type: self.compression.code(),
            compression_level: self.compression_level,
            encryption_type: if self.encrypted {
                ENCRYPTION_AES256
            } else {
                ENCRYPTION_NONE
            },
            encryption_mode: if self.encrypted {
                ENCRYPTION_MODE_GCM
            } else {
                0
            },
            encryption_salt: self.salt,
            checksum_type: CHECKSUM_SHA256,
            checksum_hash: [0; 32],
            signature_type: if signature_len > 0 {
                SIGNATURE_EDDSA
            } else {
                SIGNATURE_NONE
            },
            feature_flags: features,
            region_kind: 0,
        };
        header.checksum_hash = hash_range(&mut self.file, HEADER_SIZE as u64, end)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header.encode())?;

        if let Some(seed) = self.signing_key {
            let signing = SigningKey::from_bytes(&seed);
            let digest = hash_range(&mut self.file, 0, end)?;
            let signature = signing.sign(&digest);
            let mut block = Vec::with_capacity(SIGNATURE_BLOCK_SIZE);
            block.extend_from_slice(&SIGNATURE_MAGIC);
            block.extend_from_slice(&SIGNATURE_EDDSA.to_le_bytes());
            block.extend_from_slice(&0u32.to_le_bytes());
            block.extend_from_slice(signing.verifying_key().as_bytes());
            block.extend_from_slice(&signature.to_bytes());
            self.file.seek(SeekFrom::Start(end))?;
            self.file.write_all(&block)?;
        }

        let footer_offset = end + signature_len;
        let mut footer = Footer {
            magic: FOOTER_MAGIC,
            total_file_size: file_size,
            creation_timestamp: self.created_ns,
            master_hash: [0; 32],
            end_marker: END_MARKER,
        };
        footer.master_hash = master_hash(&mut self.file, footer_offset, &footer)?;
        self.file.seek(SeekFrom::Start(footer_offset))?;
        self.file.write_all(&footer.encode())?;
        self.file.flush()?;
        Ok(self.file)
    }

    fn index_section(&self) -> Vec<u8> {
        let mut next_chunk = 1u64;
        let mut entries = Vec::with_capacity(self.entries.len());
        for (number, entry) in self.entries.iter().enumerate() {
            let chunks = entry.chunk_count();
            entries.push(IndexEntry {
                name_hash: name_hash(&entry.path, self.index_key.as_ref()),
                first_chunk: if chunks > 0 { next_chunk } else { 0 },
                size: entry.size,
                kind: match entry.kind {
                    EntryKind::File => 1,
                    EntryKind::Directory => 2,
                    EntryKind::Symlink { .. } => 3,
                },
                entry: number as u32,
            });
            next_chunk += chunks;
        }
        let size = SECTION_HEADER_SIZE + entries.len() * INDEX_ENTRY_SIZE;
        let header = SectionHeader {
            version: 1,
            count: entries.len() as u32,
            a: size as u64,
            b: 0,
            c: 0,
        };
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&header.encode());
        for entry in &entries {
            out.extend_from_slice(&entry.encode());
        }
        out
    }
}

fn read_exactly(content: &mut dyn Read, buf: &mut [u8], path: &str) -> Result<(), AsuError> {
    content.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            AsuError::ContentMismatch(format!("{path}: shorter than declared"))
        }
        _ => AsuError::Io(e),
    })
}

/// The metadata section: its 32-byte header and the FILENAME, TIMESTAMP, AUTHOR and PLATFORM
/// entries.
fn metadata_section(options: &WriteOptions) -> Result<Vec<u8>, AsuError> {
    let mut timestamps = Vec::with_capacity(16);
    timestamps.extend_from_slice(&options.created_ns.to_le_bytes());
    timestamps.extend_from_slice(&options.created_ns.to_le_bytes());
    let entries = [
        encode_metadata_entry(META_FILENAME, options.source_name.as_bytes())?,
        encode_metadata_entry(META_TIMESTAMP, &timestamps)?,
        encode_metadata_entry(META_AUTHOR, options.creator.as_bytes())?,
        encode_metadata_entry(META_PLATFORM, b"zero-os")?,
    ];
    let body: usize = entries.iter().map(Vec::len).sum();
    let size = (SECTION_HEADER_SIZE + body) as u64;
    let header = SectionHeader {
        version: 1,
        count: entries.len() as u32,
        a: size,
        b: align8(HEADER_SIZE as u64 + size),
        c: 0,
    };
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(&header.encode());
    for entry in entries {
        out.extend_from_slice(&entry);
    }
    Ok(out)
}

/// The master hash: SHA-256 of every byte before the footer, then the footer's magic, total
/// size and creation time, so that every byte but the hash itself and the end marker (checked
/// by value) is covered.
pub(crate) fn master_hash<F: Read + Seek>(
    file: &mut F,
    footer_offset: u64,
    footer: &Footer,
) -> Result<[u8; 32], AsuError> {
    let mut hasher = hasher_over(file, 0, footer_offset)?;
    hasher.update(footer.hashed_prefix());
    Ok(hasher.finalize().into())
}

/// SHA-256 of bytes `start..end` of the file.
pub(crate) fn hash_range<F: Read + Seek>(
    file: &mut F,
    start: u64,
    end: u64,
) -> Result<[u8; 32], AsuError> {
    Ok(hasher_over(file, start, end)?.finalize().into())
}

/// A SHA-256 state that has absorbed bytes `start..end` of the file, read in 64 KiB pieces.
fn hasher_over<F: Read + Seek>(file: &mut F, start: u64, end: u64) -> Result<Sha256, AsuError> {
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    let mut remaining = end.saturating_sub(start);
    let mut buf = vec![0u8; 64 << 10];
    while remaining > 0 {
        let n = remaining.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        remaining -= n as u64;
    }
    Ok(hasher)
}
