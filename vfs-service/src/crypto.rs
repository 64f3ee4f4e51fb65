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

/// Per-file AES-256-GCM and HKDF-SHA256 as the VFS needs them, over key handles: a store lends
/// its crypto engine through [`crate::store::Storage::file_crypto`] (so per-file keys live in
/// the engine, hardware or software), and [`SoftCrypto`] is the fallback.
pub trait FileCrypto {
    /// Derives a key with HKDF-SHA256 from `client_key`, `salt` and `info`; returns a handle.
    fn derive(&mut self, client_key: &[u8; 32], salt: &[u8], info: &[u8]) -> Result<u32, VfsError>;
    /// Encrypts `buf` in place; returns the tag.
    fn seal(
        &mut self,
        key: u32,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], VfsError>;
    /// Verifies and decrypts `buf` in place (`EncryptionError` on a wrong key or tampering).
    fn open(
        &mut self,
        key: u32,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), VfsError>;
    /// Forgets a derived key.
    fn release(&mut self, key: u32);
}

/// The software [`FileCrypto`]: `hkdf`, `aes-gcm`.
#[derive(Default)]
pub struct SoftCrypto {
    keys: Vec<Option<[u8; 32]>>,
}

impl SoftCrypto {
    fn key(&self, key: u32) -> Result<&[u8; 32], VfsError> {
        self.keys
            .get(key as usize)
            .and_then(Option::as_ref)
            .ok_or(VfsError::EncryptionError)
    }
}

impl FileCrypto for SoftCrypto {
    fn derive(&mut self, client_key: &[u8; 32], salt: &[u8], info: &[u8]) -> Result<u32, VfsError> {
        let hk = Hkdf::<Sha256>::new(Some(salt), client_key);
        let mut key = [0u8; 32];
        hk.expand(info, &mut key)
            .map_err(|_| VfsError::EncryptionError)?;
        let slot = match self.keys.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.keys.push(None);
                self.keys.len() - 1
            }
        };
        self.keys[slot] = Some(key);
        Ok(slot as u32)
    }

    fn seal(
        &mut self,
        key: u32,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], VfsError> {
        let aead = Aes256Gcm::new(self.key(key)?.into());
        aead.encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            .map(Into::into)
            .map_err(|_| VfsError::EncryptionError)
    }

    fn open(
        &mut self,
        key: u32,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), VfsError> {
        let aead = Aes256Gcm::new(self.key(key)?.into());
        aead.decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, tag.into())
            .map_err(|_| VfsError::EncryptionError)
    }

    fn release(&mut self, key: u32) {
        if let Some(slot) = self.keys.get_mut(key as usize) {
            *slot = None;
        }
    }
}

/// Keys derived so far, by derivation parameters: a bounded cache of engine handles, so that
/// a handle's thousands of pieces derive their key once and the engine never fills up.
#[derive(Default)]
pub struct KeyCache {
    entries: Vec<([u8; 32], u32, u64)>,
    tick: u64,
}

/// Derived keys kept at once.
const KEY_CACHE: usize = 16;

impl KeyCache {
    fn handle(&mut self, crypto: &mut dyn FileCrypto, c: &FileCipher) -> Result<u32, VfsError> {
        self.tick += 1;
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == c.id) {
            e.2 = self.tick;
            return Ok(e.1);
        }
        if self.entries.len() >= KEY_CACHE
            && let Some(oldest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].2)
        {
            let (_, h, _) = self.entries.swap_remove(oldest);
            crypto.release(h);
        }
        let mut info = Vec::with_capacity(17 + c.bound_path.len());
        info.extend_from_slice(b"zos-vfs-file-key:");
        info.extend_from_slice(c.bound_path.as_bytes());
        let h = crypto.derive(&c.client_key, &c.salt, &info)?;
        self.entries.push((c.id, h, self.tick));
        Ok(h)
    }
}

/// A crypto engine and the cache of keys derived in it, for one operation.
pub struct CryptoCx<'a> {
    /// The engine.
    pub crypto: &'a mut dyn FileCrypto,
    /// Its derived keys.
    pub cache: &'a mut KeyCache,
}

/// How to reach the key of one version of an encrypted file: the client key, the version's
/// salt and the bound path. Not `Debug`: it holds key material.
#[derive(Clone)]
pub struct FileCipher {
    client_key: [u8; 32],
    salt: [u8; 16],
    bound_path: alloc::string::String,
    id: [u8; 32],
}

impl core::fmt::Debug for FileCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FileCipher(..)")
    }
}

impl FileCipher {
    /// The cipher of a version: key = HKDF-SHA256(client key, salt, "zos-vfs-file-key:" ‖ path).
    pub fn derive(client_key: &[u8; 32], salt: &[u8; 16], bound_path: &str) -> Self {
        let mut h = Hasher::new();
        h.update(client_key);
        h.update(salt);
        h.update(bound_path.as_bytes());
        Self {
            client_key: *client_key,
            salt: *salt,
            bound_path: bound_path.into(),
            id: h.finish(),
        }
    }

    fn nonce(index: u32, counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&index.to_be_bytes());
        n[4..].copy_from_slice(&counter.to_be_bytes());
        n
    }

    /// The key-check tag: GCM over the empty message with a nonce no piece uses.
    pub fn check(&self, cx: &mut CryptoCx<'_>) -> Result<[u8; 16], VfsError> {
        let key = cx.cache.handle(cx.crypto, self)?;
        cx.crypto.seal(key, &[0xFF; 12], b"check", &mut [])
    }

    /// Whether `check` matches this key (constant time).
    pub fn verify_check(&self, cx: &mut CryptoCx<'_>, check: &[u8; 16]) -> Result<bool, VfsError> {
        let mine = self.check(cx)?;
        Ok(mine
            .iter()
            .zip(check)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
    }

    /// Seals piece `index` with `counter` into its stored form.
    pub fn seal(
        &self,
        cx: &mut CryptoCx<'_>,
        index: u32,
        counter: u64,
        plain: &[u8],
    ) -> Result<Vec<u8>, VfsError> {
        let key = cx.cache.handle(cx.crypto, self)?;
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(plain);
        let tag = cx
            .crypto
            .seal(key, &Self::nonce(index, counter), &[], &mut out[8..])?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens the stored form of piece `index`.
    pub fn open(
        &self,
        cx: &mut CryptoCx<'_>,
        index: u32,
        stored: &[u8],
    ) -> Result<Vec<u8>, VfsError> {
        if stored.len() < SEAL_OVERHEAD {
            return Err(VfsError::IntegrityError);
        }
        let (head, rest) = stored.split_at(8);
        let (body, tag) = rest.split_at(rest.len() - 16);
        let counter = crate::inode::be_u64(head).ok_or(VfsError::IntegrityError)?;
        let tag: [u8; 16] = tag.try_into().map_err(|_| VfsError::IntegrityError)?;
        let key = cx.cache.handle(cx.crypto, self)?;
        let mut plain = body.to_vec();
        cx.crypto
            .open(key, &Self::nonce(index, counter), &[], &mut plain, &tag)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_wrong_keys() {
        let mut soft = SoftCrypto::default();
        let mut cache = KeyCache::default();
        let mut cx = CryptoCx {
            crypto: &mut soft,
            cache: &mut cache,
        };
        let a = FileCipher::derive(&[1; 32], &[2; 16], "/home/u/f");
        let b = FileCipher::derive(&[1; 32], &[2; 16], "/home/u/g");
        let sealed = a.seal(&mut cx, 3, 7, b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(a.open(&mut cx, 3, &sealed).unwrap(), b"hello");
        assert_eq!(b.open(&mut cx, 3, &sealed), Err(VfsError::EncryptionError));
        assert_eq!(a.open(&mut cx, 4, &sealed), Err(VfsError::EncryptionError));
        let check = a.check(&mut cx).unwrap();
        assert!(a.verify_check(&mut cx, &check).unwrap());
        assert!(!b.verify_check(&mut cx, &check).unwrap());
    }

    #[test]
    fn the_key_cache_stays_bounded() {
        let mut soft = SoftCrypto::default();
        let mut cache = KeyCache::default();
        for i in 0..100u8 {
            let mut cx = CryptoCx {
                crypto: &mut soft,
                cache: &mut cache,
            };
            let c = FileCipher::derive(&[i; 32], &[0; 16], "/x");
            let s = c.seal(&mut cx, 0, 1, b"x").unwrap();
            assert_eq!(c.open(&mut cx, 0, &s).unwrap(), b"x");
        }
        assert!(soft.keys.iter().filter(|k| k.is_some()).count() <= KEY_CACHE);
    }
}
