//! Engine v2 (stage 2) against a `BTreeMap` model: random transactions (puts, deletes, aborts,
//! in-transaction reads), point reads, prefix scans and remounts — clean ones and ones that drop
//! the region without a sync — on a RAM device, with small segments so the journal rolls, the
//! tree splits and merges, and checkpoints come often.

mod common;

use std::collections::BTreeMap;

use common::Rng;
use storage_backend::block::RamDevice;
use storage_backend::store::v2::{V2Options, V2Region};
use storage_backend::{Db, SoftwareEngine};

type R = V2Region<RamDevice, SoftwareEngine>;

fn opts() -> V2Options {
    V2Options {
        seg_units: 4,
        ckpt_bytes: 16 * 1024,
        ..V2Options::default()
    }
}

fn remount(r: R) -> R {
    let (dev, _) = r.into_parts();
    let (eng, keys) = common::engine();
    V2Region::mount(dev, eng, keys.kernel, Db::Kernel, opts()).unwrap()
}

fn key(i: u64) -> Vec<u8> {
    format!("k{:04}-{}", i, "p".repeat((i % 17) as usize)).into_bytes()
}

fn value(rng: &mut Rng, i: u64) -> Vec<u8> {
    let len = match rng.below(20) {
        0 => 8 * 1024,
        1..=3 => rng.below(2000) as usize,
        _ => rng.below(120) as usize,
    };
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

fn check_all(r: &mut R, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let got = r.scan(b"", None, usize::MAX).unwrap();
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(got.len(), want.len(), "object count");
    assert!(got == want, "contents differ from the model");
    assert_eq!(r.objects(), model.len() as u64);
    let bytes: u64 = model.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    assert_eq!(r.logical_bytes(), bytes);
    let rep = r.check().unwrap();
    assert_eq!(rep.objects, model.len() as u64);
}

fn run(seed: u64, rounds: u64) {
    let (eng, keys) = common::engine();
    let mut r = V2Region::format(
        RamDevice::new(512, 8, 1024),
        eng,
        keys.kernel,
        Db::Kernel,
        opts(),
    )
    .unwrap();
    let mut rng = Rng(seed);
    let mut model = BTreeMap::new();
    let mut remounts = 0;
    for round in 0..rounds {
        r.begin().unwrap();
        let mut next = model.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(400);
            let k = key(i);
            if rng.below(4) == 0 {
                r.delete(&k).unwrap();
                next.remove(&k);
            } else {
                let v = value(&mut rng, round * 7 + i);
                r.put(&k, &v).unwrap();
                next.insert(k.clone(), v);
            }
            let probe = key(rng.below(400));
            assert_eq!(
                r.txn_get(&probe).unwrap(),
                next.get(&probe).cloned(),
                "read inside txn"
            );
        }
        if rng.below(10) == 0 {
            r.abort();
        } else {
            r.commit().unwrap();
            model = next;
        }
        let probe = key(rng.below(400));
        assert_eq!(
            r.get(&probe).unwrap(),
            model.get(&probe).cloned(),
            "point read"
        );
        if rng.below(25) == 0 {
            let p = format!("k{:02}", rng.below(40)).into_bytes();
            let got = r.scan(&p, None, usize::MAX).unwrap();
            let want: Vec<_> = model
                .range(p.clone()..)
                .take_while(|(k, _)| k.starts_with(&p))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert!(got == want, "prefix scan");
        }
        if rng.below(100) == 0 {
            // The check also holds between checkpoints (dirty pages, pending deltas).
            r.check().unwrap();
        }
        if rng.below(60) == 0 {
            if rng.below(2) == 0 {
                r.sync().unwrap();
            }
            r = remount(r);
            remounts += 1;
            check_all(&mut r, &model);
        }
    }
    r = remount(r);
    check_all(&mut r, &model);
    assert!(remounts > 3, "remounts: {remounts}");
    assert!(r.generation() > 10, "checkpoints: {}", r.generation());
}

#[test]
fn v2_model_random_with_remounts() {
    run(0xC0FFEE, 1500);
}

#[test]
fn v2_model_second_seed() {
    run(0x5EED_0002, 800);
}
