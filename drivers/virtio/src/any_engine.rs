//! The engine the VFS task runs with: the virtio-crypto device when present, otherwise the
//! software engine (`cargo xtask run --no-crypto-device`), behind one `CryptoEngine` type so
//! the store is instantiated once.

use crate::hw_engine::HardwareEngine;
use alloc::boxed::Box;
use storage_backend::crypto::{
    CryptoEngine, CryptoError, EngineInfo, KEY_LEN, KeyHandle, NONCE_LEN, SoftwareEngine,
    SoftwareHasher, TAG_LEN,
};
use virtio_drivers::Hal;
use virtio_drivers::transport::Transport;

/// Hardware or software crypto engine.
pub enum AnyEngine<H: Hal, T: Transport> {
    /// virtio-crypto (boxed: it holds the driver, queues and bounce descriptors).
    Hardware(Box<HardwareEngine<H, T>>),
    /// `aes-gcm` / `sha2` / `hkdf` in the task.
    Software(SoftwareEngine),
}

impl<H: Hal, T: Transport> AnyEngine<H, T> {
    /// The hardware variant.
    pub fn hardware(engine: HardwareEngine<H, T>) -> Self {
        Self::Hardware(Box::new(engine))
    }

    /// Wipes the raw copy of `key` where the engine can work without it (hardware); the
    /// software engine needs its keys' bytes and keeps them.
    pub fn forget_raw(&mut self, key: KeyHandle) {
        if let Self::Hardware(e) = self {
            e.forget_raw(key);
        }
    }

    /// Whether derived keys keep a raw copy (hardware; see
    /// [`HardwareEngine::keep_derived_raw`]); the software engine always keeps its keys.
    pub fn keep_derived_raw(&mut self, keep: bool) {
        if let Self::Hardware(e) = self {
            e.keep_derived_raw(keep);
        }
    }

    /// Wipes every raw key copy the hardware engine holds (see
    /// [`HardwareEngine::forget_all_raw`]); nothing for the software engine.
    pub fn forget_all_raw(&mut self) {
        if let Self::Hardware(e) = self {
            e.forget_all_raw();
        }
    }

    /// Whether this is the hardware engine.
    pub fn is_hardware(&self) -> bool {
        matches!(self, Self::Hardware(_))
    }
}

impl<H: Hal, T: Transport> CryptoEngine for AnyEngine<H, T> {
    type Hasher = SoftwareHasher;

    fn info(&self) -> EngineInfo {
        match self {
            Self::Hardware(e) => e.info(),
            Self::Software(e) => e.info(),
        }
    }

    fn import_key(&mut self, raw: &[u8; KEY_LEN]) -> Result<KeyHandle, CryptoError> {
        match self {
            Self::Hardware(e) => e.import_key(raw),
            Self::Software(e) => e.import_key(raw),
        }
    }

    fn derive_key(
        &mut self,
        parent: KeyHandle,
        salt: &[u8],
        info: &[u8],
    ) -> Result<KeyHandle, CryptoError> {
        match self {
            Self::Hardware(e) => e.derive_key(parent, salt, info),
            Self::Software(e) => e.derive_key(parent, salt, info),
        }
    }

    fn drop_key(&mut self, key: KeyHandle) {
        match self {
            Self::Hardware(e) => e.drop_key(key),
            Self::Software(e) => e.drop_key(key),
        }
    }

    fn seal(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        match self {
            Self::Hardware(e) => e.seal(key, nonce, aad, buf),
            Self::Software(e) => e.seal(key, nonce, aad, buf),
        }
    }

    fn open(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        match self {
            Self::Hardware(e) => e.open(key, nonce, aad, buf, tag),
            Self::Software(e) => e.open(key, nonce, aad, buf, tag),
        }
    }

    fn hasher(&mut self) -> SoftwareHasher {
        SoftwareHasher::default()
    }
}
