//! Known-answer tests of the software engine: AES-256-GCM test cases 13-16 of the original GCM
//! specification (McGrew & Viega, as used by NIST SP 800-38D validation), SHA-256 (FIPS 180-2
//! examples) and HKDF-SHA256 (RFC 5869 test case 1).

use storage_backend::crypto::{
    CryptoEngine, CryptoError, Sha256Hasher, SoftwareEngine, hkdf_sha256,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Case {
    key: &'static str,
    iv: &'static str,
    pt: &'static str,
    aad: &'static str,
    ct: &'static str,
    tag: &'static str,
}

const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                   1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                   8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

const CASES: [Case; 4] = [
    // Test case 13: zero key, empty plaintext.
    Case {
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: "000000000000000000000000",
        pt: "",
        aad: "",
        ct: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    // Test case 14: zero key, one zero block.
    Case {
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: "000000000000000000000000",
        pt: "00000000000000000000000000000000",
        aad: "",
        ct: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    // Test case 15: 64-byte plaintext, no AAD.
    Case {
        key: K15,
        iv: "cafebabefacedbaddecaf888",
        pt: P15,
        aad: "",
        ct: C15,
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    // Test case 16: 60-byte plaintext with AAD.
    Case {
        key: K15,
        iv: "cafebabefacedbaddecaf888",
        pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

#[test]
fn aes256_gcm_test_cases_13_to_16() {
    let mut e = SoftwareEngine::new();
    for (i, c) in CASES.iter().enumerate() {
        let key: [u8; 32] = hex(c.key).try_into().unwrap();
        let iv: [u8; 12] = hex(c.iv).try_into().unwrap();
        let k = e.import_key(&key).unwrap();
        let mut buf = hex(c.pt);
        let tag = e.seal(k, &iv, &hex(c.aad), &mut buf).unwrap();
        assert_eq!(buf, hex(c.ct), "case {} ciphertext", 13 + i);
        assert_eq!(tag.to_vec(), hex(c.tag), "case {} tag", 13 + i);
        e.open(k, &iv, &hex(c.aad), &mut buf, &tag).unwrap();
        assert_eq!(buf, hex(c.pt), "case {} round trip", 13 + i);
        // Any flipped bit of the tag, the AAD or the ciphertext is an authentication failure.
        let mut bad = tag;
        bad[0] ^= 1;
        let mut ct = hex(c.ct);
        assert_eq!(
            e.open(k, &iv, &hex(c.aad), &mut ct, &bad),
            Err(CryptoError::AuthFailed)
        );
        if !ct.is_empty() {
            let mut ct = hex(c.ct);
            ct[0] ^= 0x80;
            assert_eq!(
                e.open(k, &iv, &hex(c.aad), &mut ct, &tag),
                Err(CryptoError::AuthFailed)
            );
        }
        e.drop_key(k);
        assert_eq!(e.seal(k, &iv, &[], &mut []), Err(CryptoError::BadHandle));
    }
}

#[test]
fn sha256_vectors_one_shot_and_incremental() {
    let mut e = SoftwareEngine::new();
    assert_eq!(
        e.sha256(b"abc").to_vec(),
        hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        e.sha256(b"").to_vec(),
        hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let mut h = e.hasher();
    for part in msg.chunks(7) {
        h.update(part);
    }
    assert_eq!(
        h.finalize().to_vec(),
        hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    );
}

#[test]
fn hkdf_rfc5869_case_1() {
    let ikm = [0x0b; 22];
    let salt = hex("000102030405060708090a0b0c");
    let info = hex("f0f1f2f3f4f5f6f7f8f9");
    let mut okm = [0u8; 42];
    hkdf_sha256(&salt, &ikm, &info, &mut okm).unwrap();
    assert_eq!(
        okm.to_vec(),
        hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    );
}

#[test]
fn derived_keys_differ_by_info() {
    let mut e = SoftwareEngine::new();
    let master = e.import_key(&[7u8; 32]).unwrap();
    let a = e.derive_key(master, b"", b"/home/alice/a.txt").unwrap();
    let b = e.derive_key(master, b"", b"/home/alice/b.txt").unwrap();
    let iv = [0u8; 12];
    let mut x = [0u8; 16];
    let ta = e.seal(a, &iv, &[], &mut x.clone()).unwrap();
    let tb = e.seal(b, &iv, &[], &mut x).unwrap();
    assert_ne!(ta, tb);
}
