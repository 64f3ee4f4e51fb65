//! `storage-backend`'s store on the virtio adapters: the hardware engine (fake virtio-crypto)
//! and the virtio-blk block device (fake disk), and compatibility with the software engine.

mod common;

use common::*;
use storage_backend::block::RamDevice;
use storage_backend::{
    CryptoEngine, CryptoError, Db, DbKeys, FormatOptions, SoftwareEngine, Store,
};
use zos_virtio::blk::{EraseMode, VirtioBlockDevice};
use zos_virtio::engine::VirtioCryptoEngine;
use zos_virtio::fake::{FakeBlkDevice, FakeHal, FakeTransport};
use zos_virtio::hw_engine::HardwareEngine;

type Hw = HardwareEngine<FakeHal, FakeTransport<zos_virtio::fake::FakeCryptoDevice>>;

const KERNEL_KEY: [u8; 32] = [0x11; 32];
const USER_KEY: [u8; 32] = [0x22; 32];

fn hw_engine() -> (Hw, DbKeys) {
    let mut e = HardwareEngine::new(VirtioCryptoEngine::new(device(), 64));
    let kernel = e.import_key(&KERNEL_KEY).unwrap();
    let userspace = e.import_key(&USER_KEY).unwrap();
    (e, DbKeys { kernel, userspace })
}

fn soft_engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&KERNEL_KEY).unwrap();
    let userspace = e.import_key(&USER_KEY).unwrap();
    (e, DbKeys { kernel, userspace })
}

fn forget_masters(e: &mut Hw, keys: DbKeys) {
    e.forget_raw(keys.kernel);
    e.forget_raw(keys.userspace);
    assert!(!e.holds_raw(keys.kernel) && !e.holds_raw(keys.userspace));
}

#[test]
fn seal_and_derive_match_the_software_engine() {
    let (mut hw, hk) = hw_engine();
    let (mut sw, sk) = soft_engine();
    let hd = hw.derive_key(hk.kernel, b"salt", b"info").unwrap();
    let sd = sw.derive_key(sk.kernel, b"salt", b"info").unwrap();
    for len in [0usize, 1, 4096, 5000] {
        let mut a = vec![0x42u8; len];
        let mut b = a.clone();
        let ta = hw.seal(hd, &[3; 12], b"aad", &mut a).unwrap();
        let tb = sw.seal(sd, &[3; 12], b"aad", &mut b).unwrap();
        assert_eq!((ta, &a), (tb, &b));
        sw.open(sd, &[3; 12], b"aad", &mut a, &ta).unwrap();
        assert_eq!(a, vec![0x42u8; len]);
    }
    assert_eq!(hw.sha256(b"abc"), sw.sha256(b"abc"));
    // Derived keys keep no raw copy; the master loses its copy on request.
    assert!(!hw.holds_raw(hd));
    assert_eq!(hw.derive_key(hd, b"s", b"i"), Err(CryptoError::Derive));
    forget_masters(&mut hw, hk);
    assert_eq!(
        hw.derive_key(hk.kernel, b"salt", b"info"),
        Err(CryptoError::Derive)
    );
    // Keys already derived keep working without the master's bytes.
    let mut buf = [1u8; 32];
    let tag = hw.seal(hd, &[0; 12], &[], &mut buf).unwrap();
    hw.open(hd, &[0; 12], &[], &mut buf, &tag).unwrap();
    assert_eq!(
        hw.open(hd, &[1; 12], &[], &mut buf, &tag),
        Err(CryptoError::AuthFailed)
    );
}

#[test]
fn dropping_keys_releases_device_sessions() {
    let (mut hw, hk) = hw_engine();
    let d = hw.derive_key(hk.userspace, b"x", b"y").unwrap();
    assert_eq!(fake(hw.device_mut().device_mut()).session_count(), 3);
    hw.drop_key(d);
    hw.drop_key(hk.kernel);
    assert_eq!(fake(hw.device_mut().device_mut()).session_count(), 1);
    let mut buf = [0u8; 4];
    assert_eq!(
        hw.seal(d, &[0; 12], &[], &mut buf),
        Err(CryptoError::BadHandle)
    );
}

/// A store formatted with the hardware engine opens with the software engine and vice versa:
/// the `--no-crypto-device` fallback reads the same disk.
#[test]
fn store_images_are_interchangeable_between_engines() {
    let (hw, hk) = hw_engine();
    let mut s = Store::format(
        RamDevice::new(512, 8, 256),
        hw,
        hk,
        &FormatOptions::default(),
    )
    .unwrap();
    forget_masters(s.engine_mut(), hk);
    let mut t = s.begin(Db::Userspace).unwrap();
    t.put(b"file", &[7u8; 5000]).unwrap();
    t.commit().unwrap();
    s.sync().unwrap();
    let (dev, _) = s.into_parts();

    let (sw, sk) = soft_engine();
    let mut s = Store::mount(dev, sw, sk).unwrap();
    assert_eq!(
        s.get(Db::Userspace, b"file").unwrap().unwrap(),
        vec![7u8; 5000]
    );
    let mut t = s.begin(Db::Kernel).unwrap();
    t.put(b"boot", b"1").unwrap();
    t.commit().unwrap();
    s.sync().unwrap();
    let (dev, _) = s.into_parts();

    let (hw, hk) = hw_engine();
    let mut s = Store::mount(dev, hw, hk).unwrap();
    forget_masters(s.engine_mut(), hk);
    assert_eq!(
        s.get(Db::Kernel, b"boot").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    s.check(Db::Userspace).unwrap();
    s.check(Db::Kernel).unwrap();
}

/// The whole device stack of the VFS task on fakes: the store on virtio-blk, sealed by the
/// virtio-crypto engine, remounted from the same disk.
#[test]
fn store_on_virtio_blk_with_the_hardware_engine() {
    let mut s = store_on_fake_blk();
    // Four transactions of ten puts (many small ones: see the next test).
    for batch in 0..4u32 {
        let mut t = s.begin(Db::Userspace).unwrap();
        for i in batch * 10..batch * 10 + 10 {
            t.put(format!("k{i}").as_bytes(), &vec![i as u8; 700])
                .unwrap();
        }
        t.commit().unwrap();
    }
    let mut s = remount_and_check_40_keys(s);
    assert_eq!(fake(s.engine_mut().device_mut().device_mut()).violations, 0);
}

type FakeBlk = VirtioBlockDevice<FakeHal, FakeTransport<FakeBlkDevice>>;

/// A store formatted on a fake virtio-blk disk (erased), sealed by the hardware engine whose
/// master copies are already wiped, as in the VFS task.
fn store_on_fake_blk() -> Store<FakeBlk, Hw> {
    let blk = VirtioBlockDevice::<FakeHal, _>::new(
        FakeTransport::new(disk_of(0xff)),
        512,
        8,
        EraseMode::Fill,
    )
    .unwrap();
    let (hw, hk) = hw_engine();
    let mut s = Store::format(blk, hw, hk, &FormatOptions::default()).unwrap();
    forget_masters(s.engine_mut(), hk);
    s
}

/// Syncs, remounts from the same disk with a fresh engine and checks keys `k0`..`k39` (700
/// bytes of their number each) and the userspace database's integrity.
fn remount_and_check_40_keys(mut s: Store<FakeBlk, Hw>) -> Store<FakeBlk, Hw> {
    s.sync().unwrap();
    let (blk, _) = s.into_parts();
    let (hw, hk) = hw_engine();
    let mut s = Store::mount(blk, hw, hk).unwrap();
    for i in 0..40u32 {
        let v = s.get(Db::Userspace, format!("k{i}").as_bytes()).unwrap();
        assert_eq!(v, Some(vec![i as u8; 700]), "key {i}");
    }
    s.check(Db::Userspace).unwrap();
    s
}

fn disk_of(fill: u8) -> FakeBlkDevice {
    let mut d = FakeBlkDevice::new(256 * 8);
    d.disk.fill(fill);
    d
}

/// Many small transactions (one put each) on virtio-blk with the hardware engine, remounted.
/// At storage-backend 6977e57 this workload failed on `RamDevice` (`Device(NotErased)`); fixed
/// upstream in 91a1bdc.
#[test]
fn many_small_transactions_on_virtio_blk_with_the_hardware_engine() {
    let mut s = store_on_fake_blk();
    for i in 0..40u32 {
        let mut t = s.begin(Db::Userspace).unwrap();
        t.put(format!("k{i}").as_bytes(), &vec![i as u8; 700])
            .unwrap();
        t.commit().unwrap();
    }
    remount_and_check_40_keys(s);
}

/// Booting with the wrong master key is a clear error, not garbage.
#[test]
fn a_wrong_master_key_is_refused_at_mount() {
    let (hw, hk) = hw_engine();
    let mut s = Store::format(
        RamDevice::new(512, 8, 256),
        hw,
        hk,
        &FormatOptions::default(),
    )
    .unwrap();
    let mut t = s.begin(Db::Userspace).unwrap();
    t.put(b"k", b"v").unwrap();
    t.commit().unwrap();
    s.sync().unwrap();
    let (dev, _) = s.into_parts();
    let mut e = HardwareEngine::new(VirtioCryptoEngine::new(device(), 8));
    let kernel = e.import_key(&[0x33; 32]).unwrap();
    let userspace = e.import_key(&[0x44; 32]).unwrap();
    match Store::mount(dev, e, DbKeys { kernel, userspace }) {
        Err(storage_backend::StoreError::Integrity(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("mounted with the wrong key"),
    }
}

#[test]
fn derived_keys_keep_their_bytes_only_while_asked_and_forget_all_wipes_them() {
    let (mut hw, hk) = hw_engine();
    let (mut sw, sk) = soft_engine();
    // A disk image derives database keys from the master, the store region keys from those.
    hw.keep_derived_raw(true);
    let db = hw.derive_key(hk.kernel, b"salt", b"db").unwrap();
    assert!(hw.holds_raw(db));
    let region = hw.derive_key(db, b"salt", b"region").unwrap();
    let sw_db = sw.derive_key(sk.kernel, b"salt", b"db").unwrap();
    let sw_region = sw.derive_key(sw_db, b"salt", b"region").unwrap();
    let (mut a, mut b) = ([7u8; 40], [7u8; 40]);
    let ta = hw.seal(region, &[1; 12], b"", &mut a).unwrap();
    let tb = sw.seal(sw_region, &[1; 12], b"", &mut b).unwrap();
    assert_eq!((ta, a), (tb, b));
    hw.forget_all_raw();
    for key in [hk.kernel, hk.userspace, db, region] {
        assert!(!hw.holds_raw(key));
    }
    assert_eq!(hw.derive_key(db, b"s", b"i"), Err(CryptoError::Derive));
    // Keys derived afterwards keep nothing again.
    let late = hw.derive_key(hk.kernel, b"s", b"i");
    assert_eq!(late, Err(CryptoError::Derive));
    // The region key still works from the device.
    hw.open(region, &[1; 12], b"", &mut a, &ta).unwrap();
    assert_eq!(a, [7u8; 40]);
}
