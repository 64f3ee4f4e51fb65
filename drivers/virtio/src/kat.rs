//! AES-256-GCM known-answer self-test through any `storage-backend` crypto engine, for the VFS
//! task to run at boot or from the QEMU test image against the engine it actually uses.
//!
//! Always included: the AES-256 cases of the GCM specification (McGrew & Viega, test cases
//! 13–16: empty plaintext, one block, four blocks, 60 bytes with AAD). With the `nist-kat`
//! feature also the 375 NIST CAVP `gcmEncryptExtIV256` vectors with 96-bit IVs (about 105 KiB of
//! hex in the image).

use alloc::vec::Vec;
use storage_backend::crypto::{CryptoEngine, CryptoError};

/// The outcome of a self-test run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KatReport {
    /// Vectors that sealed, opened and refused a tampered tag as expected.
    pub passed: u32,
    /// Vectors that did not.
    pub failed: u32,
    /// Index of the first failing vector.
    pub first_failure: Option<u32>,
}

impl KatReport {
    /// Whether every vector passed (and there was at least one).
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

/// key, nonce, plaintext, aad, ciphertext, tag ('-' = empty).
const SPEC_VECTORS: [[&str; 6]; 4] = [
    [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "-",
        "-",
        "-",
        "530f8afbc74536b9a963b4f1c4cb738b",
    ],
    [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "00000000000000000000000000000000",
        "-",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    ],
    [
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        "-",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        "b094dac5d93471bdec1a502270e3cc6c",
    ],
    [
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ],
];

/// The NIST CAVP `gcmEncryptExtIV256` vectors with 96-bit IVs: one per line, six hex fields
/// (key, nonce, plaintext, aad, ciphertext, tag; `-` = empty), `#` lines are comments. Public so
/// that the bare-metal check of the device (`tasks/qemu-kat`) runs the same file.
#[cfg(feature = "nist-kat")]
pub const NIST_VECTORS: &str = include_str!("../tests/data/gcm_encrypt_ext_iv256.txt");

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return Some(Vec::new());
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Runs one vector; `Ok(false)` for a wrong answer, `Err` when the engine failed outright.
fn one<E: CryptoEngine>(engine: &mut E, f: [&str; 6]) -> Result<bool, CryptoError> {
    let parsed = (|| {
        let key: [u8; 32] = unhex(f[0])?.try_into().ok()?;
        let nonce: [u8; 12] = unhex(f[1])?.try_into().ok()?;
        let tag: [u8; 16] = unhex(f[5])?.try_into().ok()?;
        Some((key, nonce, unhex(f[2])?, unhex(f[3])?, unhex(f[4])?, tag))
    })();
    let Some((key, nonce, pt, aad, ct, tag)) = parsed else {
        return Ok(false);
    };
    let k = engine.import_key(&key)?;
    let result = (|| {
        let mut buf = pt.clone();
        let t = engine.seal(k, &nonce, &aad, &mut buf)?;
        let mut ok = buf == ct && t == tag;
        ok &= engine.open(k, &nonce, &aad, &mut buf, &tag).is_ok() && buf == pt;
        let mut bad = tag;
        bad[15] ^= 1;
        let mut buf = ct.clone();
        ok &= engine.open(k, &nonce, &aad, &mut buf, &bad) == Err(CryptoError::AuthFailed);
        Ok(ok)
    })();
    engine.drop_key(k);
    result
}

/// The NIST vectors in the same shape as [`SPEC_VECTORS`] (none without `nist-kat`).
fn nist_vectors() -> impl Iterator<Item = [&'static str; 6]> {
    #[cfg(feature = "nist-kat")]
    let text = NIST_VECTORS;
    #[cfg(not(feature = "nist-kat"))]
    let text = "";
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let mut it = line.split_whitespace();
            core::array::from_fn(|_| it.next().unwrap_or(""))
        })
}

/// Runs every built-in vector through `engine`.
pub fn run<E: CryptoEngine>(engine: &mut E) -> KatReport {
    let mut report = KatReport::default();
    for (index, f) in SPEC_VECTORS.into_iter().chain(nist_vectors()).enumerate() {
        if one(engine, f).unwrap_or(false) {
            report.passed += 1;
        } else {
            report.failed += 1;
            report.first_failure.get_or_insert(index as u32);
        }
    }
    report
}
