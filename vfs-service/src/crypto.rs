//! Content hashing and per-file encryption under a client key.
//!
//! A file version's key is HKDF-SHA256 of the client's 256-bit key, with a fresh per-version
//! salt and the path the file was encrypted at as info. Each stored piece is
//! `counter (8, big-endian) ‖ AES-256-GCM ciphertext ‖ tag (16)` with the 96-bit nonce
//! `piece index (4) ‖ counter (8)`: the counter increases with every seal under one version key,
//! so no nonce repeats under a key, even when a piece is rewritten.

use alloc::vec::Vec;
use storage_backend::{CryptoEngine, KeyHandle, Sha256Hasher};

use crate::error::VfsError;

/// Length of a seal's overhead: counter plus tag.
pub const SEAL_OVERHEAD: usize = 8 + 16;

/// Incremental SHA-256: the store's software hasher, the one SHA-256 of the service (content
/// hashes are computed while streaming, outside any engine call, so they need a plain value).
pub use storage_backend::crypto::SoftwareHasher as Hasher;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut h = Hasher::default();
    h.update(bytes);
    h.finalize()
}

/// SHA-256 of the empty string.
pub fn empty_hash() -> [u8; 32] {
    sha256(&[])
}

fn engine_err(_: storage_backend::CryptoError) -> VfsError {
    VfsError::EncryptionError
}

/// Keys derived so far, by derivation parameters: a bounded cache of engine handles, so that
/// a handle's thousands of pieces derive their key once and the engine never fills up.
#[derive(Default)]
pub struct KeyCache {
    entries: Vec<([u8; 32], KeyHandle, u64)>,
    tick: u64,
}

/// Derived keys kept at once.
const KEY_CACHE: usize = 16;

impl KeyCache {
    fn handle<E: CryptoEngine>(
        &mut self,
        engine: &mut E,
        c: &FileCipher,
    ) -> Result<KeyHandle, VfsError> {
        self.tick += 1;
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == c.id) {
            e.2 = self.tick;
            return Ok(e.1);
        }
        if self.entries.len() >= KEY_CACHE
            && let Some(oldest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].2)
        {
            let (_, h, _) = self.entries.swap_remove(oldest);
            engine.drop_key(h);
        }
        let mut info = Vec::with_capacity(17 + c.bound_path.len());
        info.extend_from_slice(b"zos-vfs-file-key:");
        info.extend_from_slice(c.bound_path.as_bytes());
        // The client key enters the engine only to derive the version key, and leaves at once.
        let parent = engine.import_key(&c.client_key).map_err(engine_err)?;
        let derived = engine.derive_key(parent, &c.salt, &info);
        engine.drop_key(parent);
        let h = derived.map_err(engine_err)?;
        self.entries.push((c.id, h, self.tick));
        Ok(h)
    }

    /// Drops every cached key from `engine` (the engine wipes their bytes).
    pub fn release_all<E: CryptoEngine>(&mut self, engine: &mut E) {
        for (_, h, _) in self.entries.drain(..) {
            engine.drop_key(h);
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A crypto engine and the cache of keys derived in it, for one operation.
pub struct CryptoCx<'a, E: CryptoEngine> {
    /// The engine (the store's).
    pub engine: &'a mut E,
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
        let mut h = Hasher::default();
        h.update(client_key);
        h.update(salt);
        h.update(bound_path.as_bytes());
        Self {
            client_key: *client_key,
            salt: *salt,
            bound_path: bound_path.into(),
            id: h.finalize(),
        }
    }

    fn nonce(index: u32, counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&index.to_be_bytes());
        n[4..].copy_from_slice(&counter.to_be_bytes());
        n
    }

    /// The key-check tag: GCM over the empty message with a nonce no piece uses.
    pub fn check<E: CryptoEngine>(&self, cx: &mut CryptoCx<'_, E>) -> Result<[u8; 16], VfsError> {
        let key = cx.cache.handle(cx.engine, self)?;
        cx.engine
            .seal(key, &[0xFF; 12], b"check", &mut [])
            .map_err(engine_err)
    }

    /// Whether `check` matches this key (constant time).
    pub fn verify_check<E: CryptoEngine>(
        &self,
        cx: &mut CryptoCx<'_, E>,
        check: &[u8; 16],
    ) -> Result<bool, VfsError> {
        let mine = self.check(cx)?;
        Ok(mine
            .iter()
            .zip(check)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
    }

    /// Seals piece `index` with `counter` into its stored form.
    pub fn seal<E: CryptoEngine>(
        &self,
        cx: &mut CryptoCx<'_, E>,
        index: u32,
        counter: u64,
        plain: &[u8],
    ) -> Result<Vec<u8>, VfsError> {
        let key = cx.cache.handle(cx.engine, self)?;
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(plain);
        let tag = cx
            .engine
            .seal(key, &Self::nonce(index, counter), &[], &mut out[8..])
            .map_err(engine_err)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens the stored form of piece `index`.
    pub fn open<E: CryptoEngine>(
        &self,
        cx: &mut CryptoCx<'_, E>,
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
        let key = cx.cache.handle(cx.engine, self)?;
        let mut plain = body.to_vec();
        cx.engine
            .open(key, &Self::nonce(index, counter), &[], &mut plain, &tag)
            .map_err(engine_err)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_backend::SoftwareEngine;

    #[test]
    fn seal_open_and_wrong_keys() {
        let mut engine = SoftwareEngine::new();
        let mut cache = KeyCache::default();
        let mut cx = CryptoCx {
            engine: &mut engine,
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
    fn the_key_cache_stays_bounded_and_releases_its_keys() {
        let mut engine = SoftwareEngine::new();
        let mut cache = KeyCache::default();
        let mut last = None;
        for i in 0..100u8 {
            let mut cx = CryptoCx {
                engine: &mut engine,
                cache: &mut cache,
            };
            let c = FileCipher::derive(&[i; 32], &[0; 16], "/x");
            let s = c.seal(&mut cx, 0, 1, b"x").unwrap();
            assert_eq!(c.open(&mut cx, 0, &s).unwrap(), b"x");
            last = cache.entries.last().map(|e| e.1);
        }
        assert!(cache.len() <= KEY_CACHE);
        cache.release_all(&mut engine);
        assert!(cache.is_empty());
        // A released key no longer names anything in the engine.
        let h = last.unwrap();
        let mut buf = [0u8; 1];
        assert!(engine.seal(h, &[0; 12], &[], &mut buf).is_err());
    }

    #[test]
    fn one_sha256() {
        assert_eq!(
            empty_hash()[..4],
            [0xe3, 0xb0, 0xc4, 0x42],
            "SHA-256 of the empty string"
        );
    }
}
