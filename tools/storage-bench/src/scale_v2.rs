//! The storage-engine issue's scale figures for engine v2 (`storage_backend::store::v2`, stage
//! 2: the on-medium B+tree, anchor ring, checkpoints and a bounded tail) next to v1's: insert
//! and get rates, mount after a clean shutdown and after a cut, and peak heap, at each object
//! count. Printed as `storage.v2.scale.<N>.<figure>`; the targets are checked for the v2
//! group (`storage.v2.scale.targets_met`).
//!
//! Large profile: 4-KiB pages, `D` = 256, a budget of 4 MiB for the region (its tree gets what
//! the journal window, the delta table, the open transaction and buffers leave), a checkpoint
//! every 1 MiB of journal, 256-KiB segments. A v2 transaction takes at most about 20 keys at these heights
//! (the COMMIT page bound, storage-backend/DESIGN.md, "Stage 2 status"), so inserts commit 20 objects per
//! transaction where v1 commits 100.

use std::time::Instant;

use storage_backend::block::RamDevice;
use storage_backend::store::v2::{V2Options, V2Region};
use storage_backend::{CryptoEngine, Db, KeyHandle, SoftwareEngine};

use crate::scale::{LARGE_BUDGET, Scale};
use crate::{PEAK, reset_peak};

const TXN: usize = 20;
const VALUE: usize = 64;

fn opts() -> V2Options {
    V2Options {
        seg_units: 64,
        ring_units: 2,
        page_plain: 4066,
        max_dirty: 256,
        ram_budget: 4 << 20,
        uuid: *b"zos-v2-benchuuid",
        ckpt_bytes: 1 << 20,
        max_deltas: 4096,
        txn_bytes: 256 * 1024,
    }
}

fn engine() -> (SoftwareEngine, KeyHandle) {
    let mut e = SoftwareEngine::new();
    let k = e.import_key(&[2; 32]).expect("key");
    (e, k)
}

fn key(i: usize) -> Vec<u8> {
    format!("p/{:08x}/{:06x}", i / 64, i % 64).into_bytes()
}

fn insert_range(r: &mut V2Region<RamDevice, SoftwareEngine>, from: usize, to: usize) {
    let value = [0x5Au8; VALUE];
    let mut i = from;
    while i < to {
        r.begin().expect("begin");
        for j in i..(i + TXN).min(to) {
            r.put(&key(j), &value).expect("put");
        }
        r.commit().expect("commit");
        i += TXN;
    }
}

/// Inserts `n` objects into a v2 region on a 1 GiB RAM device and measures.
pub fn scale_v2(n: usize) -> Scale {
    let dev = RamDevice::new(512, 8, 262_144);
    let base = reset_peak();
    let (e, k) = engine();
    let mut r = V2Region::format(dev, e, k, Db::Userspace, opts()).expect("format");
    let tail = (n / 10).max(1000).min(n);
    insert_range(&mut r, 0, n - tail);
    let t = Instant::now();
    insert_range(&mut r, n - tail, n);
    let insert_ops = tail as f64 / t.elapsed().as_secs_f64();
    let gets = n.min(100_000);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let t = Instant::now();
    for _ in 0..gets {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let i = (rng % n as u64) as usize;
        let v = r.get(&key(i)).expect("get").expect("present");
        assert_eq!(v.len(), VALUE);
    }
    let get_ops = gets as f64 / t.elapsed().as_secs_f64();
    let ram_bytes = PEAK.load(std::sync::atomic::Ordering::Relaxed) - base;
    r.sync().expect("sync");
    let (dev, _) = r.into_parts();
    let (e, k) = engine();
    let t = Instant::now();
    let mut r = V2Region::mount(dev, e, k, Db::Userspace, opts()).expect("mount");
    let mount_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(r.objects(), n as u64);
    // A cut: 1,000 more objects committed, then the power goes (no checkpoint after them).
    insert_range(&mut r, n, n + 1000);
    let (dev, _) = r.into_parts();
    let (e, k) = engine();
    let t = Instant::now();
    let r = V2Region::mount(dev, e, k, Db::Userspace, opts()).expect("mount after a cut");
    let mount_after_cut_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(r.objects(), n as u64 + 1000);
    Scale {
        n,
        insert_ops,
        get_ops,
        mount_ms,
        mount_after_cut_ms,
        ram_bytes,
    }
}

/// Runs the v2 series over `sizes`, prints it and returns whether the targets hold.
pub fn run(sizes: &[usize]) -> bool {
    let mut all = Vec::new();
    for &n in sizes {
        eprintln!("storage-bench: v2 scale {n} objects");
        let f = scale_v2(n);
        println!("storage.v2.scale.{n}.insert: {:.0} ops/s", f.insert_ops);
        println!("storage.v2.scale.{n}.get: {:.0} ops/s", f.get_ops);
        println!("storage.v2.scale.{n}.mount_ms: {:.1} ms", f.mount_ms);
        println!(
            "storage.v2.scale.{n}.mount_after_cut_ms: {:.1} ms",
            f.mount_after_cut_ms
        );
        println!("storage.v2.scale.{n}.ram_bytes: {} bytes", f.ram_bytes);
        all.push(f);
    }
    let ok = match (all.first(), all.last()) {
        (Some(a), Some(b)) if b.n >= 1_000_000 => {
            b.insert_ops >= 0.5 * a.insert_ops
                && b.get_ops >= 0.5 * a.get_ops
                && b.mount_ms <= 50.0
                && b.mount_after_cut_ms <= 50.0
                && all.iter().all(|f| f.ram_bytes <= LARGE_BUDGET)
        }
        _ => false,
    };
    println!(
        "storage.v2.scale.targets_met: {}",
        if ok { "yes" } else { "no" }
    );
    ok
}
