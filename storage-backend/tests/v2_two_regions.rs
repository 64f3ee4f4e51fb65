//! Engine v2: both databases as two independent regions on one device — separate contents,
//! remounts, and a corrupt or wrongly keyed userspace region that does not stop the kernel
//! region from mounting and working.

mod common;

use storage_backend::block::RamDevice;
use storage_backend::store::v2::{V2Options, V2Store};
use storage_backend::{CryptoEngine, Db, DbKeys, SoftwareEngine, StoreError};

const KERNEL_UNITS: u64 = 256;

fn opts() -> [V2Options; 2] {
    let k = V2Options {
        seg_units: 4,
        uuid: *b"zos-v2-kernel-01",
        ..V2Options::default()
    };
    let u = V2Options {
        seg_units: 4,
        uuid: *b"zos-v2-userspc01",
        ..V2Options::default()
    };
    [k, u]
}

fn store() -> V2Store<RamDevice, SoftwareEngine> {
    let (e, k) = common::engine();
    V2Store::format(RamDevice::new(512, 8, 768), e, k, KERNEL_UNITS, opts()).unwrap()
}

fn remount(
    s: V2Store<RamDevice, SoftwareEngine>,
    keys: Option<(SoftwareEngine, DbKeys)>,
) -> V2Store<RamDevice, SoftwareEngine> {
    let (dev, _) = s.into_parts().unwrap();
    let (e, k) = keys.unwrap_or_else(common::engine);
    V2Store::mount(dev, e, k, KERNEL_UNITS, opts()).unwrap()
}

fn fill(s: &mut V2Store<RamDevice, SoftwareEngine>) {
    for db in Db::ALL {
        let r = s.region(db).unwrap();
        for i in 0..60u32 {
            r.begin().unwrap();
            r.put(
                format!("key{i}").as_bytes(),
                format!("{db:?}-{i}").as_bytes(),
            )
            .unwrap();
            r.commit().unwrap();
        }
    }
}

fn assert_db(s: &mut V2Store<RamDevice, SoftwareEngine>, db: Db) {
    let r = s.region(db).unwrap();
    for i in 0..60u32 {
        assert_eq!(
            r.get(format!("key{i}").as_bytes()).unwrap(),
            Some(format!("{db:?}-{i}").into_bytes()),
            "{db:?} key{i}"
        );
    }
    r.check().unwrap();
}

#[test]
fn v2_two_regions_are_separate_and_survive_remounts() {
    let mut s = store();
    fill(&mut s);
    let mut s = remount(s, None);
    for db in Db::ALL {
        assert!(s.mount_error(db).is_none());
        assert_db(&mut s, db);
    }
}

#[test]
fn v2_corrupt_userspace_region_does_not_stop_the_kernel_region() {
    let mut s = store();
    fill(&mut s);
    let (mut dev, _) = s.into_parts().unwrap();
    // Flip a byte of the userspace region's sealed metadata (its superblock).
    let at = (KERNEL_UNITS * 4096) as usize + 160;
    dev.image_mut()[at] ^= 0x40;
    let (e, k) = common::engine();
    let mut s = V2Store::mount(dev, e, k, KERNEL_UNITS, opts()).unwrap();
    assert!(matches!(
        s.mount_error(Db::Userspace),
        Some(StoreError::Integrity(_))
    ));
    assert!(matches!(
        s.region(Db::Userspace),
        Err(StoreError::Unavailable(Db::Userspace))
    ));
    assert!(s.mount_error(Db::Kernel).is_none());
    assert_db(&mut s, Db::Kernel);
    // The kernel region keeps working.
    let r = s.region(Db::Kernel).unwrap();
    r.begin().unwrap();
    r.put(b"still", b"works").unwrap();
    r.commit().unwrap();
    let mut s = remount(s, None);
    assert_eq!(
        s.region(Db::Kernel)
            .unwrap()
            .get(b"still")
            .unwrap()
            .as_deref(),
        Some(&b"works"[..])
    );
}

#[test]
fn v2_wrong_userspace_key_is_an_error_for_that_region_only() {
    let mut s = store();
    fill(&mut s);
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[0x11; 32]).unwrap();
    let userspace = e.import_key(&[0x99; 32]).unwrap();
    let mut s = remount(s, Some((e, DbKeys { kernel, userspace })));
    assert!(matches!(
        s.mount_error(Db::Userspace),
        Some(StoreError::Integrity(_))
    ));
    assert_db(&mut s, Db::Kernel);
}
