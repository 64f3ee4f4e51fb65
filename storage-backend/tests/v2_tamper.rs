//! Engine v2 tampering: single-byte flips over a whole synced image, and index pages
//! substituted for each other (a stale or foreign page at a pointer's location). Every mount and
//! read either fails with an error or returns exactly the committed data — never other data.

mod common;

use common::v2::{Model, mount_image, nor_opts, nor_region, read_all};

fn synced_image() -> (Vec<u8>, Model) {
    let mut r = nor_region(80, nor_opts());
    let mut model = Model::new();
    for i in 0..240u32 {
        if i % 4 == 0 {
            r.begin().unwrap();
        }
        let k = format!("object-{:03}-{}", i % 150, "q".repeat((i % 30) as usize)).into_bytes();
        let v = vec![(i % 251) as u8; (i as usize * 13) % 200];
        r.put(&k, &v).unwrap();
        model.insert(k, v);
        if i % 4 == 3 {
            r.commit().unwrap();
        }
    }
    r.sync().unwrap();
    assert!(r.tree_height() >= 2, "the tree must have internal pages");
    (r.device().flash().image().to_vec(), model)
}

/// Mounts `img` and reads everything: `Ok(true)` exact, `Ok(false)` an error somewhere.
fn outcome(img: Vec<u8>, model: &Model) -> Result<bool, String> {
    let Ok(mut r) = mount_image(img, nor_opts()) else {
        return Ok(false);
    };
    match read_all(&mut r) {
        Ok(got) if &got == model => Ok(r.check().is_ok()),
        Ok(_) => Err("mounted and returned other data".into()),
        Err(_) => Ok(false),
    }
}

#[test]
fn v2_single_byte_flips_never_give_wrong_data() {
    let (img, model) = synced_image();
    let used = img.iter().rposition(|&b| b != 0xFF).unwrap_or(0) + 1;
    let mut errors = 0;
    let mut tried = 0;
    let mut at = 0;
    while at < used {
        for mask in [0x01u8, 0x80] {
            let mut bad = img.clone();
            bad[at] ^= mask;
            tried += 1;
            match outcome(bad, &model) {
                Ok(true) => {}
                Ok(false) => errors += 1,
                Err(e) => panic!("flip at {at} mask {mask:#x}: {e}"),
            }
        }
        at += 97;
    }
    eprintln!("{tried} flips, {errors} detected");
    assert!(errors > 0, "no flip was detected: the test reads nothing");
}

/// Offsets of index-page chunks (stream 9, 1,024 bytes) in the image.
fn pages(img: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 1024 <= img.len() {
        let word = u16::from_le_bytes([img[at], img[at + 1]]);
        let stream =
            u32::from_le_bytes([img[at + 4], img[at + 5], img[at + 6], img[at + 7]]) & 0x7FFF_FFFF;
        if word & 3 == 2 && (word >> 2) & 7 == 5 && stream == 9 {
            out.push(at);
        }
        at += 256;
    }
    out
}

#[test]
fn v2_substituted_pages_are_integrity_errors() {
    let (img, model) = synced_image();
    let p = pages(&img);
    assert!(p.len() >= 4, "pages found: {}", p.len());
    let mut detected = 0;
    for (i, &a) in p.iter().enumerate() {
        let b = p[(i * 7 + 3) % p.len()];
        if a == b {
            continue;
        }
        let mut bad = img.clone();
        let page_b = img[b..b + 1024].to_vec();
        bad[a..a + 1024].copy_from_slice(&page_b);
        match outcome(bad, &model) {
            Ok(true) => {} // a dead page was replaced: nothing reads it
            Ok(false) => detected += 1,
            Err(e) => panic!("page at {a} replaced by the one at {b}: {e}"),
        }
    }
    assert!(detected > 0, "no substitution was detected");
}
