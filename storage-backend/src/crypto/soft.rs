//! The software crypto engine: `aes-gcm`, `sha2`, `hkdf`.
//!
//! Keys live in a slot table; each slot caches the expanded AES key schedule so sealing a chunk
//! does not redo it. Dropped keys are overwritten.

use alloc::boxed::Box;
use alloc::vec::Vec;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::{
    CryptoEngine, CryptoError, EngineInfo, KEY_LEN, KeyHandle, NONCE_LEN, Sha256Hasher, TAG_LEN,
};

struct Slot {
    raw: [u8; KEY_LEN],
    cipher: Box<Aes256Gcm>,
}

/// The software engine.
#[derive(Default)]
pub struct SoftwareEngine {
    slots: Vec<Option<Slot>>,
}

impl core::fmt::Debug for SoftwareEngine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("SoftwareEngine")
            .field("keys", &self.slots.iter().flatten().count())
            .finish()
    }
}

impl SoftwareEngine {
    /// An engine with no keys.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, k: KeyHandle) -> Result<&Slot, CryptoError> {
        self.slots
            .get(k.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(CryptoError::BadHandle)
    }

    fn insert(&mut self, raw: [u8; KEY_LEN]) -> Result<KeyHandle, CryptoError> {
        let cipher = Box::new(Aes256Gcm::new(&raw.into()));
        let slot = Slot { raw, cipher };
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(slot);
            return Ok(KeyHandle(i as u32));
        }
        let i = u32::try_from(self.slots.len()).map_err(|_| CryptoError::NoKeySlots)?;
        self.slots.push(Some(slot));
        Ok(KeyHandle(i))
    }
}

/// HKDF-SHA256 (RFC 5869) into `out`.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    hk.expand(info, out).map_err(|_| CryptoError::Derive)
}

/// Incremental SHA-256 of the software engine.
#[derive(Clone, Default)]
pub struct SoftwareHasher(Sha256);

impl Sha256Hasher for SoftwareHasher {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl CryptoEngine for SoftwareEngine {
    type Hasher = SoftwareHasher;

    fn info(&self) -> EngineInfo {
        EngineInfo {
            hardware: false,
            name: "software",
        }
    }

    fn import_key(&mut self, raw: &[u8; KEY_LEN]) -> Result<KeyHandle, CryptoError> {
        self.insert(*raw)
    }

    fn derive_key(
        &mut self,
        parent: KeyHandle,
        salt: &[u8],
        info: &[u8],
    ) -> Result<KeyHandle, CryptoError> {
        let mut okm = [0u8; KEY_LEN];
        let ikm = self.slot(parent)?.raw;
        hkdf_sha256(salt, &ikm, info, &mut okm)?;
        self.insert(okm)
    }

    fn drop_key(&mut self, key: KeyHandle) {
        if let Some(s) = self.slots.get_mut(key.0 as usize) {
            if let Some(slot) = s.as_mut() {
                slot.raw.fill(0);
            }
            *s = None;
        }
    }

    fn seal(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let s = self.slot(key)?;
        let tag = s
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            .map_err(|_| CryptoError::AuthFailed)?;
        Ok(tag.into())
    }

    fn open(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let s = self.slot(key)?;
        s.cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
            .map_err(|_| CryptoError::AuthFailed)
    }

    fn hasher(&mut self) -> SoftwareHasher {
        SoftwareHasher::default()
    }
}
