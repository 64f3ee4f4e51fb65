//! Near-full churn: a database kept at the edge of `NoSpace` while a few keys are rewritten with
//! values of 1 B to 8 KiB, deleted, and re-created. Commit records then keep landing at segment
//! ends, where making room means cleaning (and, between transactions, checkpointing).
//!
//! After every transaction the store must hold exactly the model of acknowledged commits (a
//! commit that failed with `NoSpace` changes nothing); at intervals the integrity check must be
//! clean and a remount must show the same state. No error other than `NoSpace` is acceptable.

mod common;

use common::Rng;

use std::collections::BTreeMap;

use storage_backend::block::{NorEmulator, NorFlashDevice};
use storage_backend::{Db, FormatOptions, SoftwareEngine, Store, StoreError};

type Dev = NorFlashDevice<NorEmulator>;
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn value(rng: &mut Rng, tag: u64) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => 1 + rng.below(8 * 1024) as usize,
        1 => 1 + rng.below(16) as usize,
        _ => 1 + rng.below(600) as usize,
    };
    (0..len).map(|j| (tag as usize * 131 + j) as u8).collect()
}

fn remount(s: Store<Dev, SoftwareEngine>) -> Store<Dev, SoftwareEngine> {
    let (dev, _) = s.into_parts();
    let (e, k) = common::engine();
    let s = Store::mount(dev, e, k).expect("remount");
    for db in Db::ALL {
        assert_eq!(s.mount_error(db), None, "{db:?} did not mount");
    }
    s
}

fn assert_model(s: &mut Store<Dev, SoftwareEngine>, model: &Model, when: &str) {
    let keys = s
        .scan_keys(Db::Userspace, b"", None, usize::MAX)
        .expect("scan");
    let got: Vec<&Vec<u8>> = keys.iter().collect();
    let want: Vec<&Vec<u8>> = model.keys().collect();
    assert_eq!(got, want, "{when}: key set differs from the model");
    for (k, v) in model {
        let g = s.get(Db::Userspace, k).expect("get");
        assert_eq!(g.as_ref(), Some(v), "{when}: value of {k:?} differs");
    }
}

/// The mix of a churn: `hot` keys rewritten, up to `ops` operations per transaction, `del` in
/// ten of them deletes of a random existing key.
#[derive(Clone, Copy)]
struct Mix {
    hot: u64,
    ops: u64,
    del: u64,
}

/// Few hot keys, long transactions: the commit record often lands at a segment's end while no
/// segment is worth cleaning (the shape that lost data when a checkpoint could slip in between a
/// transaction's records and its commit record).
const LONG_TXNS: Mix = Mix {
    hot: 4,
    ops: 6,
    del: 2,
};
const MANY_DELETES: Mix = Mix {
    hot: 6,
    ops: 8,
    del: 3,
};
const SHORT_TXNS: Mix = Mix {
    hot: 3,
    ops: 4,
    del: 1,
};

/// Fills the userspace database until `NoSpace`, then churns `txns` transactions.
fn churn(seed: u64, segment_bytes: u64, txns: u64, mix: Mix) {
    let Mix {
        hot: hot_n,
        ops: maxops,
        del,
    } = mix;
    let opts = FormatOptions {
        kernel_units: Some(40),
        segment_bytes,
        ..FormatOptions::default()
    };
    let mut s = common::nor_store(112, &opts);
    let mut rng = Rng(seed);
    let mut model = Model::new();
    // Fill: big values under distinct keys until the store refuses.
    let mut i = 0u64;
    loop {
        let key = format!("fill-{i:04}").into_bytes();
        let v = value(&mut rng, i);
        let mut t = s.begin(Db::Userspace).unwrap();
        let r = t.put(&key, &v).and_then(|()| t.commit());
        match r {
            Ok(()) => {
                model.insert(key, v);
            }
            Err(StoreError::NoSpace) => break,
            Err(e) => panic!("seed {seed:#x}: fill {i}: {e:?}"),
        }
        i += 1;
    }
    assert!(model.len() > 4, "the fill stored too little");
    let hot: Vec<Vec<u8>> = (0..hot_n)
        .map(|k| format!("hot-{k}").into_bytes())
        .collect();
    let mut acked = 0;
    for n in 0..txns {
        let mut next = model.clone();
        let mut t = s.begin(Db::Userspace).unwrap();
        let ops = 1 + rng.below(maxops);
        let mut r = Ok(());
        for _ in 0..ops {
            let pick = rng.below(10);
            r = if pick < del && !next.is_empty() {
                // Delete an existing key (fill or hot): frees space.
                let idx = rng.below(next.len() as u64) as usize;
                let k = next.keys().nth(idx).cloned().unwrap_or_default();
                next.remove(&k);
                t.delete(&k)
            } else {
                let k = hot[rng.below(hot.len() as u64) as usize].clone();
                let v = value(&mut rng, n + 10_000);
                next.insert(k.clone(), v.clone());
                t.put(&k, &v)
            };
            if r.is_err() {
                break;
            }
        }
        let r = r.and_then(|()| t.commit());
        match r {
            Ok(()) => {
                model = next;
                acked += 1;
            }
            Err(StoreError::NoSpace) => {}
            Err(e) => panic!("seed {seed:#x}, transaction {n}: {e:?}"),
        }
        assert_model(
            &mut s,
            &model,
            &format!("seed {seed:#x}, after transaction {n}"),
        );
        if n % 7 == 0 {
            s.check(Db::Userspace)
                .unwrap_or_else(|e| panic!("seed {seed:#x}, transaction {n}: check: {e:?}"));
        }
        if n % 25 == 24 {
            s = remount(s);
            assert_model(
                &mut s,
                &model,
                &format!("seed {seed:#x}, remount after {n}"),
            );
        }
    }
    assert!(
        acked * 4 > txns,
        "seed {seed:#x}: only {acked} of {txns} commits went through"
    );
    s.check(Db::Userspace).expect("final check");
    let mut s = remount(s);
    assert_model(&mut s, &model, "final remount");
    s.check(Db::Userspace).expect("check after remount");
}

fn seeds() -> u64 {
    if std::env::var("ZOS_EXHAUSTIVE").is_ok_and(|v| v == "1") {
        64
    } else {
        8
    }
}

#[test]
fn near_full_churn_12k_segments() {
    for seed in 1..=seeds() {
        for mix in [LONG_TXNS, MANY_DELETES, SHORT_TXNS] {
            churn(0x9E37_79B9_7F4A_7C15 ^ seed, 12 * 1024, 200, mix);
        }
    }
}

#[test]
fn near_full_churn_16k_segments() {
    for seed in 1..=seeds() {
        for mix in [LONG_TXNS, MANY_DELETES, SHORT_TXNS] {
            churn(0xC2B2_AE3D_27D4_EB4F ^ seed, 16 * 1024, 200, mix);
        }
    }
}

/// Puts `key = value` in its own transaction.
fn put_one(s: &mut Store<Dev, SoftwareEngine>, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let mut t = s.begin(Db::Userspace)?;
    t.put(key, value)?;
    t.commit()
}

/// A userspace database filled until not even a value of `last` bytes fits, with a 120-byte
/// `parent` record, and its model.
fn full_store(last: usize) -> (Store<Dev, SoftwareEngine>, Model) {
    full_store_of(&[4096, 600, last])
}

/// As [`full_store`], filled with values of `sizes` bytes in turn (each until refused).
fn full_store_of(sizes: &[usize]) -> (Store<Dev, SoftwareEngine>, Model) {
    let opts = FormatOptions {
        kernel_units: Some(40),
        segment_bytes: 16 * 1024,
        ..FormatOptions::default()
    };
    let mut s = common::nor_store(112, &opts);
    let mut model = Model::new();
    put_one(&mut s, PARENT, &[0; 120]).expect("parent");
    model.insert(PARENT.to_vec(), vec![0; 120]);
    let mut i = 0u32;
    for &size in sizes {
        loop {
            let key = format!("file-{i:05}").into_bytes();
            let v = vec![(i % 251) as u8; size];
            match put_one(&mut s, &key, &v) {
                Ok(()) => {
                    model.insert(key, v);
                    i += 1;
                }
                Err(StoreError::NoSpace) => break,
                Err(e) => panic!("fill {i}: {e:?}"),
            }
        }
    }
    (s, model)
}

const PARENT: &[u8] = b"dir-parent";

/// On a store full to the last byte, a transaction that deletes a record and then rewrites a
/// smaller one (as a VFS unlink deletes a file and rewrites its parent directory) still commits,
/// because it frees more than it writes — whichever way the deleted and the rewritten record
/// fall at the end of the head segment (the fill ends with values of every size from 1 to 120
/// bytes). One that writes more than it frees is refused with `NoSpace` and changes nothing.
#[test]
fn full_store_admits_transactions_that_free_more_than_they_write() {
    for last in 1..=120 {
        let (mut s, mut model) = full_store(last);
        let when = format!("fill ending with {last}-byte values");
        assert_eq!(
            put_one(&mut s, PARENT, &[1; 120]),
            Err(StoreError::NoSpace),
            "{when}: the store is not full: a plain rewrite still fits"
        );
        let victim = model
            .iter()
            .find(|(_, v)| v.len() == 600)
            .map(|(k, _)| k.clone())
            .expect("a 600-byte value");
        let small = model
            .iter()
            .filter(|(k, _)| k.as_slice() != PARENT)
            .min_by_key(|(_, v)| v.len())
            .map(|(k, _)| k.clone())
            .expect("a small value");
        // Growth paid by a small delete: refused, nothing changes.
        let mut t = s.begin(Db::Userspace).expect("begin");
        let r = t
            .delete(&small)
            .and_then(|()| t.put(b"grow", &[7u8; 4000]))
            .and_then(|()| t.commit());
        assert_eq!(
            r,
            Err(StoreError::NoSpace),
            "{when}: growth on a full store"
        );
        assert_model(&mut s, &model, &when);
        // The unlink.
        let mut t = s.begin(Db::Userspace).expect("begin");
        t.delete(&victim).expect("delete on a full store");
        t.put(PARENT, &[2; 120])
            .unwrap_or_else(|e| panic!("{when}: rewrite after a delete that paid for it: {e:?}"));
        t.commit()
            .unwrap_or_else(|e| panic!("{when}: commit of a shrinking transaction: {e:?}"));
        model.remove(&victim);
        model.insert(PARENT.to_vec(), vec![2; 120]);
        assert_model(&mut s, &model, &when);
        if last % 15 == 0 {
            s.check(Db::Userspace).expect("check");
            let mut s = remount(s);
            assert_model(&mut s, &model, &format!("{when}, after remount"));
            s.check(Db::Userspace).expect("check after remount");
        }
    }
}

/// Refused writes on a full medium do not use up the reserve: each `begin` runs the upkeep,
/// which may try a checkpoint; one that could not finish used to keep the segments it had
/// written, so after a few refusals even a delete failed.
#[test]
fn refused_writes_on_a_full_medium_leave_deletes_possible() {
    // Small values make a large index, hence a checkpoint of many segments.
    for sizes in [&[1usize][..], &[40], &[600, 1], &[4096, 600, 1]] {
        let (mut s, mut model) = full_store_of(sizes);
        let mut refused = 0;
        for attempt in 0..60u32 {
            // Upkeep between attempts may still find room now and then.
            let key = format!("more-{attempt}").into_bytes();
            match put_one(&mut s, &key, &[9; 3000]) {
                Ok(()) => {
                    model.insert(key, vec![9; 3000]);
                }
                Err(StoreError::NoSpace) => refused += 1,
                Err(e) => panic!("attempt {attempt}: {e:?}"),
            }
        }
        assert!(
            refused >= 30,
            "fill of {sizes:?}: the medium was not full ({refused} refused)"
        );
        let victims: Vec<Vec<u8>> = model
            .keys()
            .filter(|k| k.as_slice() != PARENT)
            .take(3)
            .cloned()
            .collect();
        for k in victims {
            let mut t = s.begin(Db::Userspace).expect("begin");
            t.delete(&k).expect("delete");
            t.commit()
                .unwrap_or_else(|e| panic!("fill of {sizes:?}: delete after refusals: {e:?}"));
            model.remove(&k);
        }
        assert_model(&mut s, &model, "after the deletes");
        s.check(Db::Userspace).expect("check");
        let mut s = remount(s);
        assert_model(&mut s, &model, "after remount");
    }
}
