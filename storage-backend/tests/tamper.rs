//! Tamper test: flipping any one byte of a synced image gives an error on mount or on read,
//! never different data. Default: every byte of the written areas with a stride (all region and
//! segment headers included); `ZOS_EXHAUSTIVE=1`: every byte of the image.

mod common;

use std::collections::BTreeMap;

use storage_backend::block::{ERASED, RamDevice};
use storage_backend::{Db, FormatOptions, Store};

type Model = BTreeMap<(Db, Vec<u8>), Vec<u8>>;

fn build() -> (Vec<u8>, Model) {
    let (e, k) = common::engine();
    let opts = FormatOptions {
        kernel_units: Some(20),
        segment_bytes: 12 * 1024,
        ..FormatOptions::default()
    };
    let mut s = Store::format(RamDevice::new(512, 8, 40), e, k, &opts).unwrap();
    let mut model = Model::new();
    for round in 0..30u32 {
        let db = if round % 3 == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        let mut t = s.begin(db).unwrap();
        for j in 0..3u32 {
            let key = format!("key{}", (round * 7 + j) % 13).into_bytes();
            if (round + j) % 5 == 0 {
                t.delete(&key).unwrap();
                model.remove(&(db, key));
            } else {
                let v: Vec<u8> = (0..(round * 53 + j * 101) % 700)
                    .map(|i| (i + round) as u8)
                    .collect();
                t.put(&key, &v).unwrap();
                model.insert((db, key), v);
            }
        }
        t.commit().unwrap();
    }
    s.sync().unwrap();
    let (dev, _) = s.into_parts();
    (dev.image().to_vec(), model)
}

/// `Ok(true)` if the flipped image gave an error somewhere, `Ok(false)` if it read back the
/// exact data, `Err` if it read back different data.
fn probe(img: Vec<u8>, model: &Model) -> Result<bool, String> {
    let (e, k) = common::engine();
    let Ok(mut s) = Store::mount(RamDevice::from_image(512, 8, img), e, k) else {
        return Ok(true);
    };
    let mut errored = false;
    for db in Db::ALL {
        if s.mount_error(db).is_some() {
            errored = true;
            continue;
        }
        let keys = s.scan_keys(db, b"", None, usize::MAX).unwrap();
        let want: Vec<Vec<u8>> = model
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        if keys != want {
            return Err(format!("{db:?}: key set differs: {keys:?}"));
        }
        for key in keys {
            match s.get(db, &key) {
                Err(_) => errored = true,
                Ok(v) if v.as_ref() == model.get(&(db, key.clone())) => {}
                Ok(v) => return Err(format!("{db:?} {key:?}: different value {v:?}")),
            }
        }
    }
    Ok(errored)
}

#[test]
fn single_byte_flips_never_return_different_data() {
    let (img, model) = build();
    assert_eq!(probe(img.clone(), &model), Ok(false));
    let exhaustive = std::env::var("ZOS_EXHAUSTIVE").is_ok_and(|v| v == "1");
    let mut detected = 0;
    let mut harmless = 0;
    let mut failures = Vec::new();
    for i in 0..img.len() {
        let written = img[i] != ERASED;
        // The start of every erase unit (region headers, segment headers) byte by byte, a
        // stride elsewhere, a sparse sample of erased space; every byte when exhaustive.
        let unit_start = i % 4096 < 320;
        if !(exhaustive || (written && (unit_start || i % 17 == 0)) || i % 401 == 0) {
            continue;
        }
        let mut bad = img.clone();
        bad[i] ^= if i % 2 == 0 { 0x01 } else { 0x80 };
        match probe(bad, &model) {
            Ok(true) => detected += 1,
            Ok(false) => harmless += 1,
            Err(msg) => failures.push(format!("byte {i}: {msg}")),
        }
    }
    eprintln!("tamper: {detected} flips detected, {harmless} harmless (unused space)");
    assert!(
        failures.is_empty(),
        "{} flips returned different data, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(detected > 1000);
}
