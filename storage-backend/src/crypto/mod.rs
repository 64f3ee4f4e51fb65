//! The crypto-engine contract: key handles, HKDF-SHA256 derivation, AES-256-GCM seal/open and
//! SHA-256 (one-shot and incremental).
//!
//! Raw key bytes enter an engine once ([`CryptoEngine::import_key`]) and never leave it: callers
//! hold [`KeyHandle`]s, so a hardware engine can keep keys in its own memory. The software engine
//! ([`SoftwareEngine`]) implements the same trait with the `aes-gcm`, `sha2` and `hkdf` crates.

mod soft;

pub use soft::{SoftwareEngine, SoftwareHasher, hkdf_sha256};

/// Bytes in an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Bytes in a GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes in a GCM tag.
pub const TAG_LEN: usize = 16;

/// An opaque reference to a key held by an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHandle(pub(crate) u32);

impl KeyHandle {
    /// A handle with an engine-defined number (for engines implemented outside this crate).
    pub const fn new(raw: u32) -> Self {
        Self(raw)
    }

    /// The engine-defined number.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// Why a crypto operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// The handle does not name a live key.
    BadHandle,
    /// Authentication failed: wrong key, wrong nonce/AAD, or modified ciphertext or tag.
    AuthFailed,
    /// Key derivation failed (output too long).
    Derive,
    /// The engine has no room for another key.
    NoKeySlots,
}

/// Incremental SHA-256.
pub trait Sha256Hasher {
    /// Feeds bytes.
    fn update(&mut self, data: &[u8]);
    /// The digest.
    fn finalize(self) -> [u8; 32];
}

/// What an engine is, for reports such as the VFS's STATFS: whether keys and computation sit in
/// a hardware block, and its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// A hardware engine: keys are held by the device once imported.
    pub hardware: bool,
    /// A short name (`software`, `virtio-crypto`, a board's peripheral).
    pub name: &'static str,
}

/// A crypto engine: software, or hardware behind the same API.
pub trait CryptoEngine {
    /// The incremental hasher type.
    type Hasher: Sha256Hasher;

    /// What this engine is. Required, so that no engine can be reported as another.
    fn info(&self) -> EngineInfo;

    /// Imports a raw 256-bit key; the engine keeps its own copy.
    fn import_key(&mut self, raw: &[u8; KEY_LEN]) -> Result<KeyHandle, CryptoError>;

    /// Derives a new 256-bit key with HKDF-SHA256 (`salt`, `info`) from `parent`.
    fn derive_key(
        &mut self,
        parent: KeyHandle,
        salt: &[u8],
        info: &[u8],
    ) -> Result<KeyHandle, CryptoError>;

    /// Forgets a key (its bytes are overwritten).
    fn drop_key(&mut self, key: KeyHandle);

    /// Encrypts `buf` in place with AES-256-GCM and returns the tag.
    fn seal(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError>;

    /// Verifies `tag` and decrypts `buf` in place; on failure `buf` holds no plaintext.
    fn open(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError>;

    /// A fresh incremental SHA-256 hasher.
    fn hasher(&mut self) -> Self::Hasher;

    /// One-shot SHA-256.
    fn sha256(&mut self, data: &[u8]) -> [u8; 32] {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }
}
