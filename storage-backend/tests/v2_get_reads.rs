//! Engine v2: with the leaves far larger than the RAM budget, the internal levels of the tree
//! stay cached (the pool evicts clean leaves first) and a cached page is used as it is, so a
//! point read costs at most one page read from the medium — the leaf — however many levels the
//! tree has (DESIGN.md, "Stage 2 status", measured speed).

mod common;

use storage_backend::Db;
use storage_backend::block::RamDevice;
use storage_backend::store::v2::{V2Options, V2Region};

const N: usize = 12_000;

fn opts() -> V2Options {
    V2Options {
        seg_units: 8,
        ram_budget: 128 * 1024,
        max_dirty: 40,
        ..V2Options::default()
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("file/{:06}/piece", (i * 7_919) % 1_000_003).into_bytes()
}

#[test]
fn a_get_reads_at_most_one_page_once_the_upper_levels_are_cached() {
    let (e, k) = common::engine();
    let dev = RamDevice::new(512, 8, 4096);
    let mut r = V2Region::format(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
    for i in (0..N).step_by(2) {
        r.begin().unwrap();
        for j in i..(i + 2).min(N) {
            r.put(&key(j), &j.to_le_bytes()).unwrap();
        }
        r.commit().unwrap();
    }
    r.sync().unwrap();
    let (dev, _) = r.into_parts();
    let (e, k) = common::engine();
    let mut r = V2Region::mount(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
    assert!(r.tree_height() >= 3, "height {}", r.tree_height());
    // Far more leaves than the pool holds: most gets must read their leaf.
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % N as u64) as usize
    };
    // Warm-up: one pass brings every internal page in.
    for _ in 0..N {
        let i = next();
        assert_eq!(r.get(&key(i)).unwrap(), Some(i.to_le_bytes().to_vec()));
    }
    let (mut reads, mut most, gets) = (0, 0, 4_000);
    for _ in 0..gets {
        let i = next();
        let before = r.medium_stats().page_reads;
        assert_eq!(r.get(&key(i)).unwrap(), Some(i.to_le_bytes().to_vec()));
        let n = r.medium_stats().page_reads - before;
        most = most.max(n);
        reads += n;
    }
    assert!(most <= 1, "a get read {most} pages");
    // The leaves do not fit: the measurement is of uncached leaves, not of a warm cache.
    assert!(reads > gets / 2, "{reads} page reads in {gets} gets");
    assert!(r.tree_ram_bytes() <= opts().ram_budget);
}
