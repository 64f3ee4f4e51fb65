//! Content hashing and per-file encryption under a client key.
//!
//! A file version's key is HKDF-SHA256 of the client's 256-bit key, with a fresh per-version
//! salt and the path the file was encrypted at as info. Each stored piece is
//! `counter (8, big-endian) ‖ AES-256-GCM ciphertext ‖ tag (16)` with the 96-bit nonce
//! `piece index (4) ‖ counter (8)`: the counter increases with every seal under one version key,
//! so no nonce repeats under a key, even when a piece is rewritten.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use alloc::vec::Vec;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use crate::error::VfsError;

/// Length of a seal's overhead: counter plus tag.
pub const SEAL_OVERHEAD: usize = 8 + 16;

/// Incremental SHA-256.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Hasher")
    }
}

/// SHA-256 of the empty string.
pub fn empty_hash() -> [u8; 32] {
    Hasher::new().finish()
}

/// The key of one version of an encrypted file. Not `Debug`: it holds key material.
#[derive(Clone)]
pub struct FileCipher {
    key: [u8; 32],
}

impl core::fmt::Debug for FileCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FileCipher(..)")
    }
}

impl FileCipher {
    /// Derives a version key from the client key, the version salt and the bound path.
    pub fn derive(client_key: &[u8; 32], salt: &[u8; 16], bound_path: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(salt), client_key);
        let mut key = [0u8; 32];
        let mut info = Vec::with_capacity(16 + bound_path.len());
        info.extend_from_slice(b"zos-vfs-file-key:");
        info.extend_from_slice(bound_path.as_bytes());
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail.
        let _ = hk.expand(&info, &mut key);
        Self { key }
    }

    fn aead(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }

    fn nonce(index: u32, counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&index.to_be_bytes());
        n[4..].copy_from_slice(&counter.to_be_bytes());
        n
    }

    /// The key-check tag: GCM over the empty message with a nonce no piece uses.
    pub fn check(&self) -> [u8; 16] {
        let mut empty = [0u8; 0];
        let nonce = [0xFFu8; 12];
        match self
            .aead()
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"check", &mut empty)
        {
            Ok(tag) => tag.into(),
            Err(_) => [0u8; 16],
        }
    }

    /// Whether `check` matches this key (constant time).
    pub fn verify_check(&self, check: &[u8; 16]) -> bool {
        let mine = self.check();
        mine.iter()
            .zip(check)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Seals piece `index` with `counter` into its stored form.
    pub fn seal(&self, index: u32, counter: u64, plain: &[u8]) -> Result<Vec<u8>, VfsError> {
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(plain);
        let nonce = Self::nonce(index, counter);
        let tag = self
            .aead()
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut out[8..])
            .map_err(|_| VfsError::EncryptionError)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens the stored form of piece `index`.
    pub fn open(&self, index: u32, stored: &[u8]) -> Result<Vec<u8>, VfsError> {
        if stored.len() < SEAL_OVERHEAD {
            return Err(VfsError::IntegrityError);
        }
        let (head, rest) = stored.split_at(8);
        let (body, tag) = rest.split_at(rest.len() - 16);
        let counter = crate::inode::be_u64(head).ok_or(VfsError::IntegrityError)?;
        let mut plain = body.to_vec();
        let nonce = Self::nonce(index, counter);
        self.aead()
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut plain, tag.into())
            .map_err(|_| VfsError::EncryptionError)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_wrong_keys() {
        let a = FileCipher::derive(&[1; 32], &[2; 16], "/home/u/f");
        let b = FileCipher::derive(&[1; 32], &[2; 16], "/home/u/g");
        let sealed = a.seal(3, 7, b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(a.open(3, &sealed).unwrap(), b"hello");
        assert_eq!(b.open(3, &sealed), Err(VfsError::EncryptionError));
        assert_eq!(a.open(4, &sealed), Err(VfsError::EncryptionError));
        assert!(a.verify_check(&a.check()) && !b.verify_check(&a.check()));
    }
}
