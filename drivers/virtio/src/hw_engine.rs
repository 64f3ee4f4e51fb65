//! `storage-backend`'s [`CryptoEngine`] on the virtio-crypto device.
//!
//! Seal and open run on the device ([`VirtioCryptoEngine`]: AES-CTR sessions, software GHASH);
//! SHA-256 runs in software (the device has no hash). Key derivation is HKDF-SHA256 exactly as
//! in [`SoftwareEngine`], so a disk written by one engine opens with the other; HKDF needs the
//! parent key's bytes, so an imported key keeps a raw copy *only* until
//! [`HardwareEngine::forget_raw`] wipes it. The VFS task imports the master key, mounts the
//! store (which derives the region keys), then calls `forget_raw(master)`: from then on the
//! master key exists only in the device, and deriving from it fails with
//! [`CryptoError::Derive`]. Derived keys keep no raw copy, unless
//! [`HardwareEngine::keep_derived_raw`] asks for it: a disk image derives its database keys
//! from the master and the store derives its region keys from those (two levels), so the VFS
//! task turns it on for the mount and then wipes every raw copy with
//! [`HardwareEngine::forget_all_raw`].
//!
//! Handles: `KeyHandle`'s constructor is private to `storage-backend`, so handles are minted by
//! an inner [`SoftwareEngine`] that holds only all-zero placeholder keys (no secret). Once
//! `storage-backend` offers a public constructor this indirection can go.
//!
//! Device failures: [`CryptoError`] has no device variant. A failed import or derivation is
//! reported as [`CryptoError::NoKeySlots`] (the engine could not take the key) and a failed seal
//! or open as [`CryptoError::AuthFailed`] (fail closed: nothing is returned); the actual cause is
//! kept in [`HardwareEngine::last_device_error`].

use crate::engine::{EngineError, EngineKey, VirtioCryptoEngine};
use alloc::collections::BTreeMap;
use storage_backend::crypto::{
    CryptoEngine, CryptoError, EngineInfo, KEY_LEN, KeyHandle, NONCE_LEN, SoftwareEngine,
    SoftwareHasher, TAG_LEN, hkdf_sha256,
};
use virtio_drivers::Hal;
use virtio_drivers::transport::Transport;
use zeroize::{Zeroize, Zeroizing};

struct Entry {
    device: EngineKey,
    /// The raw key, kept for HKDF until `forget_raw`; `None` for derived keys (unless
    /// `keep_derived_raw`).
    raw: Option<Zeroizing<[u8; KEY_LEN]>>,
}

/// The hardware crypto engine behind `storage-backend`'s trait.
pub struct HardwareEngine<H: Hal, T: Transport> {
    device: VirtioCryptoEngine<H, T>,
    handles: SoftwareEngine,
    keys: BTreeMap<KeyHandle, Entry>,
    last_device_error: Option<EngineError>,
    keep_derived: bool,
}

impl<H: Hal, T: Transport> HardwareEngine<H, T> {
    /// An engine on `device`.
    pub fn new(device: VirtioCryptoEngine<H, T>) -> Self {
        Self {
            device,
            handles: SoftwareEngine::new(),
            keys: BTreeMap::new(),
            last_device_error: None,
            keep_derived: false,
        }
    }

    /// Whether keys derived from now on keep a raw copy (so that keys can be derived from
    /// them in turn) until [`HardwareEngine::forget_raw`] or [`HardwareEngine::forget_all_raw`].
    pub fn keep_derived_raw(&mut self, keep: bool) {
        self.keep_derived = keep;
    }

    /// Wipes every raw copy (imported and derived keys) and stops keeping derived ones:
    /// afterwards every key exists only in the device.
    pub fn forget_all_raw(&mut self) {
        self.keep_derived = false;
        for entry in self.keys.values_mut() {
            // `Zeroizing` wipes on drop.
            entry.raw = None;
        }
    }

    /// Wipes the raw copy of `key` kept for derivation. Afterwards the key exists only in the
    /// device; `derive_key` from it fails with [`CryptoError::Derive`].
    pub fn forget_raw(&mut self, key: KeyHandle) {
        if let Some(entry) = self.keys.get_mut(&key) {
            // `Zeroizing` wipes on drop.
            entry.raw = None;
        }
    }

    /// Whether `key` still has a raw copy in task memory.
    pub fn holds_raw(&self, key: KeyHandle) -> bool {
        self.keys.get(&key).is_some_and(|e| e.raw.is_some())
    }

    /// The device-level cause of the last failure reported through the trait.
    pub fn last_device_error(&self) -> Option<EngineError> {
        self.last_device_error
    }

    /// The device engine underneath.
    pub fn device_mut(&mut self) -> &mut VirtioCryptoEngine<H, T> {
        &mut self.device
    }

    fn insert(&mut self, raw: &[u8; KEY_LEN], keep_raw: bool) -> Result<KeyHandle, CryptoError> {
        let device = self.device.import_key(raw).map_err(|e| {
            self.last_device_error = Some(e);
            CryptoError::NoKeySlots
        })?;
        let handle = match self.handles.import_key(&[0; KEY_LEN]) {
            Ok(h) => h,
            Err(e) => {
                let _ = self.device.drop_key(device);
                return Err(e);
            }
        };
        let raw = keep_raw.then(|| Zeroizing::new(*raw));
        self.keys.insert(handle, Entry { device, raw });
        Ok(handle)
    }

    fn device_key(&self, key: KeyHandle) -> Result<EngineKey, CryptoError> {
        self.keys
            .get(&key)
            .map(|e| e.device)
            .ok_or(CryptoError::BadHandle)
    }

    fn map_data_error(&mut self, e: EngineError) -> CryptoError {
        match e {
            EngineError::AuthFailed => CryptoError::AuthFailed,
            EngineError::BadHandle => CryptoError::BadHandle,
            other => {
                self.last_device_error = Some(other);
                CryptoError::AuthFailed
            }
        }
    }
}

impl<H: Hal, T: Transport> CryptoEngine for HardwareEngine<H, T> {
    type Hasher = SoftwareHasher;

    fn info(&self) -> EngineInfo {
        EngineInfo {
            hardware: true,
            name: "virtio-crypto",
        }
    }

    fn import_key(&mut self, raw: &[u8; KEY_LEN]) -> Result<KeyHandle, CryptoError> {
        self.insert(raw, true)
    }

    fn derive_key(
        &mut self,
        parent: KeyHandle,
        salt: &[u8],
        info: &[u8],
    ) -> Result<KeyHandle, CryptoError> {
        let entry = self.keys.get(&parent).ok_or(CryptoError::BadHandle)?;
        let ikm = entry.raw.as_ref().ok_or(CryptoError::Derive)?;
        let mut child = Zeroizing::new([0u8; KEY_LEN]);
        hkdf_sha256(salt, ikm.as_slice(), info, child.as_mut_slice())?;
        // The child's bytes are wiped when `child` drops, right after the device took them.
        self.insert(&child, self.keep_derived)
    }

    fn drop_key(&mut self, key: KeyHandle) {
        if let Some(mut entry) = self.keys.remove(&key) {
            if let Some(raw) = entry.raw.as_mut() {
                raw.zeroize();
            }
            if let Err(e) = self.device.drop_key(entry.device) {
                self.last_device_error = Some(e);
            }
            self.handles.drop_key(key);
        }
    }

    fn seal(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let k = self.device_key(key)?;
        self.device
            .seal(k, nonce, aad, buf)
            .map_err(|e| self.map_data_error(e))
    }

    fn open(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let k = self.device_key(key)?;
        self.device
            .open(k, nonce, aad, buf, tag)
            .map_err(|e| self.map_data_error(e))
    }

    fn hasher(&mut self) -> SoftwareHasher {
        SoftwareHasher::default()
    }
}
