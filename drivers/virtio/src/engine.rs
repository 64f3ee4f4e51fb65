//! The hardware crypto engine: AES-256 keys held as device sessions, AES-256-GCM seal/open.
//!
//! A key enters once ([`VirtioCryptoEngine::import_key_and_wipe`]): the device gets it in a
//! create-session request, the engine computes the GHASH key `H = AES_K(0¹²⁸)` with one device
//! request, and the caller's copy of the raw key is overwritten. From then on the task holds a
//! session id and `H`, never the key. This mirrors `storage-backend`'s `CryptoEngine` contract
//! (import into handles, seal, open, drop); the adapter to that trait lives with the integrator
//! because its `KeyHandle` constructor is private to `storage-backend`.

use crate::crypto::{CipherAlgo, CipherOp, CipherSession, CryptoError, SessionCtr, VirtioCrypto};
use crate::gcm::{self, GcmError, GhashKey, NONCE_LEN, TAG_LEN};
use alloc::vec::Vec;
use virtio_drivers::Hal;
use virtio_drivers::transport::Transport;
use zeroize::Zeroize;

/// Bytes in an AES-256 key.
pub const KEY_LEN: usize = 32;

/// A key held by the engine: slot index and the slot's generation, so a handle that outlived
/// [`VirtioCryptoEngine::drop_key`] is refused instead of naming a newer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EngineKey {
    slot: u32,
    generation: u32,
}

/// Why an engine operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The handle does not name a live key (never issued, dropped, or stale).
    BadHandle,
    /// Authentication failed: wrong key, nonce or AAD, or modified ciphertext or tag.
    AuthFailed,
    /// The payload or AAD is longer than GCM allows.
    TooLong,
    /// The engine already holds its maximum number of keys.
    NoKeySlots,
    /// The device failed.
    Device(CryptoError),
}

impl From<GcmError<CryptoError>> for EngineError {
    fn from(e: GcmError<CryptoError>) -> Self {
        match e {
            GcmError::Backend(d) => Self::Device(d),
            GcmError::AuthFailed => Self::AuthFailed,
            GcmError::TooLong => Self::TooLong,
        }
    }
}

struct Slot {
    generation: u32,
    key: Option<(CipherSession, GhashKey)>,
}

/// AES-256-GCM on a virtio-crypto device.
pub struct VirtioCryptoEngine<H: Hal, T: Transport> {
    dev: VirtioCrypto<H, T>,
    slots: Vec<Slot>,
    max_keys: usize,
}

impl<H: Hal, T: Transport> VirtioCryptoEngine<H, T> {
    /// An engine on `dev` holding at most `max_keys` keys (QEMU's builtin backend has 256
    /// session slots in total).
    pub fn new(dev: VirtioCrypto<H, T>, max_keys: usize) -> Self {
        Self {
            dev,
            slots: Vec::new(),
            max_keys,
        }
    }

    /// Imports a raw AES-256 key into a device session and overwrites `raw` with zeros,
    /// whether or not the import succeeded.
    pub fn import_key_and_wipe(
        &mut self,
        raw: &mut [u8; KEY_LEN],
    ) -> Result<EngineKey, EngineError> {
        let result = self.import_key(raw);
        raw.zeroize();
        result
    }

    /// Imports a raw AES-256 key into a device session. The engine keeps no copy; the caller
    /// wipes `raw` (see [`Self::import_key_and_wipe`]).
    pub fn import_key(&mut self, raw: &[u8; KEY_LEN]) -> Result<EngineKey, EngineError> {
        let index = match self.slots.iter().position(|s| s.key.is_none()) {
            Some(i) => i,
            None if self.slots.len() < self.max_keys => {
                self.slots.push(Slot {
                    generation: 0,
                    key: None,
                });
                self.slots.len() - 1
            }
            None => return Err(EngineError::NoKeySlots),
        };
        let session = self
            .dev
            .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, raw)
            .map_err(EngineError::Device)?;
        let h = match SessionCtr::new(&mut self.dev, &session)
            .and_then(|mut ctr| GhashKey::derive(&mut ctr))
        {
            Ok(h) => h,
            Err(e) => {
                // Best effort: the session is useless without H.
                let _ = self.dev.destroy_session(session);
                return Err(EngineError::Device(e));
            }
        };
        let slot = &mut self.slots[index];
        slot.key = Some((session, h));
        Ok(EngineKey {
            slot: index as u32,
            generation: slot.generation,
        })
    }

    /// Forgets a key: destroys its device session and wipes its GHASH key. Unknown handles are
    /// ignored. Returns the device's verdict on the destroy request.
    pub fn drop_key(&mut self, key: EngineKey) -> Result<(), EngineError> {
        let Some(slot) = self.slots.get_mut(key.slot as usize) else {
            return Ok(());
        };
        if slot.generation != key.generation {
            return Ok(());
        }
        let Some((session, h)) = slot.key.take() else {
            return Ok(());
        };
        slot.generation = slot.generation.wrapping_add(1);
        drop(h);
        self.dev
            .destroy_session(session)
            .map_err(EngineError::Device)
    }

    fn lookup(&mut self, key: EngineKey) -> Result<(SessionCtr<'_, H, T>, &GhashKey), EngineError> {
        let slot = self
            .slots
            .get(key.slot as usize)
            .filter(|s| s.generation == key.generation)
            .ok_or(EngineError::BadHandle)?;
        let (session, h) = slot.key.as_ref().ok_or(EngineError::BadHandle)?;
        let ctr = SessionCtr::new(&mut self.dev, session).map_err(EngineError::Device)?;
        Ok((ctr, h))
    }

    /// Encrypts `buf` in place with AES-256-GCM and returns the tag.
    pub fn seal(
        &mut self,
        key: EngineKey,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], EngineError> {
        let (mut ctr, h) = self.lookup(key)?;
        Ok(gcm::seal(&mut ctr, h, nonce, aad, buf)?)
    }

    /// Verifies `tag` and decrypts `buf` in place; on failure `buf` holds no plaintext.
    pub fn open(
        &mut self,
        key: EngineKey,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), EngineError> {
        let (mut ctr, h) = self.lookup(key)?;
        Ok(gcm::open(&mut ctr, h, nonce, aad, buf, tag)?)
    }

    /// The driver underneath.
    pub fn device_mut(&mut self) -> &mut VirtioCrypto<H, T> {
        &mut self.dev
    }
}

impl<H: Hal, T: Transport> Drop for VirtioCryptoEngine<H, T> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some((session, h)) = slot.key.take() {
                drop(h);
                // Nothing to do about a failure while tearing down.
                let _ = self.dev.destroy_session(session);
            }
        }
    }
}
