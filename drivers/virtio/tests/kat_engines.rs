//! `kat::run` through the software engine, the hardware engine on the fake device, and
//! `AnyEngine`; and a broken engine is caught.

mod common;

use common::*;
use storage_backend::crypto::{
    CryptoEngine, CryptoError, EngineInfo, KeyHandle, SoftwareEngine, SoftwareHasher,
};
use zos_virtio::any_engine::AnyEngine;
use zos_virtio::engine::VirtioCryptoEngine;
use zos_virtio::fake::{FakeCryptoDevice, FakeHal, FakeTransport};
use zos_virtio::hw_engine::HardwareEngine;
use zos_virtio::kat;

#[test]
fn all_engines_pass_the_self_test() {
    let r = kat::run(&mut SoftwareEngine::new());
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.passed, 4 + 375);

    let mut hw = HardwareEngine::new(VirtioCryptoEngine::new(device(), 4));
    let r = kat::run(&mut hw);
    assert!(r.ok(), "{r:?}");
    assert_eq!(fake(hw.device_mut().device_mut()).session_count(), 0);

    let mut any = AnyEngine::hardware(HardwareEngine::new(VirtioCryptoEngine::new(device(), 4)));
    assert!(any.is_hardware());
    assert!(kat::run(&mut any).ok());
    let mut any =
        AnyEngine::<FakeHal, FakeTransport<FakeCryptoDevice>>::Software(SoftwareEngine::new());
    assert!(!any.is_hardware());
    assert!(kat::run(&mut any).ok());
}

/// An engine that flips one ciphertext bit: the self-test must fail.
struct Broken(SoftwareEngine);

impl CryptoEngine for Broken {
    type Hasher = SoftwareHasher;
    fn info(&self) -> EngineInfo {
        self.0.info()
    }
    fn import_key(&mut self, raw: &[u8; 32]) -> Result<KeyHandle, CryptoError> {
        self.0.import_key(raw)
    }
    fn derive_key(&mut self, p: KeyHandle, s: &[u8], i: &[u8]) -> Result<KeyHandle, CryptoError> {
        self.0.derive_key(p, s, i)
    }
    fn drop_key(&mut self, k: KeyHandle) {
        self.0.drop_key(k)
    }
    fn seal(
        &mut self,
        k: KeyHandle,
        n: &[u8; 12],
        a: &[u8],
        b: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        let t = self.0.seal(k, n, a, b)?;
        if let Some(x) = b.first_mut() {
            *x ^= 1;
        }
        Ok(t)
    }
    fn open(
        &mut self,
        k: KeyHandle,
        n: &[u8; 12],
        a: &[u8],
        b: &mut [u8],
        t: &[u8; 16],
    ) -> Result<(), CryptoError> {
        self.0.open(k, n, a, b, t)
    }
    fn hasher(&mut self) -> SoftwareHasher {
        SoftwareHasher::default()
    }
}

#[test]
fn a_broken_engine_fails_the_self_test() {
    let r = kat::run(&mut Broken(SoftwareEngine::new()));
    assert!(!r.ok());
    // Vector 0 has an empty plaintext (nothing to corrupt); vector 1 is the first to fail.
    assert_eq!(r.first_failure, Some(1));
}
