//! Turning a chunk's bytes into what is stored and back: compress, then seal with AES-256-GCM
//! (nonce = the chunk's index, associated data = its index, type and size, so a chunk moved to
//! another place fails to open), and the reverse with every size bounded before allocation.

use std::io::Read;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::error::AsuError;
use super::layout::{ChunkEntry, Compression};

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (ISO-HDLC) of a chunk's uncompressed bytes, as stored in its directory entry.
pub fn checksum(data: &[u8]) -> u32 {
    CRC32.checksum(data)
}

/// Keys derived from the user's 256-bit key and the file's random salt.
pub struct Keys {
    pub payload: [u8; 32],
    pub index: [u8; 32],
}

/// Derives the payload and index keys with HKDF-SHA256 (salt = the header's 16-byte salt).
pub fn derive_keys(user_key: &[u8; 32], salt: &[u8; 16]) -> Keys {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), user_key);
    let mut keys = Keys {
        payload: [0; 32],
        index: [0; 32],
    };
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit; expand cannot fail.
    let _ = hkdf.expand(b"zos-asu-v1 payload", &mut keys.payload);
    let _ = hkdf.expand(b"zos-asu-v1 index", &mut keys.index);
    keys
}

/// The 64-bit name hash of the index: FNV-1a of the path, or, in an encrypted file, the first
/// eight bytes (little-endian) of SHA-256(index key ‖ path), so names cannot be guessed from it.
pub fn name_hash(path: &str, index_key: Option<&[u8; 32]>) -> u64 {
    match index_key {
        None => path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }),
        Some(key) => {
            let digest = Sha256::new()
                .chain_update(key)
                .chain_update(path.as_bytes())
                .finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            u64::from_le_bytes(first)
        }
    }
}

/// Compression and encryption of the chunks of one file.
pub struct ChunkCodec {
    compression: Compression,
    level: u32,
    cipher: Option<Aes256Gcm>,
}

fn nonce(index: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&index.to_le_bytes());
    nonce
}

fn associated_data(index: u64, chunk_type: u32, uncompressed: u64) -> [u8; 20] {
    let mut aad = [0u8; 20];
    aad[..8].copy_from_slice(&index.to_le_bytes());
    aad[8..12].copy_from_slice(&chunk_type.to_le_bytes());
    aad[12..].copy_from_slice(&uncompressed.to_le_bytes());
    aad
}

impl ChunkCodec {
    /// A codec; `payload_key` is `None` for an unencrypted file.
    pub fn new(compression: Compression, level: u32, payload_key: Option<&[u8; 32]>) -> Self {
        let cipher = payload_key.map(|key| Aes256Gcm::new(key.into()));
        Self {
            compression,
            level,
            cipher,
        }
    }

    /// The stored form of chunk `index`.
    pub fn seal(&self, index: u64, chunk_type: u32, data: &[u8]) -> Result<Vec<u8>, AsuError> {
        let compressed = match self.compression {
            Compression::None => data.to_vec(),
            Compression::Lz4 => lz4_flex::block::compress(data),
            Compression::Zstd => {
                // ruzstd's encoder offers its fastest level only; the header records the level
                // asked for, which a decoder does not need.
                let _ = self.level;
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
        };
        match &self.cipher {
            None => Ok(compressed),
            Some(cipher) => {
                let aad = associated_data(index, chunk_type, data.len() as u64);
                cipher
                    .encrypt(
                        Nonce::from_slice(&nonce(index)),
                        Payload {
                            msg: &compressed,
                            aad: &aad,
                        },
                    )
                    .map_err(|_| AsuError::ContentMismatch("chunk encryption".into()))
            }
        }
    }

    /// The original bytes of chunk `index` from its stored form, checked against its entry.
    pub fn open(&self, index: u64, entry: &ChunkEntry, stored: &[u8]) -> Result<Vec<u8>, AsuError> {
        let corrupt = || AsuError::ChunkCorrupt { chunk: index };
        let plain;
        let compressed: &[u8] = match &self.cipher {
            None => stored,
            Some(cipher) => {
                let aad = associated_data(index, entry.chunk_type, entry.uncompressed_size);
                plain = cipher
                    .decrypt(
                        Nonce::from_slice(&nonce(index)),
                        Payload {
                            msg: stored,
                            aad: &aad,
                        },
                    )
                    .map_err(|_| AsuError::Decryption { chunk: index })?;
                &plain
            }
        };
        let size = usize::try_from(entry.uncompressed_size).map_err(|_| corrupt())?;
        let data = match self.compression {
            Compression::None => compressed.to_vec(),
            Compression::Lz4 => {
                lz4_flex::block::decompress(compressed, size).map_err(|_| corrupt())?
            }
            Compression::Zstd => {
                let decoder =
                    ruzstd::decoding::StreamingDecoder::new(compressed).map_err(|_| corrupt())?;
                let mut out = Vec::with_capacity(size);
                // One byte more than expected tells an over-long stream from an exact one.
                decoder
                    .take(size as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|_| corrupt())?;
                out
            }
        };
        if data.len() != size || checksum(&data) != entry.checksum {
            return Err(corrupt());
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_for(codec: &ChunkCodec, index: u64, data: &[u8]) -> (ChunkEntry, Vec<u8>) {
        let stored = codec.seal(index, 6, data).unwrap_or_default();
        let entry = ChunkEntry {
            offset: 0,
            stored_size: stored.len() as u64,
            uncompressed_size: data.len() as u64,
            chunk_type: 6,
            checksum: checksum(data),
        };
        (entry, stored)
    }

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let key = [7u8; 32];
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            for key in [None, Some(&key)] {
                let codec = ChunkCodec::new(compression, 3, key);
                let (entry, stored) = entry_for(&codec, 5, &data);
                assert_eq!(codec.open(5, &entry, &stored).ok(), Some(data.clone()));
            }
        }
    }

    #[test]
    fn wrong_key_and_moved_chunks_fail_to_open() {
        let data = b"hello chunk".to_vec();
        let codec = ChunkCodec::new(Compression::Lz4, 0, Some(&[1; 32]));
        let (entry, stored) = entry_for(&codec, 2, &data);
        let other = ChunkCodec::new(Compression::Lz4, 0, Some(&[2; 32]));
        assert!(matches!(
            other.open(2, &entry, &stored),
            Err(AsuError::Decryption { chunk: 2 })
        ));
        assert!(matches!(
            codec.open(3, &entry, &stored),
            Err(AsuError::Decryption { chunk: 3 })
        ));
    }

    #[test]
    fn a_flipped_bit_in_an_unencrypted_chunk_is_caught_by_its_crc() {
        let data = b"plain data that is long enough to matter".to_vec();
        let codec = ChunkCodec::new(Compression::None, 0, None);
        let (entry, mut stored) = entry_for(&codec, 1, &data);
        stored[3] ^= 0x10;
        assert!(matches!(
            codec.open(1, &entry, &stored),
            Err(AsuError::ChunkCorrupt { chunk: 1 })
        ));
    }

    #[test]
    fn fnv_name_hash_matches_the_reference_values() {
        // FNV-1a 64 of "" and "a" from the algorithm's reference table.
        assert_eq!(name_hash("", None), 0xcbf2_9ce4_8422_2325);
        assert_eq!(name_hash("a", None), 0xaf63_dc4c_8601_ec8c);
    }
}
