//! Engine v2: anchor-ring wear against log-segment wear on the NOR emulator (DESIGN.md,
//! *Anchor wear*): with 16 slots per 4-KiB sector and 2 ring units, each ring unit is erased
//! once per 32 anchors; the figures are printed for the design text and the bound asserted.

mod common;

use common::v2::{nor_opts, nor_region};
use storage_backend::store::v2::V2Options;

#[test]
fn v2_anchor_ring_wear_is_bounded_by_anchors_per_unit() {
    let opts = V2Options {
        ckpt_bytes: 4 * 1024,
        ..nor_opts()
    };
    let mut r = nor_region(96, opts);
    for i in 0..1500u32 {
        r.begin().unwrap();
        r.put(format!("k{}", i % 20).as_bytes(), &[i as u8; 200])
            .unwrap();
        r.commit().unwrap();
    }
    let anchors = r.generation();
    let erases = r.device().flash().stats().erase_counts.clone();
    let ring: Vec<u32> = erases[1..3].to_vec();
    let segs = &erases[3..];
    let seg_max = segs.iter().copied().max().unwrap_or(0);
    let seg_mean = f64::from(segs.iter().sum::<u32>()) / segs.len() as f64;
    eprintln!(
        "{anchors} anchors: ring unit erases {ring:?}; segment sector erases max {seg_max}, mean {seg_mean:.1}"
    );
    assert!(anchors >= 64, "too few checkpoints: {anchors}");
    // One erase per unit per 32 anchors (plus the format's).
    for e in ring {
        assert!(
            u64::from(e) <= anchors / 32 + 2,
            "ring unit erased {e} times for {anchors} anchors"
        );
    }
}
