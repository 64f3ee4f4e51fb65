//! Model-based test: random transaction sequences (puts, deletes, aborted transactions, syncs,
//! remounts, prefix scans) against a `BTreeMap` model, on both databases.

mod common;

use std::collections::BTreeMap;

use storage_backend::block::RamDevice;
use storage_backend::{Db, FormatOptions, SoftwareEngine, Store};

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Remounts and gives both databases a value cache of `cache` bytes (`None`: the default).
fn remount(
    s: Store<RamDevice, SoftwareEngine>,
    cache: Option<usize>,
) -> Store<RamDevice, SoftwareEngine> {
    let mut s = common::remount_ram(s);
    set_cache(&mut s, cache);
    s
}

fn set_cache(s: &mut Store<RamDevice, SoftwareEngine>, cache: Option<usize>) {
    if let Some(bytes) = cache {
        for db in Db::ALL {
            s.set_cache_bytes(db, bytes).unwrap();
        }
    }
}

fn run(seed: u64, steps: u32, cache: Option<usize>) {
    let (e, k) = common::engine();
    let opts = FormatOptions {
        kernel_units: Some(64),
        segment_bytes: 16 * 1024,
        ..FormatOptions::default()
    };
    let mut s = Store::format(RamDevice::new(512, 8, 160), e, k, &opts).unwrap();
    set_cache(&mut s, cache);
    let mut model: [BTreeMap<Vec<u8>, Vec<u8>>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut rng = Rng(seed);
    for step in 0..steps {
        let db = if rng.below(3) == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        match rng.below(20) {
            0 => {
                s = remount(s, cache);
            }
            1 => s.sync().unwrap(),
            3 | 4 => {
                // Point reads (served by the value cache when it holds the key).
                for _ in 0..4 {
                    let key = format!("d{}/k{}", rng.below(4), rng.below(40)).into_bytes();
                    assert_eq!(
                        s.get(db, &key).unwrap().as_ref(),
                        model[db.index()].get(&key),
                        "seed {seed} step {step}: get {key:?}"
                    );
                }
            }
            2 => {
                let prefix = format!("d{}/", rng.below(4)).into_bytes();
                let after = if rng.below(2) == 0 {
                    None
                } else {
                    Some(format!("d{}/k{}", rng.below(4), rng.below(40)).into_bytes())
                };
                let got = s.scan(db, &prefix, after.as_deref(), 7).unwrap();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model[db.index()]
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with(&prefix) && after.as_ref().is_none_or(|a| *k > a)
                    })
                    .take(7)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "seed {seed} step {step}: scan");
            }
            _ => {
                let mut next = model[db.index()].clone();
                let mut t = s.begin(db).unwrap();
                for _ in 0..1 + rng.below(6) {
                    let key = format!("d{}/k{}", rng.below(4), rng.below(40)).into_bytes();
                    if rng.below(3) == 0 {
                        t.delete(&key).unwrap();
                        next.remove(&key);
                    } else {
                        let len = if rng.below(20) == 0 {
                            rng.below(8192)
                        } else {
                            rng.below(300)
                        } as usize;
                        let v: Vec<u8> = (0..len)
                            .map(|i| (i as u64 ^ seed ^ u64::from(step)) as u8)
                            .collect();
                        if let Err(e) = t.put(&key, &v) {
                            drop(t);
                            panic!("seed {seed} step {step} {db:?}: {e:?} {:?}", s.usage(db));
                        }
                        next.insert(key, v);
                    }
                }
                if rng.below(10) == 0 {
                    t.abort();
                } else {
                    t.commit().unwrap();
                    model[db.index()] = next;
                }
            }
        }
    }
    for db in Db::ALL {
        for (k, v) in &model[db.index()] {
            assert_eq!(
                s.get(db, k).unwrap().as_ref(),
                Some(v),
                "seed {seed}: {k:?}"
            );
        }
    }
    s = remount(s, cache);
    for db in Db::ALL {
        let keys = s.scan_keys(db, b"", None, usize::MAX).unwrap();
        assert_eq!(
            keys,
            model[db.index()].keys().cloned().collect::<Vec<_>>(),
            "seed {seed}: keys"
        );
        for (k, v) in &model[db.index()] {
            assert_eq!(
                s.get(db, k).unwrap().as_ref(),
                Some(v),
                "seed {seed}: {k:?}"
            );
        }
        let u = s.usage(db).unwrap();
        assert_eq!(u.objects, model[db.index()].len() as u64);
        let bytes: usize = model[db.index()]
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        assert_eq!(u.bytes, bytes as u64);
        s.check(db).unwrap();
    }
}

#[test]
fn model_random_transactions_across_remounts() {
    for seed in 1..=6u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 600, None);
    }
}

#[test]
fn model_with_a_tiny_value_cache_and_without_one() {
    // 3 KiB: constant eviction; 0: the cache disabled.
    for (seed, cache) in [(7u64, 3 * 1024), (8, 3 * 1024), (9, 0)] {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 600, Some(cache));
    }
}
