//! AES-256-GCM (NIST SP 800-38D) composed from an AES-CTR backend and software GHASH.
//!
//! With a 96-bit nonce `N`: `J0 = N ‖ 0³¹1`, the hash key is `H = AES_K(0¹²⁸)`, the payload is
//! XORed with the CTR keystream from `inc32(J0)`, and the tag is
//! `GHASH_H(A ‖ pad ‖ C ‖ pad ‖ [len(A)]₆₄ ‖ [len(C)]₆₄) ⊕ AES_K(J0)`.
//!
//! The backend increments its counter over all 128 bits, GCM over the low 32 only. They agree as
//! long as the low 32 bits never wrap, and they cannot: they start at 1 in `J0`, and a message
//! is at most `2³² − 2` blocks (the GCM plaintext limit, enforced here), so the last counter is
//! at most `2³² − 1`.

use crate::ctr::{AesCtr, BLOCK_LEN, Block};
use ghash::GHash;
use ghash::universal_hash::{KeyInit, UniversalHash};
use zeroize::Zeroize;

/// Bytes in a GCM nonce (only 96-bit nonces are supported).
pub const NONCE_LEN: usize = 12;
/// Bytes in a GCM tag (only full 128-bit tags are produced and accepted).
pub const TAG_LEN: usize = 16;
/// Largest payload GCM allows: `2³² − 2` blocks (SP 800-38D §5.2.1.1).
pub const MAX_PAYLOAD_LEN: u64 = ((1u64 << 32) - 2) * BLOCK_LEN as u64;
/// Largest AAD this implementation accepts (GCM allows up to 2⁶⁴ − 1 bits).
pub const MAX_AAD_LEN: u64 = (1u64 << 61) - 1;

/// Why a GCM operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcmError<E> {
    /// The AES backend failed.
    Backend(E),
    /// The tag did not verify: wrong key, nonce or AAD, or modified ciphertext or tag.
    AuthFailed,
    /// The payload or AAD is longer than GCM allows.
    TooLong,
}

/// The GHASH key `H = AES_K(0¹²⁸)` of one AES key. Computed once per key (one device request)
/// and wiped on drop.
pub struct GhashKey(Block);

impl GhashKey {
    /// Computes `H` with the backend.
    pub fn derive<B: AesCtr + ?Sized>(backend: &mut B) -> Result<Self, B::Error> {
        Ok(Self(backend.encrypt_block(&[0u8; BLOCK_LEN])?))
    }

    /// The GHASH of `aad` and `ct` with the length block (before the `AES_K(J0)` mask).
    fn ghash(&self, aad: &[u8], ct: &[u8]) -> Block {
        let mut g = GHash::new(&self.0.into());
        g.update_padded(aad);
        g.update_padded(ct);
        let mut lens = [0u8; BLOCK_LEN];
        lens[..8].copy_from_slice(&(aad.len() as u64 * 8).to_be_bytes());
        lens[8..].copy_from_slice(&(ct.len() as u64 * 8).to_be_bytes());
        g.update(&[lens.into()]);
        g.finalize().into()
    }
}

impl Drop for GhashKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for GhashKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GhashKey { .. }")
    }
}

fn j0(nonce: &[u8; NONCE_LEN]) -> Block {
    let mut j0 = [0u8; BLOCK_LEN];
    j0[..NONCE_LEN].copy_from_slice(nonce);
    j0[BLOCK_LEN - 1] = 1;
    j0
}

fn check_lengths<E>(aad: &[u8], payload: &[u8]) -> Result<(), GcmError<E>> {
    if payload.len() as u64 > MAX_PAYLOAD_LEN || aad.len() as u64 > MAX_AAD_LEN {
        return Err(GcmError::TooLong);
    }
    Ok(())
}

fn xor_block(a: &mut Block, b: &Block) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Constant-time equality of two tags.
fn tags_equal(a: &Block, b: &Block) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // The fold has no data-dependent branch; `black_box` keeps it from being short-circuited.
    core::hint::black_box(diff) == 0
}

/// Encrypts `buf` in place and returns the tag.
pub fn seal<B: AesCtr + ?Sized>(
    backend: &mut B,
    h: &GhashKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], GcmError<B::Error>> {
    check_lengths(aad, buf)?;
    let mut tag = backend
        .mask_and_apply(&j0(nonce), buf)
        .map_err(GcmError::Backend)?;
    xor_block(&mut tag, &h.ghash(aad, buf));
    Ok(tag)
}

/// Verifies `tag` and decrypts `buf` in place. On any error `buf` holds no plaintext: it is
/// unchanged if the failure came before decryption, zeroed otherwise.
pub fn open<B: AesCtr + ?Sized>(
    backend: &mut B,
    h: &GhashKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), GcmError<B::Error>> {
    check_lengths(aad, buf)?;
    // GHASH runs over the ciphertext, so it is computed before decrypting in place; the mask and
    // the plaintext then come from one backend call (one device request).
    let mut expected = h.ghash(aad, buf);
    let mask = match backend.mask_and_apply(&j0(nonce), buf) {
        Ok(mask) => mask,
        Err(e) => {
            // A device may have failed half way through: leave nothing decrypted behind.
            buf.zeroize();
            return Err(GcmError::Backend(e));
        }
    };
    xor_block(&mut expected, &mask);
    if tags_equal(&expected, tag) {
        Ok(())
    } else {
        buf.zeroize();
        Err(GcmError::AuthFailed)
    }
}

/// An AES-256-GCM key: a backend holding the AES key plus its GHASH key.
pub struct Aes256Gcm<B: AesCtr> {
    backend: B,
    h: GhashKey,
}

impl<B: AesCtr> Aes256Gcm<B> {
    /// Wraps a backend, computing its GHASH key.
    pub fn new(mut backend: B) -> Result<Self, B::Error> {
        let h = GhashKey::derive(&mut backend)?;
        Ok(Self { backend, h })
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal(
        &mut self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], GcmError<B::Error>> {
        seal(&mut self.backend, &self.h, nonce, aad, buf)
    }

    /// Verifies `tag` and decrypts `buf` in place.
    pub fn open(
        &mut self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), GcmError<B::Error>> {
        open(&mut self.backend, &self.h, nonce, aad, buf, tag)
    }

    /// The backend (for example to reach the device driver behind it).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }
}
