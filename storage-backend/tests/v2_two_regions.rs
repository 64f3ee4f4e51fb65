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

// ---------------------------------------------------------------- one shared page pool

const SHARED_BUDGET: usize = 176 * 1024;

fn shared_opts() -> [V2Options; 2] {
    let [k, u] = opts();
    [
        V2Options {
            max_dirty: 16,
            max_deltas: 16,
            ckpt_bytes: 8 * 1024,
            ..k
        },
        V2Options {
            max_dirty: 24,
            max_deltas: 16,
            ckpt_bytes: 8 * 1024,
            ..u
        },
    ]
}

fn shared_remount(s: V2Store<RamDevice, SoftwareEngine>) -> V2Store<RamDevice, SoftwareEngine> {
    let (dev, _) = s.into_parts().unwrap();
    let (e, k) = common::engine();
    V2Store::mount_shared(dev, e, k, KERNEL_UNITS, shared_opts(), SHARED_BUDGET).unwrap()
}

/// Both regions through one pool: random interleaved transactions against a model per
/// database, remounts, and the full check of both — each tree's dirty pages survive the other
/// tree's operations in the shared pool, and cached pages of one are never taken for the
/// other's (same segment/offset/sequence numbers occur in both regions).
#[test]
fn v2_shared_pool_serves_both_regions() {
    let (e, k) = common::engine();
    let mut s = V2Store::format_shared(
        RamDevice::new(512, 8, 768),
        e,
        k,
        KERNEL_UNITS,
        shared_opts(),
        SHARED_BUDGET,
    )
    .unwrap();
    assert!(
        s.region(Db::Kernel).is_err(),
        "a shared store must be used through `with`"
    );
    let mut models = [
        std::collections::BTreeMap::new(),
        std::collections::BTreeMap::new(),
    ];
    let mut rng = common::Rng(0xABCD_1234);
    for round in 0..1500u64 {
        let db = if rng.below(3) == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        let key = format!(
            "k{:03}-{}",
            rng.below(250),
            "s".repeat((round % 11) as usize)
        )
        .into_bytes();
        let del = rng.below(4) == 0;
        let value = format!("{db:?}/{round}").into_bytes();
        s.with(db, |r| {
            r.begin()?;
            if del {
                r.delete(&key)?
            } else {
                r.put(&key, &value)?
            }
            r.commit()
        })
        .unwrap();
        if del {
            models[db.index()].remove(&key);
        } else {
            models[db.index()].insert(key, value);
        }
        if round % 300 == 299 {
            s = shared_remount(s);
            for db in Db::ALL {
                let got = s.with(db, |r| r.scan(b"", None, usize::MAX)).unwrap();
                let want: Vec<_> = models[db.index()]
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert!(got == want, "{db:?} differs from its model after a remount");
                s.with(db, |r| r.check().map(|_| ())).unwrap();
            }
        }
    }
}

#[test]
fn v2_shared_pool_corrupt_userspace_leaves_kernel_working() {
    let (e, k) = common::engine();
    let mut s = V2Store::format_shared(
        RamDevice::new(512, 8, 768),
        e,
        k,
        KERNEL_UNITS,
        shared_opts(),
        SHARED_BUDGET,
    )
    .unwrap();
    for db in Db::ALL {
        s.with(db, |r| {
            for i in 0..40u32 {
                r.begin()?;
                r.put(
                    format!("key{i}").as_bytes(),
                    format!("{db:?}-{i}").as_bytes(),
                )?;
                r.commit()?;
            }
            Ok(())
        })
        .unwrap();
    }
    let (mut dev, _) = s.into_parts().unwrap();
    dev.image_mut()[(KERNEL_UNITS * 4096) as usize + 160] ^= 0x40;
    let (e, k) = common::engine();
    let mut s =
        V2Store::mount_shared(dev, e, k, KERNEL_UNITS, shared_opts(), SHARED_BUDGET).unwrap();
    assert!(s.mount_error(Db::Userspace).is_some());
    for i in 0..40u32 {
        let v = s
            .with(Db::Kernel, |r| r.get(format!("key{i}").as_bytes()))
            .unwrap();
        assert_eq!(v, Some(format!("Kernel-{i}").into_bytes()));
    }
    s.with(Db::Kernel, |r| {
        r.begin()?;
        r.put(b"more", b"x")?;
        r.commit()
    })
    .unwrap();
}

/// The two regions in lockstep: the same keys, the same record sizes, the same checkpoints —
/// so their pages sit at the same (segment, offset, sequence number) — but values of
/// different lengths, so those pages differ. A cache that mixed up the trees' pages would
/// return the other region's value length (a `KeyMismatch` or wrong data).
#[test]
fn v2_shared_pool_keeps_same_pointer_pages_apart() {
    let [k, u] = shared_opts();
    let same = [
        V2Options { max_dirty: 16, ..k },
        V2Options { max_dirty: 16, ..u },
    ];
    let (e, keys) = common::engine();
    let dev = RamDevice::new(512, 8, 512);
    let mut s = V2Store::format_shared(dev, e, keys, KERNEL_UNITS, same, SHARED_BUDGET).unwrap();
    for i in 0..400u32 {
        for (db, len) in [(Db::Kernel, 10usize), (Db::Userspace, 20)] {
            s.with(db, |r| {
                r.begin()?;
                r.put(format!("key{:03}", i % 150).as_bytes(), &vec![i as u8; len])?;
                r.commit()
            })
            .unwrap();
        }
        if i % 7 == 0 {
            for (db, len) in [(Db::Kernel, 10usize), (Db::Userspace, 20)] {
                let j = (i * 31) % 150;
                let got = s
                    .with(db, |r| r.get(format!("key{j:03}").as_bytes()))
                    .unwrap();
                if let Some(v) = got {
                    assert_eq!(v.len(), len, "{db:?} got the other region's value");
                }
            }
        }
    }
    for db in Db::ALL {
        s.with(db, |r| r.check().map(|_| ())).unwrap();
    }
}
