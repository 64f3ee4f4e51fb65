//! AES-256-GCM known-answer tests, run over the software AES-CTR backend and over the fake
//! virtio-crypto device through the full driver path (session, data requests, GHASH).

mod common;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use common::*;
use zos_virtio::crypto::DEFAULT_BOUNCE_LEN;
use zos_virtio::ctr::SoftAes256Ctr;
use zos_virtio::engine::{EngineError, VirtioCryptoEngine};
use zos_virtio::fake::FakeCryptoDevice;
use zos_virtio::gcm::{Aes256Gcm, GcmError};

fn all_vectors() -> Vec<Kat> {
    let mut v = gcm_spec_vectors();
    v.extend(nist_cavp_vectors());
    v
}

#[test]
fn the_vector_sets_are_complete() {
    let v = all_vectors();
    assert_eq!(v.len(), 4 + 375);
    assert!(v.iter().any(|k| k.pt.is_empty() && k.aad.is_empty()));
    assert!(v.iter().any(|k| k.pt.is_empty() && !k.aad.is_empty()));
    assert!(v.iter().any(|k| !k.pt.is_empty() && k.aad.is_empty()));
    assert!(v.iter().any(|k| !k.pt.is_empty() && !k.aad.is_empty()));
    assert!(v.iter().any(|k| k.pt.len() % 16 != 0));
}

#[test]
fn kat_over_software_aes() {
    for (i, k) in all_vectors().iter().enumerate() {
        let mut gcm = Aes256Gcm::new(SoftAes256Ctr::new(&k.key)).unwrap();
        let mut buf = k.pt.clone();
        let tag = gcm.seal(&k.nonce, &k.aad, &mut buf).unwrap();
        assert_eq!(buf, k.ct, "ciphertext of vector {i}");
        assert_eq!(tag, k.tag, "tag of vector {i}");
        gcm.open(&k.nonce, &k.aad, &mut buf, &k.tag).unwrap();
        assert_eq!(buf, k.pt, "plaintext of vector {i}");

        let mut bad = k.tag;
        bad[15] ^= 1;
        let mut buf = k.ct.clone();
        assert_eq!(
            gcm.open(&k.nonce, &k.aad, &mut buf, &bad),
            Err(GcmError::AuthFailed)
        );
        assert!(
            buf.iter().all(|&b| b == 0),
            "no plaintext after a failed open"
        );
    }
}

#[test]
fn kat_over_the_fake_device() {
    let mut engine = VirtioCryptoEngine::new(device(), 4);
    for (i, k) in all_vectors().iter().enumerate() {
        let mut raw = k.key;
        let key = engine.import_key_and_wipe(&mut raw).unwrap();
        assert_eq!(raw, [0; 32], "raw key wiped");
        let mut buf = k.pt.clone();
        let tag = engine.seal(key, &k.nonce, &k.aad, &mut buf).unwrap();
        assert_eq!(buf, k.ct, "ciphertext of vector {i}");
        assert_eq!(tag, k.tag, "tag of vector {i}");
        engine
            .open(key, &k.nonce, &k.aad, &mut buf, &k.tag)
            .unwrap();
        assert_eq!(buf, k.pt, "plaintext of vector {i}");

        let mut buf = k.ct.clone();
        let mut aad = k.aad.clone();
        aad.push(0);
        assert_eq!(
            engine.open(key, &k.nonce, &aad, &mut buf, &k.tag),
            Err(EngineError::AuthFailed)
        );
        assert!(buf.iter().all(|&b| b == 0));
        engine.drop_key(key).unwrap();
    }
    assert_eq!(fake(engine.device_mut()).session_count(), 0);
    assert_eq!(fake(engine.device_mut()).violations, 0);
}

/// Random lengths, including payloads split over many small requests, checked against the
/// `aes-gcm` crate.
#[test]
fn device_matches_reference_on_random_inputs() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for bounce in [64, 256, DEFAULT_BOUNCE_LEN] {
        let mut engine = VirtioCryptoEngine::new(device_with(FakeCryptoDevice::new(), bounce), 2);
        for _ in 0..60 {
            let mut key = [0u8; 32];
            let mut nonce = [0u8; 12];
            rng.fill(&mut key);
            rng.fill(&mut nonce);
            let mut pt = vec![0u8; rng.below(1200) as usize];
            let mut aad = vec![0u8; rng.below(70) as usize];
            rng.fill(&mut pt);
            rng.fill(&mut aad);

            let reference = aes_gcm::Aes256Gcm::new(&key.into());
            let mut expect = pt.clone();
            let expect_tag = reference
                .encrypt_in_place_detached(&nonce.into(), &aad, &mut expect)
                .unwrap();

            let handle = engine.import_key(&key).unwrap();
            let mut buf = pt.clone();
            let tag = engine.seal(handle, &nonce, &aad, &mut buf).unwrap();
            assert_eq!(buf, expect, "bounce {bounce}, len {}", pt.len());
            assert_eq!(tag.as_slice(), expect_tag.as_slice());
            engine.open(handle, &nonce, &aad, &mut buf, &tag).unwrap();
            assert_eq!(buf, pt);
            engine.drop_key(handle).unwrap();
        }
        assert_eq!(fake(engine.device_mut()).violations, 0);
    }
}
