//! Engine v2: checkpoints inside an open transaction, before its COMMIT.
//!
//! * Forced by `D`: many dirty pages, then a transaction whose page bound does not fit beside
//!   them — `commit` checkpoints first (the CKPT names the transaction as in flight and the tail
//!   starts at its first record), then writes the COMMIT.
//! * Forced by `T`: a transaction that writes more journal than `T` checkpoints at a put.
//!
//! Each is cut at every program and erase (not applied, and torn): before the anchor, between
//! the anchor and the COMMIT, and after it. Mount must give the state before or after the
//! transaction, pass the full check, and take a write after the crash.

mod common;

use common::v2::{Model, NorRegion, mount_dev, mount_image, nor_opts, nor_region, read_all};
use storage_backend::block::{CutMode, NorEmulator, TraceOp};
use storage_backend::store::v2::V2Options;

const RING: std::ops::Range<u32> = 4096..3 * 4096;

fn is_anchor(op: &TraceOp) -> bool {
    matches!(op, TraceOp::Program { offset, .. } if RING.contains(offset))
}

fn key(i: u32) -> Vec<u8> {
    format!("k{i:04}-{}", "z".repeat((i % 23) as usize)).into_bytes()
}

/// Runs `op` on the live region (no remount: its dirty pages stay), recording its trace;
/// returns the image before, the trace, the state after and the generation before.
fn traced(
    mut r: NorRegion,
    op: impl FnOnce(&mut NorRegion) -> Model,
) -> (Vec<u8>, Vec<TraceOp>, Model, u64) {
    let g0 = r.generation();
    let base = r.device().flash().image().to_vec();
    r.device_mut().flash_mut().start_trace();
    let after = op(&mut r);
    let (mut dev, _) = r.into_parts();
    (base, dev.flash_mut().take_trace(), after, g0)
}

fn cut_everywhere(
    base: &[u8],
    trace: &[TraceOp],
    before: &Model,
    after: &Model,
    opts: V2Options,
) -> usize {
    let mut emu = NorEmulator::from_image(base.to_vec());
    let mut n = 0;
    for (k, op) in trace.iter().enumerate() {
        for m in [CutMode::NotApplied, CutMode::Torn(k * 131 % 4096 + 1)] {
            let mut e = emu.clone();
            e.apply(op, Some(m));
            let what = format!("cut at {k}/{} ({m:?})", trace.len());
            let mut r = mount_image(e.image().to_vec(), opts)
                .unwrap_or_else(|e| panic!("{what}: mount {e:?}"));
            let got = read_all(&mut r).unwrap_or_else(|e| panic!("{what}: read {e:?}"));
            assert!(
                &got == before || &got == after,
                "{what}: neither before nor after"
            );
            r.check().unwrap_or_else(|e| panic!("{what}: check {e:?}"));
            if k % 3 == 0 {
                r.begin().unwrap();
                r.put(b"post", b"crash").unwrap();
                r.commit().unwrap();
                let (dev, _) = r.into_parts();
                let mut s = mount_dev(dev, opts).unwrap();
                assert_eq!(
                    s.get(b"post").unwrap().as_deref(),
                    Some(&b"crash"[..]),
                    "{what}"
                );
            }
            n += 1;
        }
        emu.apply(op, None);
    }
    n
}

/// The state right after the first anchor program of `trace` (the in-flight checkpoint is
/// durable, the COMMIT not yet written): must be `before`, mounted from the new checkpoint.
fn after_anchor(base: &[u8], trace: &[TraceOp], before: &Model, g0: u64, opts: V2Options) {
    let i = trace
        .iter()
        .position(is_anchor)
        .expect("no checkpoint inside the transaction");
    let last = trace.len() - 1;
    assert!(i < last, "the anchor is not before the COMMIT");
    let mut emu = NorEmulator::from_image(base.to_vec());
    for op in &trace[..=i] {
        emu.apply(op, None);
    }
    let mut r = mount_image(emu.image().to_vec(), opts).unwrap();
    assert!(
        r.generation() > g0,
        "the in-flight checkpoint is not the newest"
    );
    assert_eq!(&read_all(&mut r).unwrap(), before);
}

/// The whole trace: mount replays the transaction from its first record, which is older than
/// the newest checkpoint.
fn replays_in_flight(base: &[u8], trace: &[TraceOp], after: &Model, opts: V2Options) {
    let mut emu = NorEmulator::from_image(base.to_vec());
    for op in trace {
        emu.apply(op, None);
    }
    let mut full = mount_image(emu.image().to_vec(), opts).unwrap();
    assert_eq!(&read_all(&mut full).unwrap(), after);
    assert!(
        full.mount_info().replayed >= 1,
        "the COMMIT after the in-flight checkpoint was not replayed"
    );
}

#[test]
fn v2_inflight_checkpoint_forced_by_dirty_pages() {
    let opts = V2Options {
        ckpt_bytes: 1 << 20,
        max_deltas: 64,
        ..nor_opts()
    };
    let mut r = nor_region(96, opts);
    let mut model = Model::new();
    for i in 0..240u32 {
        if i % 3 == 0 {
            r.begin().unwrap();
        }
        r.put(&key(i), &[i as u8; 30]).unwrap();
        model.insert(key(i), vec![i as u8; 30]);
        if i % 3 == 2 {
            r.commit().unwrap();
        }
    }
    r.sync().unwrap();
    // Dirty pages across the tree: one key per commit, spread out.
    for i in (0..240u32).step_by(17) {
        r.begin().unwrap();
        r.put(&key(i), b"dirty").unwrap();
        r.commit().unwrap();
        model.insert(key(i), b"dirty".to_vec());
    }
    let before = model.clone();
    let (base, trace, after, g0) = traced(r, |r| {
        let mut m = before.clone();
        r.begin().unwrap();
        for i in [3u32, 77, 151, 229] {
            r.put(&key(i), b"in flight").unwrap();
            m.insert(key(i), b"in flight".to_vec());
        }
        r.commit().unwrap();
        m
    });
    after_anchor(&base, &trace, &before, g0, opts);
    replays_in_flight(&base, &trace, &after, opts);
    let n = cut_everywhere(&base, &trace, &before, &after, opts);
    assert!(n > 20);
}

#[test]
fn v2_inflight_checkpoint_forced_by_journal_bytes() {
    let opts = V2Options {
        ckpt_bytes: 6 * 1024,
        ..nor_opts()
    };
    let mut r = nor_region(96, opts);
    let mut model = Model::new();
    for i in 0..40u32 {
        r.begin().unwrap();
        r.put(&key(i), &[1; 10]).unwrap();
        r.commit().unwrap();
        model.insert(key(i), vec![1; 10]);
    }
    r.sync().unwrap();
    let before = model.clone();
    let (base, trace, after, g0) = traced(r, |r| {
        let mut m = before.clone();
        r.begin().unwrap();
        // 12 puts of 1.5 KiB to three keys: 18 KiB of journal, three times `T`.
        for j in 0..12u32 {
            let v = vec![j as u8; 1500];
            r.put(&key(j % 3), &v).unwrap();
            m.insert(key(j % 3), v);
        }
        r.commit().unwrap();
        m
    });
    let anchors = trace.iter().filter(|o| is_anchor(o)).count();
    assert!(
        anchors >= 3,
        "expected checkpoints inside the transaction, saw {anchors} anchors"
    );
    after_anchor(&base, &trace, &before, g0, opts);
    replays_in_flight(&base, &trace, &after, opts);
    let n = cut_everywhere(&base, &trace, &before, &after, opts);
    assert!(n > 20);
}
