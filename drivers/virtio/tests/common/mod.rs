//! Shared helpers of the integration tests.
#![allow(dead_code)]

use zos_virtio::crypto::VirtioCrypto;
use zos_virtio::engine::VirtioCryptoEngine;
use zos_virtio::fake::{FakeCryptoDevice, FakeHal, FakeTransport};

pub type Dev = VirtioCrypto<FakeHal, FakeTransport<FakeCryptoDevice>>;
pub type Engine = VirtioCryptoEngine<FakeHal, FakeTransport<FakeCryptoDevice>>;

pub fn device_with(fake: FakeCryptoDevice, bounce: usize) -> Dev {
    VirtioCrypto::with_bounce_len(FakeTransport::new(fake), bounce)
        .expect("fake device initialises")
}

pub fn device() -> Dev {
    device_with(
        FakeCryptoDevice::new(),
        zos_virtio::crypto::DEFAULT_BOUNCE_LEN,
    )
}

pub fn fake(dev: &mut Dev) -> &mut FakeCryptoDevice {
    &mut dev.transport_mut().device
}

pub fn hex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// One known-answer vector.
pub struct Kat {
    pub key: [u8; 32],
    pub nonce: [u8; 12],
    pub pt: Vec<u8>,
    pub aad: Vec<u8>,
    pub ct: Vec<u8>,
    pub tag: [u8; 16],
}

fn kat(key: &str, nonce: &str, pt: &str, aad: &str, ct: &str, tag: &str) -> Kat {
    Kat {
        key: hex(key).try_into().expect("32-byte key"),
        nonce: hex(nonce).try_into().expect("12-byte nonce"),
        pt: hex(pt),
        aad: hex(aad),
        ct: hex(ct),
        tag: hex(tag).try_into().expect("16-byte tag"),
    }
}

/// The AES-256 cases of the original GCM specification (McGrew & Viega, test cases 13–16),
/// which SP 800-38D's validation builds on.
pub fn gcm_spec_vectors() -> Vec<Kat> {
    let k = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    let iv = "cafebabefacedbaddecaf888";
    let p = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    let c = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
    let zero_key = "0000000000000000000000000000000000000000000000000000000000000000";
    vec![
        // Test case 13: empty plaintext, no AAD.
        kat(
            zero_key,
            "000000000000000000000000",
            "-",
            "-",
            "-",
            "530f8afbc74536b9a963b4f1c4cb738b",
        ),
        // Test case 14: one zero block.
        kat(
            zero_key,
            "000000000000000000000000",
            "00000000000000000000000000000000",
            "-",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
        // Test case 15: four blocks, no AAD.
        kat(k, iv, p, "-", c, "b094dac5d93471bdec1a502270e3cc6c"),
        // Test case 16: 60 bytes (partial last block) with 20 bytes of AAD.
        kat(
            k,
            iv,
            &p[..120],
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            &c[..120],
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ]
}

/// NIST CAVP `gcmEncryptExtIV256.rsp` vectors with 96-bit IVs and 128-bit tags.
pub fn nist_cavp_vectors() -> Vec<Kat> {
    include_str!("../data/gcm_encrypt_ext_iv256.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            kat(f[0], f[1], f[2], f[3], f[4], f[5])
        })
        .collect()
}

/// A small deterministic generator (xorshift64*), so tests need no randomness crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
