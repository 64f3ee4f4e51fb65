//! Engine v2: the region's peak heap stays within the budget given at format and mount, at two
//! object counts 50× apart — measured with a counting global allocator in this test binary (the
//! RAM device and the engine are created before the measurement starts).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use storage_backend::block::RamDevice;
use storage_backend::store::v2::{V2Options, V2Region, V2Store};
use storage_backend::{Db, SoftwareEngine};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` was allocated by `alloc` above with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

type R = V2Region<RamDevice, SoftwareEngine>;

fn opts() -> V2Options {
    V2Options {
        seg_units: 8,
        max_dirty: 40,
        ram_budget: 128 * 1024,
        max_deltas: 16,
        ckpt_bytes: 16 * 1024,
        ..V2Options::default()
    }
}

/// Peak heap above `base` since the last reset.
fn peak_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

fn key(i: u64) -> Vec<u8> {
    format!("obj/{:08}", i).into_bytes()
}

fn run(n: u64) -> usize {
    let dev = RamDevice::new(512, 8, 16_384);
    let (eng, keys) = common::engine();
    let (eng2, keys2) = common::engine();
    // The test's own bookkeeping is allocated before the measurement starts.
    let keys_list: Vec<Vec<u8>> = (0..n).map(key).collect();
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut r: R = V2Region::format(dev, eng, keys.kernel, Db::Kernel, opts()).unwrap();
    let mut i = 0;
    while i < n {
        r.begin().unwrap();
        for _ in 0..3.min(n - i) {
            r.put(&keys_list[i as usize], &[i as u8; 32]).unwrap();
            i += 1;
        }
        r.commit().unwrap();
    }
    let mut x = 0x1234_5678u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = &keys_list[(x % n) as usize];
        assert_eq!(r.get(k).unwrap().map(|v| v.len()), Some(32));
    }
    assert_eq!(r.scan(b"obj/", None, 10).unwrap().len(), 10.min(n as usize));
    for j in (0..n).step_by(7).take(400) {
        r.begin().unwrap();
        r.delete(&keys_list[j as usize]).unwrap();
        r.commit().unwrap();
    }
    // A crash with a tail, and a mount that replays it.
    let (dev, _) = r.into_parts();
    let mut r: R = V2Region::mount(dev, eng2, keys2.kernel, Db::Kernel, opts()).unwrap();
    assert!(r.mount_info().replayed > 0);
    r.begin().unwrap();
    r.put(b"after", b"mount").unwrap();
    r.commit().unwrap();
    assert!(r.tree_ram_bytes() <= opts().ram_budget - opts().overhead());
    let peak = peak_since(base);
    drop(r);
    peak
}

/// One region, and a store of two regions with a shared pool; one test, so the counting
/// allocator sees one measurement at a time.
#[test]
fn v2_peak_heap_within_budget_at_two_object_counts() {
    one_region();
    shared_store();
}

fn one_region() {
    let budget = opts().ram_budget;
    assert!(V2Region::<RamDevice, SoftwareEngine>::min_budget(&opts()).unwrap() <= budget);
    let small = run(1_000);
    let large = run(20_000);
    eprintln!("peak heap: {small} B at 1,000 objects, {large} B at 20,000 (budget {budget} B)");
    assert!(small <= budget, "peak {small} above the budget {budget}");
    assert!(large <= budget, "peak {large} above the budget {budget}");
    // The pool fills at either size; what is left does not grow with the object count.
    assert!(
        large <= small + 16 * 1024,
        "heap grew with the object count"
    );
}

/// Both databases on one device with one shared page pool, the whole store within one budget.
fn run_shared(n: u64, budget: usize) -> usize {
    let dev = RamDevice::new(512, 8, 16_384);
    let (eng, keys) = common::engine();
    let (eng2, keys2) = common::engine();
    let o = V2Options {
        max_dirty: 24,
        ..opts()
    };
    let both = [
        V2Options {
            uuid: *b"zos-v2-heap-kern",
            ..o
        },
        V2Options {
            uuid: *b"zos-v2-heap-user",
            ..o
        },
    ];
    let keys_list: Vec<Vec<u8>> = (0..n).map(key).collect();
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut s = V2Store::format_shared(dev, eng, keys, 4096, both, budget).unwrap();
    for db in Db::ALL {
        s.with(db, |r| {
            let mut i = 0;
            while i < n {
                r.begin()?;
                for _ in 0..1.min(n - i) {
                    r.put(&keys_list[i as usize], &[i as u8; 32])?;
                    i += 1;
                }
                r.commit()?;
            }
            Ok(())
        })
        .unwrap();
    }
    let mut x = 0x1234_5678u64;
    for j in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let db = if j % 2 == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        let k = &keys_list[(x % n) as usize];
        assert_eq!(s.with(db, |r| r.get(k)).unwrap().map(|v| v.len()), Some(32));
    }
    let (dev, _) = s.into_parts().unwrap();
    let mut s = V2Store::mount_shared(dev, eng2, keys2, 4096, both, budget).unwrap();
    for db in Db::ALL {
        assert_eq!(s.with(db, |r| Ok(r.objects())).unwrap(), n);
    }
    let peak = peak_since(base);
    drop(s);
    peak
}

fn shared_store() {
    let budget = 192 * 1024;
    let small = run_shared(1_000, budget);
    let large = run_shared(20_000, budget);
    eprintln!(
        "shared store peak heap: {small} B at 2 x 1,000 objects, {large} B at 2 x 20,000 (budget {budget} B)"
    );
    assert!(small <= budget, "peak {small} above the budget {budget}");
    assert!(large <= budget, "peak {large} above the budget {budget}");
    assert!(
        large <= small + 16 * 1024,
        "heap grew with the object count"
    );
}
