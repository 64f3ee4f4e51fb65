//! The virtio-crypto driver against the fake device: initialisation, sessions, cipher round
//! trips, splitting and refusing large requests, and every kind of bad device answer turned into
//! a typed error without a panic.

mod common;

use common::*;
use zos_virtio::crypto::regs::{self, CryptoFeatures};
use zos_virtio::crypto::{
    CipherAlgo, CipherOp, CryptoError, CryptoStatus, SessionCtr, VirtioCrypto,
};
use zos_virtio::ctr::{AesCtr, SoftAes256Ctr};
use zos_virtio::engine::{EngineError, VirtioCryptoEngine};
use zos_virtio::fake::{FakeBlkDevice, FakeCryptoDevice, FakeFault, FakeHal, FakeTransport};

const FIPS_KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};
const FIPS_PT: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];
const FIPS_CT: [u8; 16] = [
    0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89,
];

fn init(fake: FakeCryptoDevice) -> Result<Dev, CryptoError> {
    VirtioCrypto::new(FakeTransport::new(fake))
}

#[test]
fn init_negotiates_version_1_only_and_reads_the_config() {
    let dev = device();
    let accepted = CryptoFeatures::from_bits_retain(dev.transport().driver_features());
    assert_eq!(
        accepted,
        CryptoFeatures::VERSION_1,
        "REVISION_1 and stateless mode declined"
    );
    let config = dev.config();
    assert!(config.hw_ready);
    assert_eq!(config.max_dataqueues, 1);
    assert_eq!(config.max_cipher_key_len, 64);
    assert_eq!(config.cipher_algos, 1 << CipherAlgo::AesCbc as u32);
    assert_eq!(dev.max_data_len(), zos_virtio::crypto::DEFAULT_BOUNCE_LEN);
}

#[test]
fn init_refuses_unusable_devices() {
    let mut f = FakeCryptoDevice::new();
    f.set_u32(regs::offsets::STATUS, 0);
    assert_eq!(init(f).err(), Some(CryptoError::NotReady));

    let mut f = FakeCryptoDevice::new();
    f.set_u32(regs::offsets::CRYPTO_SERVICES, regs::Services::HASH.bits());
    assert_eq!(init(f).err(), Some(CryptoError::NoCipherService));

    let mut f = FakeCryptoDevice::new();
    f.set_u32(regs::offsets::MAX_DATAQUEUES, 0);
    assert_eq!(init(f).err(), Some(CryptoError::BadConfig));

    let mut f = FakeCryptoDevice::new();
    f.set_u32(regs::offsets::MAX_DATAQUEUES, 7);
    // Queue 7 does not exist on the fake: the queue set-up fails cleanly.
    assert!(matches!(init(f).err(), Some(CryptoError::Transport(_))));

    let mut f = FakeCryptoDevice::new();
    f.set_u32(regs::offsets::MAX_CIPHER_KEY_LEN, 16);
    assert_eq!(init(f).err(), Some(CryptoError::BadConfig));

    let mut f = FakeCryptoDevice::new();
    f.set_max_size(40);
    assert_eq!(init(f).err(), Some(CryptoError::BadConfig));

    let blk = FakeTransport::new(FakeBlkDevice::new(8));
    assert_eq!(
        VirtioCrypto::<FakeHal, _>::new(blk).err(),
        Some(CryptoError::NotCryptoDevice)
    );
}

#[test]
fn sessions_are_created_and_destroyed() {
    let mut dev = device();
    let a = dev
        .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
        .unwrap();
    let b = dev
        .create_session(CipherAlgo::AesEcb, CipherOp::Decrypt, &FIPS_KEY)
        .unwrap();
    assert_ne!(a.id(), b.id());
    assert_eq!(fake(&mut dev).session_count(), 2);
    dev.destroy_session(a).unwrap();
    dev.destroy_session(b).unwrap();
    assert_eq!(fake(&mut dev).session_count(), 0);
    assert_eq!(fake(&mut dev).violations, 0);
}

#[test]
fn key_lengths_are_checked_before_the_device_sees_them() {
    let mut dev = device();
    assert_eq!(
        dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &[])
            .err(),
        Some(CryptoError::KeyLength)
    );
    assert_eq!(
        dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &[0; 65])
            .err(),
        Some(CryptoError::KeyLength)
    );
    // A length the device refuses comes back as its status.
    assert_eq!(
        dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &[0; 20])
            .err(),
        Some(CryptoError::Status(CryptoStatus::Err))
    );
}

#[test]
fn ecb_and_cbc_round_trip_and_match_fips_197() {
    let mut dev = device();
    let enc = dev
        .create_session(CipherAlgo::AesEcb, CipherOp::Encrypt, &FIPS_KEY)
        .unwrap();
    let dec = dev
        .create_session(CipherAlgo::AesEcb, CipherOp::Decrypt, &FIPS_KEY)
        .unwrap();
    let mut out = [0u8; 16];
    dev.cipher(&enc, &[], &FIPS_PT, &mut out).unwrap();
    assert_eq!(out, FIPS_CT);
    let mut back = [0u8; 16];
    dev.cipher(&dec, &[], &out, &mut back).unwrap();
    assert_eq!(back, FIPS_PT);

    let enc = dev
        .create_session(CipherAlgo::AesCbc, CipherOp::Encrypt, &FIPS_KEY)
        .unwrap();
    let dec = dev
        .create_session(CipherAlgo::AesCbc, CipherOp::Decrypt, &FIPS_KEY)
        .unwrap();
    let iv = [7u8; 16];
    let pt: Vec<u8> = (0..64u8).collect();
    let mut ct = vec![0u8; 64];
    dev.cipher(&enc, &iv, &pt, &mut ct).unwrap();
    assert_ne!(ct, pt);
    let mut back = vec![0u8; 64];
    dev.cipher(&dec, &iv, &ct, &mut back).unwrap();
    assert_eq!(back, pt);
}

#[test]
fn ctr_over_the_device_matches_software_for_any_length_and_split() {
    let mut rng = Rng(42);
    for bounce in [32, 48, 160, 4096] {
        let mut dev = device_with(FakeCryptoDevice::new(), bounce);
        let session = dev
            .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
            .unwrap();
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let mut counter = [0u8; 16];
            rng.fill(&mut counter);
            let mut data = vec![0u8; len];
            rng.fill(&mut data);
            let mut expect = data.clone();
            SoftAes256Ctr::new(&FIPS_KEY)
                .apply_keystream(&counter, &mut expect)
                .unwrap();
            let mut ctr = SessionCtr::new(&mut dev, &session).unwrap();
            ctr.apply_keystream(&counter, &mut data).unwrap();
            assert_eq!(data, expect, "bounce {bounce}, len {len}");

            let mut data2 = data.clone();
            let mut soft = SoftAes256Ctr::new(&FIPS_KEY);
            let m1 = soft.mask_and_apply(&counter, &mut data2).unwrap();
            let mut data3 = data.clone();
            let m2 = SessionCtr::new(&mut dev, &session)
                .unwrap()
                .mask_and_apply(&counter, &mut data3)
                .unwrap();
            assert_eq!(
                (m1, &data2),
                (m2, &data3),
                "mask_and_apply, bounce {bounce}, len {len}"
            );
        }
        assert_eq!(fake(&mut dev).violations, 0);
    }
}

#[test]
fn requests_beyond_max_size_are_refused_or_split() {
    let mut f = FakeCryptoDevice::new();
    // iv 16 + src 48 + dst 48.
    f.set_max_size(112);
    let mut dev = device_with(f, 4096);
    assert_eq!(dev.max_data_len(), 48);
    let session = dev
        .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
        .unwrap();
    let mut out = [0u8; 64];
    assert_eq!(
        dev.cipher(&session, &[0; 16], &[0; 64], &mut out),
        Err(CryptoError::TooLarge)
    );
    assert_eq!(
        dev.cipher(&session, &[0; 16], &[0; 48], &mut out[..48]),
        Ok(())
    );
    assert_eq!(
        dev.cipher(&session, &[0; 16], &[0; 20], &mut out[..20]),
        Err(CryptoError::BadLength)
    );
    assert_eq!(
        dev.cipher(&session, &[0; 16], &[0; 32], &mut out[..16]),
        Err(CryptoError::BadLength)
    );
    assert_eq!(
        dev.cipher(&session, &[0; 16], &[], &mut []),
        Err(CryptoError::BadLength)
    );
    dev.destroy_session(session).unwrap();

    // GCM of 1000 bytes runs as ceil((1000 + 16) / 48) = 22 requests and stays correct.
    let mut engine = VirtioCryptoEngine::new(dev, 1);
    let key = engine.import_key(&FIPS_KEY).unwrap();
    let before = fake(engine.device_mut()).data_requests;
    let mut buf = vec![0x5a; 1000];
    let tag = engine.seal(key, &[1; 12], b"aad", &mut buf).unwrap();
    assert_eq!(fake(engine.device_mut()).data_requests - before, 22);
    let mut soft = zos_virtio::gcm::Aes256Gcm::new(SoftAes256Ctr::new(&FIPS_KEY)).unwrap();
    let mut expect = vec![0x5a; 1000];
    assert_eq!(soft.seal(&[1; 12], b"aad", &mut expect).unwrap(), tag);
    assert_eq!(buf, expect);
    assert_eq!(fake(engine.device_mut()).violations, 0);
}

#[test]
fn device_statuses_become_typed_errors() {
    let mut dev = device();
    for (raw, status) in [
        (1, CryptoStatus::Err),
        (2, CryptoStatus::BadMsg),
        (3, CryptoStatus::NotSupported),
        (4, CryptoStatus::InvalidSession),
        (5, CryptoStatus::NoSpace),
        (6, CryptoStatus::KeyRejected),
    ] {
        fake(&mut dev).fault = Some(FakeFault::Status(raw));
        assert_eq!(
            dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
                .err(),
            Some(CryptoError::Status(status))
        );
    }
    fake(&mut dev).fault = Some(FakeFault::Status(0xdead_beef));
    assert_eq!(
        dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
            .err(),
        Some(CryptoError::UnknownStatus(0xdead_beef))
    );
    fake(&mut dev).fault = Some(FakeFault::Silent);
    assert_eq!(
        dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
            .err(),
        Some(CryptoError::UnknownStatus(u32::MAX))
    );
    fake(&mut dev).fault = Some(FakeFault::UsedLen(3));
    assert_eq!(
        dev.create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &FIPS_KEY)
            .err(),
        Some(CryptoError::ShortReply {
            used: 3,
            expected: 16
        })
    );

    let session = dev
        .create_session(CipherAlgo::AesEcb, CipherOp::Encrypt, &FIPS_KEY)
        .unwrap();
    let mut out = [0u8; 16];
    for raw in 0u32..=255 {
        fake(&mut dev).fault = Some(FakeFault::Status(raw));
        let r = dev.cipher(&session, &[], &FIPS_PT, &mut out);
        match CryptoStatus::from_raw(raw) {
            Some(CryptoStatus::Ok) => assert_eq!(r, Ok(())),
            Some(s) => assert_eq!(r, Err(CryptoError::Status(s))),
            None => assert_eq!(r, Err(CryptoError::UnknownStatus(raw))),
        }
    }
    fake(&mut dev).fault = Some(FakeFault::Silent);
    assert_eq!(
        dev.cipher(&session, &[], &FIPS_PT, &mut out),
        Err(CryptoError::UnknownStatus(0xff))
    );
    fake(&mut dev).fault = Some(FakeFault::UsedLen(0));
    assert_eq!(
        dev.cipher(&session, &[], &FIPS_PT, &mut out),
        Err(CryptoError::ShortReply {
            used: 0,
            expected: 17
        })
    );
    fake(&mut dev).fault = Some(FakeFault::UsedLen(u32::MAX));
    assert_eq!(dev.cipher(&session, &[], &FIPS_PT, &mut out), Ok(()));

    fake(&mut dev).fault = Some(FakeFault::Silent);
    assert_eq!(
        dev.destroy_session(session),
        Err(CryptoError::UnknownStatus(0xff))
    );
    // The driver still works after every one of those.
    let s = dev
        .create_session(CipherAlgo::AesEcb, CipherOp::Encrypt, &FIPS_KEY)
        .unwrap();
    dev.cipher(&s, &[], &FIPS_PT, &mut out).unwrap();
    assert_eq!(out, FIPS_CT);
}

#[test]
fn gcm_over_a_failing_device_leaves_no_plaintext() {
    let mut engine = VirtioCryptoEngine::new(device(), 2);
    let key = engine.import_key(&FIPS_KEY).unwrap();
    let mut buf = b"sixteen byte msg and then some".to_vec();
    let tag = engine.seal(key, &[9; 12], &[], &mut buf).unwrap();
    let ct = buf.clone();
    fake(engine.device_mut()).fault = Some(FakeFault::Status(1));
    assert_eq!(
        engine.open(key, &[9; 12], &[], &mut buf, &tag),
        Err(EngineError::Device(CryptoError::Status(CryptoStatus::Err)))
    );
    assert!(buf.iter().all(|&b| b == 0));
    buf.copy_from_slice(&ct);
    engine.open(key, &[9; 12], &[], &mut buf, &tag).unwrap();
    assert_eq!(buf, b"sixteen byte msg and then some");
}

#[test]
fn engine_handles_are_generation_checked_and_slots_bounded() {
    let mut engine = VirtioCryptoEngine::new(device(), 2);
    let a = engine.import_key(&FIPS_KEY).unwrap();
    let b = engine.import_key(&[3; 32]).unwrap();
    assert_eq!(engine.import_key(&[4; 32]), Err(EngineError::NoKeySlots));
    engine.drop_key(a).unwrap();
    let c = engine.import_key(&[5; 32]).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(
        engine.seal(a, &[0; 12], &[], &mut buf),
        Err(EngineError::BadHandle)
    );
    engine.seal(c, &[0; 12], &[], &mut buf).unwrap();
    engine.seal(b, &[0; 12], &[], &mut buf).unwrap();
    // Dropping a stale handle is harmless and does not touch the new key.
    engine.drop_key(a).unwrap();
    engine.seal(c, &[0; 12], &[], &mut buf).unwrap();
    assert_eq!(fake(engine.device_mut()).session_count(), 2);
    engine.drop_key(b).unwrap();
    assert_eq!(fake(engine.device_mut()).session_count(), 1);
    assert_eq!(fake(engine.device_mut()).violations, 0);
}

#[test]
fn a_full_device_is_a_typed_error() {
    let mut f = FakeCryptoDevice::new();
    f.max_sessions = 1;
    let mut engine = VirtioCryptoEngine::new(device_with(f, 4096), 8);
    engine.import_key(&FIPS_KEY).unwrap();
    assert_eq!(
        engine.import_key(&FIPS_KEY),
        Err(EngineError::Device(CryptoError::Status(CryptoStatus::Err)))
    );
}

#[test]
fn import_wipes_the_raw_key_even_on_failure() {
    let mut engine = VirtioCryptoEngine::new(device(), 1);
    fake(engine.device_mut()).fault = Some(FakeFault::Status(3));
    let mut raw = [0xa5u8; 32];
    assert!(engine.import_key_and_wipe(&mut raw).is_err());
    assert_eq!(raw, [0; 32]);
}

/// A device that answers every request with random status bytes and used lengths: the driver
/// returns errors, never panics, and recovers.
#[test]
fn random_device_answers_never_panic() {
    let mut rng = Rng(7);
    let mut engine = VirtioCryptoEngine::new(device_with(FakeCryptoDevice::new(), 64), 4);
    let mut keys = Vec::new();
    for _ in 0..2000 {
        let fault = match rng.below(4) {
            0 => Some(FakeFault::Status(rng.next() as u32)),
            1 => Some(FakeFault::UsedLen(rng.next() as u32)),
            2 => Some(FakeFault::Silent),
            _ => None,
        };
        fake(engine.device_mut()).fault = fault;
        match rng.below(4) {
            0 => {
                if let Ok(k) = engine.import_key(&[rng.next() as u8; 32]) {
                    keys.push(k);
                }
            }
            1 => {
                if let Some(k) = keys.pop() {
                    let _ = engine.drop_key(k);
                }
            }
            _ => {
                if let Some(&k) = keys.last() {
                    let mut buf = vec![0u8; rng.below(300) as usize];
                    let _ = engine.seal(k, &[0; 12], b"a", &mut buf);
                    let _ = engine.open(k, &[0; 12], b"a", &mut buf, &[0; 16]);
                }
            }
        }
    }
}
