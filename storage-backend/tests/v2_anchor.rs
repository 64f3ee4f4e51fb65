//! Engine v2: anchor-specific cuts and tampering.
//!
//! * Every program and erase of the anchor ring during 40 checkpoints (so the ring wraps and
//!   erases units), cut not applied and torn at several points: mount gives the state before or
//!   after that checkpoint's commit, the next anchor's generation is above the checkpoint record
//!   already in the journal (so a torn slot's nonce is never used again), and a write after the
//!   crash survives a remount.
//! * A cut between the CKPT record's flush and the anchor program (the anchor not applied):
//!   the previous anchor is used and its tail, which holds the new CKPT, replays to the same
//!   state.
//! * The newest anchor slot made unreadable: mount falls back to the previous checkpoint,
//!   reports it, continues its sequence numbers at `seq_limit + S + 1` — above every sequence
//!   number on the medium — or reports `Integrity`; never wrong data.

mod common;

use common::v2::{Model, mount_image, nor_opts, nor_region, read_all};
use storage_backend::StoreError;
use storage_backend::block::{CutMode, NorEmulator, TraceOp};
use storage_backend::store::v2::SEQ_RESERVE;

const SECTORS: usize = 64;
const RING: std::ops::Range<u32> = 4096..3 * 4096;

fn in_ring(op: &TraceOp) -> bool {
    match op {
        TraceOp::Program { offset, .. } => RING.contains(offset),
        TraceOp::Erase { from, .. } => RING.contains(from),
    }
}

/// Highest segment sequence number in any intact block 0 of the image.
fn max_seq_on_medium(img: &[u8]) -> u64 {
    let seg_bytes = 3 * 4096;
    let mut best = 0;
    let mut at = 3 * 4096;
    while at + seg_bytes <= img.len() {
        let b = &img[at + 8..at + 8 + 21];
        if &b[..5] == b"ZOS1:"
            && let Ok(s) = std::str::from_utf8(&b[5..])
            && let Ok(q) = u64::from_str_radix(s, 16)
        {
            best = best.max(q);
        }
        at += seg_bytes;
    }
    best
}

#[test]
fn v2_anchor_cuts_every_ring_operation() {
    let opts = nor_opts();
    let mut r = nor_region(SECTORS, opts);
    let mut model = Model::new();
    let mut checked = 0;
    for round in 0..40u32 {
        let before = model.clone();
        let k = format!("round{:02}", round % 13).into_bytes();
        let v = format!("value {round}").into_bytes();
        r.begin().unwrap();
        r.put(&k, &v).unwrap();
        r.commit().unwrap();
        model.insert(k, v);
        let g0 = r.generation();
        let (mut dev, _) = r.into_parts();
        let base = dev.flash().image().to_vec();
        dev.flash_mut().start_trace();
        let mut s = common::v2::mount_dev(dev, opts).unwrap();
        // First write after mount (reservation anchor and checkpoint), then a sync.
        s.sync().unwrap();
        let g1 = s.generation();
        assert!(g1 > g0);
        let (mut dev, _) = s.into_parts();
        let trace = dev.flash_mut().take_trace();
        let mut emu = NorEmulator::from_image(base.clone());
        for (i, op) in trace.iter().enumerate() {
            if in_ring(op) {
                for m in [
                    CutMode::NotApplied,
                    CutMode::Torn(1),
                    CutMode::Torn(60),
                    CutMode::Torn(129),
                ] {
                    let mut e = emu.clone();
                    e.apply(op, Some(m));
                    let what = format!("round {round}, op {i} ({m:?})");
                    let mut t = mount_image(e.image().to_vec(), opts)
                        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
                    let got = read_all(&mut t).unwrap();
                    assert!(got == model || got == before, "{what}: wrong state");
                    t.check().unwrap();
                    // Every generation used by an attempt so far is below the next one.
                    let seen = t.generation();
                    assert!(seen >= g0, "{what}: generation went back ({seen} < {g0})");
                    t.begin().unwrap();
                    t.put(b"after", b"cut").unwrap();
                    t.commit().unwrap();
                    assert!(t.generation() > seen);
                    let (dev, _) = t.into_parts();
                    let mut u = common::v2::mount_dev(dev, opts).unwrap();
                    assert_eq!(
                        u.get(b"after").unwrap().as_deref(),
                        Some(&b"cut"[..]),
                        "{what}"
                    );
                    checked += 1;
                }
            }
            emu.apply(op, None);
        }
        r = common::v2::mount_image(emu.image().to_vec(), opts).unwrap();
    }
    // 40 rounds of two anchors each wrap a 2 × 16-slot ring twice: erases were cut too.
    assert!(checked >= 40 * 2 * 4, "ring operations cut: {checked}");
}

#[test]
fn v2_cut_between_ckpt_and_anchor() {
    let opts = nor_opts();
    let mut r = nor_region(SECTORS, opts);
    let mut model = Model::new();
    for i in 0..30u32 {
        r.begin().unwrap();
        let k = format!("k{i}").into_bytes();
        r.put(&k, &[i as u8; 40]).unwrap();
        r.commit().unwrap();
        model.insert(k, vec![i as u8; 40]);
    }
    let (mut dev, _) = r.into_parts();
    let base = dev.flash().image().to_vec();
    dev.flash_mut().start_trace();
    let mut s = common::v2::mount_dev(dev, opts).unwrap();
    s.sync().unwrap();
    let (mut dev, _) = s.into_parts();
    let trace = dev.flash_mut().take_trace();
    // The last ring program is the sync's anchor; every journal write before it is durable.
    let last = trace.iter().rposition(in_ring).unwrap();
    let mut emu = NorEmulator::from_image(base);
    for op in &trace[..last] {
        emu.apply(op, None);
    }
    let mut t = mount_image(emu.image().to_vec(), opts).unwrap();
    assert!(!t.mount_info().fell_back);
    assert_eq!(read_all(&mut t).unwrap(), model);
    t.check().unwrap();
    // The unanchored CKPT record was in the tail: its generation is used up.
    let mut full = NorEmulator::from_image(emu.image().to_vec());
    full.apply(&trace[last], None);
    let mut u = mount_image(full.image().to_vec(), opts).unwrap();
    assert_eq!(
        t.generation(),
        u.generation(),
        "the tail's CKPT generation was not seen"
    );
    assert_eq!(read_all(&mut u).unwrap(), model);
}

#[test]
fn v2_newest_anchor_unreadable_falls_back() {
    let opts = nor_opts();
    let mut r = nor_region(SECTORS, opts);
    let mut model = Model::new();
    let mut last_slot = 0;
    for i in 0..25u32 {
        r.begin().unwrap();
        let k = format!("key{}", i % 9).into_bytes();
        r.put(&k, &[i as u8; 300]).unwrap();
        r.commit().unwrap();
        model.insert(k, vec![i as u8; 300]);
        if i % 5 == 4 {
            r.sync().unwrap();
        }
    }
    let img = r.device().flash().image().to_vec();
    // The newest programmed slot: the highest-generation one is the last non-erased slot in
    // ring order of the current unit; find programmed slots and take the last one written.
    let slots: Vec<usize> = (RING.start as usize..RING.end as usize)
        .step_by(256)
        .filter(|&o| img[o..o + 256].iter().any(|&b| b != 0xFF))
        .collect();
    assert!(!slots.is_empty());
    let g = |o: usize| {
        u64::from_le_bytes([
            img[o + 8],
            img[o + 9],
            img[o + 10],
            img[o + 11],
            img[o + 12],
            img[o + 13],
            0,
            0,
        ])
    };
    for &o in &slots {
        if g(o) > g(last_slot.max(slots[0])) || last_slot == 0 {
            last_slot = o;
        }
    }
    // Bytes of the chunk's header, ciphertext and tag (its zero tail is not authenticated).
    for flip in [2usize, 20, 40, 90] {
        let mut bad = img.clone();
        bad[last_slot + flip] ^= 0x01;
        match mount_image(bad, opts) {
            Ok(t) => {
                let info = t.mount_info();
                assert!(info.fell_back, "a corrupt newest slot must be reported");
                assert_eq!(info.next_seq, info.seq_limit + SEQ_RESERVE + 1);
                let (dev, _) = t.into_parts();
                let high = max_seq_on_medium(dev.flash().image());
                assert!(
                    info.next_seq > high,
                    "next seq {} not above {high} on the medium",
                    info.next_seq
                );
                let mut t = common::v2::mount_dev(dev, opts).unwrap();
                match read_all(&mut t) {
                    Ok(got) => assert!(got == model, "fallback gave other data"),
                    Err(StoreError::Integrity(_)) => {}
                    Err(e) => panic!("unexpected error {e:?}"),
                }
                // Writing continues and survives a remount.
                t.begin().unwrap();
                t.put(b"later", b"x").unwrap();
                t.commit().unwrap();
                let (dev, _) = t.into_parts();
                let mut u = common::v2::mount_dev(dev, opts).unwrap();
                assert_eq!(u.get(b"later").unwrap().as_deref(), Some(&b"x"[..]));
            }
            Err(StoreError::Integrity(_)) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
}
