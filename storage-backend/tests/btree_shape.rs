//! Engine v2 stage 1: the shape of the B+tree (fan-out and height against DESIGN.md V2.2),
//! deletes down to an empty tree and regrowth, the dirty-page cap `D`, and the RAM budget.

use storage_backend::store::btree::{
    BTree, BTreeError, Config, Key, MemPageStore, PageFormat, TreeStats, Value,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn exhaustive() -> bool {
    std::env::var("ZOS_EXHAUSTIVE").is_ok_and(|v| v == "1")
}

/// A 20-byte key shaped like a file piece: "/pc/" ‖ file id ‖ piece number.
fn piece_key(i: u64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..4].copy_from_slice(b"/pc/");
    k[4..12].copy_from_slice(&(i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[12..].copy_from_slice(&(i % 8).to_be_bytes());
    k
}

fn loc(i: u64) -> Value {
    Value::Loc {
        seg: (i >> 10) as u32,
        off: (i as u32 & 1023) * 4096,
        seq: i,
        disk_len: 4096,
        vlen: 3968,
    }
}

fn cfg(format: PageFormat, max_dirty: usize, ram_budget: usize) -> Config {
    Config {
        format,
        max_dirty,
        ram_budget,
    }
}

/// Inserts keys `0..n` in a scrambled order, flushing whenever `D` is reached.
fn fill(t: &mut BTree<MemPageStore>, n: u64, ckpt: &mut u64) {
    let mut order: Vec<u64> = (0..n).collect();
    let mut rng = Rng(0xdead_beef_1234_5678);
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    for i in order {
        let k = piece_key(i);
        loop {
            match t.insert(Key::new(1, &k), &loc(i)) {
                Err(BTreeError::NeedsCheckpoint) => {
                    *ckpt += 1;
                    t.flush(*ckpt).unwrap();
                    t.store_mut().reclaim();
                }
                r => {
                    r.unwrap();
                    break;
                }
            }
        }
        assert!(t.ram_bytes() <= t.config().ram_budget);
    }
}

fn leaf_capacity(format: &PageFormat) -> usize {
    // Entry: ns, len, 20 key bytes, vtype, 24-byte LOC = 47 bytes; fence at most 22 bytes.
    (format.plaintext() - 12 - 22) / 47
}

fn shape(format: PageFormat, n: u64) -> TreeStats {
    let mut t = BTree::create(MemPageStore::new(), cfg(format, 64, 4 << 20)).unwrap();
    let mut ckpt = 0;
    fill(&mut t, n, &mut ckpt);
    let st = t.stats().unwrap();
    assert_eq!(st.entries, n as usize);
    st
}

#[test]
fn fan_out_and_height_match_the_design() {
    // DESIGN.md V2.2: leaf fan-out ≈ 21 (1 KiB) / ≈ 88 (4 KiB) for 20-byte keys + LOC values;
    // height 4 (1 KiB) and 3 (4 KiB) at 20,000 keys.
    for (format, height) in [(PageFormat::SMALL, 4), (PageFormat::LARGE, 3)] {
        let st = shape(format, 20_000);
        let cap = leaf_capacity(&format);
        let leaves = st.pages[0];
        let avg = st.entries as f64 / leaves as f64;
        let internal: usize = st.pages[1..].iter().sum();
        // Fan-out of the level above the leaves (the root's few children would skew an average).
        let fan_in = st.entries_per_level[1] as f64 / st.pages[1] as f64;
        println!(
            "{} B pages: height {}, {} leaves, {:.1} entries/leaf (cap {}), {} internal pages, {:.1} children each",
            format.plaintext(),
            st.height,
            leaves,
            avg,
            cap,
            internal,
            fan_in
        );
        assert_eq!(st.height, height);
        assert!(
            avg <= cap as f64 && avg >= 0.5 * cap as f64,
            "leaf fill {avg} vs capacity {cap}"
        );
        // Random order fills leaves about 70 % on average (DESIGN.md's assumption).
        assert!(avg >= 0.6 * cap as f64);
        // Separators are truncated ("/pc/" plus a few bytes of the file id): internal pages
        // take far more children than leaves take entries.
        assert!(
            fan_in > 1.3 * avg,
            "internal fan-out {fan_in} not above leaf fan-out {avg}"
        );
        assert!(st.min_entries[0] >= 1);
    }
}

#[test]
fn million_keys_have_height_four() {
    if !exhaustive() {
        return;
    }
    let st = shape(PageFormat::LARGE, 1_000_000);
    assert_eq!(st.height, 4);
    let internal: usize = st.pages[1..].iter().sum();
    println!(
        "10^6 keys: {} leaves, {internal} internal pages",
        st.pages[0]
    );
    assert!(
        internal < 400,
        "about 170 internal pages expected, got {internal}"
    );
}

#[test]
fn delete_down_to_empty_then_regrow() {
    for format in [PageFormat::SMALL, PageFormat::LARGE] {
        let mut t = BTree::create(MemPageStore::new(), cfg(format, 32, 256 << 10)).unwrap();
        let mut ckpt = 0;
        let n = 6000;
        fill(&mut t, n, &mut ckpt);
        assert!(t.height() >= 2);
        let mut rng = Rng(77);
        let mut left: Vec<u64> = (0..n).collect();
        while !left.is_empty() {
            let i = left.swap_remove((rng.next() % left.len() as u64) as usize);
            let k = piece_key(i);
            let got = loop {
                match t.delete(Key::new(1, &k)) {
                    Err(BTreeError::NeedsCheckpoint) => {
                        ckpt += 1;
                        t.flush(ckpt).unwrap();
                        t.store_mut().reclaim();
                    }
                    r => break r.unwrap(),
                }
            };
            assert_eq!(got, Some(loc(i)));
            assert_eq!(t.delete(Key::new(1, &k)).unwrap(), None);
            if left.len().is_multiple_of(1000) {
                let st = t.stats().unwrap();
                assert_eq!(st.entries, left.len());
                // Merges keep non-root leaves from emptying.
                if st.height > 1 {
                    assert!(st.min_entries[0] >= 1);
                }
            }
        }
        // Root shrink all the way down: one empty leaf, and after a flush one live page.
        assert_eq!(t.height(), 1);
        let c = t.counters();
        assert!(
            c.merges > 0 && c.root_shrinks as usize + 1 >= c.root_grows as usize,
            "{c:?}"
        );
        let st = t.stats().unwrap();
        assert_eq!((st.entries, st.pages[0]), (0, 1));
        ckpt += 1;
        let root = t.flush(ckpt).unwrap();
        t.store_mut().reclaim();
        assert_eq!(t.store().live_pages(), 1);
        assert_eq!(t.store().stats().bad_deaths, 0);
        let mut t = BTree::open(t.into_store(), *t_cfg(format), root).unwrap();
        assert!(
            t.cursor(Key::new(0, &[]))
                .unwrap()
                .next_entry()
                .unwrap()
                .is_none()
        );
        // Regrowth.
        fill(&mut t, 3000, &mut ckpt);
        let st = t.stats().unwrap();
        assert_eq!(st.entries, 3000);
        assert!(t.height() >= 2);
        for i in (0..3000).step_by(7) {
            assert_eq!(t.get(Key::new(1, &piece_key(i))).unwrap(), Some(loc(i)));
        }
    }
}

fn t_cfg(format: PageFormat) -> &'static Config {
    Box::leak(Box::new(cfg(format, 32, 256 << 10)))
}

#[test]
fn dirty_cap_refuses_before_changing_anything() {
    // D = 1: the empty root leaf (dirty) takes inserts until it must split.
    let mut t = BTree::create(MemPageStore::new(), cfg(PageFormat::SMALL, 1, 64 << 10)).unwrap();
    let mut i = 0;
    let err = loop {
        match t.insert(Key::new(1, &piece_key(i)), &loc(i)) {
            Ok(None) => i += 1,
            Ok(Some(_)) => panic!("key {i} was present"),
            Err(e) => break e,
        }
    };
    // A split needs the root plus two new pages: with one page already dirty, checkpoint.
    assert_eq!(err, BTreeError::NeedsCheckpoint);
    assert_eq!(t.dirty_pages(), 1);
    assert_eq!(t.get(Key::new(1, &piece_key(i))).unwrap(), None);
    let root = t.flush(1).unwrap();
    // With nothing dirty it still needs three: the cap itself is too small.
    assert_eq!(
        t.insert(Key::new(1, &piece_key(i)), &loc(i)),
        Err(BTreeError::DirtyCapTooSmall)
    );
    assert_eq!(t.dirty_pages(), 0);
    assert_eq!(
        t.flush(2).unwrap(),
        root,
        "a refused change left nothing to write"
    );
    let st = t.stats().unwrap();
    assert_eq!(st.entries, i as usize);
    // Replacing in place needs only the leaf.
    assert_eq!(
        t.insert(Key::new(1, &piece_key(0)), &loc(99)).unwrap(),
        Some(loc(0))
    );

    // D = 3 on a taller tree: refusals happen, each retry after a flush succeeds, and the
    // number of dirty pages never exceeds 3.
    let mut t = BTree::create(MemPageStore::new(), cfg(PageFormat::SMALL, 3, 64 << 10)).unwrap();
    let (mut ckpt, mut refused) = (0, 0);
    for i in 0..400 {
        let k = piece_key(i);
        loop {
            let before = t.dirty_pages();
            match t.insert(Key::new(1, &k), &loc(i)) {
                Err(BTreeError::NeedsCheckpoint) => {
                    refused += 1;
                    assert_eq!(t.dirty_pages(), before);
                    assert_eq!(t.get(Key::new(1, &k)).unwrap(), None);
                    ckpt += 1;
                    t.flush(ckpt).unwrap();
                }
                r => {
                    r.unwrap();
                    break;
                }
            }
            assert!(t.dirty_pages() <= 3);
        }
    }
    assert!(
        refused > 10 && t.height() == 2,
        "refused {refused}, height {}",
        t.height()
    );
    assert_eq!(t.stats().unwrap().entries, 400);
}

#[test]
fn budget_is_enforced_and_ram_does_not_grow_with_keys() {
    for (f, d) in [
        (PageFormat::SMALL, 3),
        (PageFormat::SMALL, 8),
        (PageFormat::LARGE, 256),
    ] {
        let m = BTree::<MemPageStore>::min_budget(&cfg(f, d, 0));
        println!("minimum budget: {} B pages, D = {d}: {m} B", f.plaintext());
    }
    let c = cfg(PageFormat::LARGE, 16, 0);
    let min = BTree::<MemPageStore>::min_budget(&c);
    let low = cfg(PageFormat::LARGE, 16, min - 1);
    assert_eq!(
        BTree::create(MemPageStore::new(), low).err(),
        Some(BTreeError::Budget { minimum: min })
    );
    let t = BTree::create(MemPageStore::new(), cfg(PageFormat::LARGE, 16, min)).unwrap();
    assert!(t.pool_slots() > 16);
    assert!(t.ram_bytes() <= min);
    // The minimum is (D + 1) pages plus bookkeeping and two pages of split scratch.
    assert!(min > 17 * 4066 && min < 22 * 4066, "minimum {min}");
    assert_eq!(
        BTree::create(MemPageStore::new(), cfg(PageFormat::SMALL, 0, 1 << 20)).err(),
        Some(BTreeError::InvalidArgument)
    );

    let budget = 256 << 10;
    let mut t = BTree::create(MemPageStore::new(), cfg(PageFormat::LARGE, 32, budget)).unwrap();
    let mut ckpt = 0;
    fill(&mut t, 2000, &mut ckpt);
    let early = t.ram_bytes();
    fill(&mut t, 40_000, &mut ckpt);
    let late = t.ram_bytes();
    println!("ram at 2,000 keys: {early} B, at 40,000: {late} B, budget {budget} B");
    assert!(late <= budget);
    assert_eq!(
        t.cached_pages(),
        t.pool_slots(),
        "a large tree fills the pool, no more"
    );
    for i in (0..40_000).step_by(97) {
        assert_eq!(t.get(Key::new(1, &piece_key(i))).unwrap(), Some(loc(i)));
        assert!(t.ram_bytes() <= budget);
    }
}

#[test]
fn arguments_are_checked() {
    assert!(PageFormat::new(500).is_none());
    assert!(PageFormat::new(100_000).is_none());
    assert_eq!(PageFormat::new(994), Some(PageFormat::SMALL));
    assert_eq!(PageFormat::new(4066), Some(PageFormat::LARGE));
    let mut t = BTree::create(MemPageStore::new(), cfg(PageFormat::SMALL, 8, 64 << 10)).unwrap();
    let long = [7u8; 256];
    assert_eq!(
        t.insert(Key::new(1, &long), &loc(1)),
        Err(BTreeError::InvalidArgument)
    );
    assert_eq!(t.get(Key::new(1, &long)), Err(BTreeError::InvalidArgument));
    let big = Value::inline(&[1u8; 49]).unwrap();
    assert_eq!(
        t.insert(Key::new(1, b"a"), &big),
        Err(BTreeError::InvalidArgument)
    );
    let ok = Value::inline(&[1u8; 48]).unwrap();
    assert_eq!(t.insert(Key::new(1, &long[..255]), &ok), Ok(None));
    assert_eq!(t.get(Key::new(1, &long[..255])), Ok(Some(ok)));
    assert_eq!(t.flush(5).map(|_| ()), Ok(()));
    assert_eq!(
        t.flush(4),
        Err(BTreeError::InvalidArgument),
        "generations only grow"
    );
}

#[test]
fn edge_keys_sort_and_survive_splits() {
    // The smallest key (0, ""), empty keys in other namespaces, 0x00 and 0xff bytes, the
    // longest key: all ordered by namespace, then bytes, through splits and merges.
    let mut keys: Vec<(u8, Vec<u8>)> = vec![
        (0, vec![]),
        (0, vec![0]),
        (0, vec![0, 0]),
        (1, vec![]),
        (1, vec![0xff; 255]),
        (255, vec![]),
        (255, vec![0xff; 255]),
    ];
    for i in 0..600u32 {
        keys.push(((i % 3) as u8, i.to_be_bytes().to_vec()));
        keys.push((1, vec![0xff; (i % 256) as usize]));
    }
    keys.sort();
    keys.dedup();
    let mut t = BTree::create(MemPageStore::new(), cfg(PageFormat::SMALL, 24, 64 << 10)).unwrap();
    let mut ckpt = 0;
    for (n, (ns, k)) in keys.iter().enumerate().rev() {
        let mut r = t.insert(Key::new(*ns, k), &loc(n as u64));
        if r == Err(BTreeError::NeedsCheckpoint) {
            ckpt += 1;
            t.flush(ckpt).unwrap();
            r = t.insert(Key::new(*ns, k), &loc(n as u64));
        }
        assert_eq!(r, Ok(None));
    }
    assert!(t.height() >= 3);
    let mut c = t.cursor(Key::new(0, &[])).unwrap();
    for (n, (ns, k)) in keys.iter().enumerate() {
        let e = c.next_entry().unwrap().unwrap();
        assert_eq!((e.ns, e.key(), e.value), (*ns, &k[..], loc(n as u64)));
    }
    assert!(c.next_entry().unwrap().is_none());
    ckpt += 1;
    let root = t.flush(ckpt).unwrap();
    let mut t = BTree::open(t.into_store(), cfg(PageFormat::SMALL, 24, 64 << 10), root).unwrap();
    for (n, (ns, k)) in keys.iter().enumerate() {
        if n % 2 == 0 {
            let mut r = t.delete(Key::new(*ns, k));
            if r == Err(BTreeError::NeedsCheckpoint) {
                ckpt += 1;
                t.flush(ckpt).unwrap();
                r = t.delete(Key::new(*ns, k));
            }
            assert_eq!(r, Ok(Some(loc(n as u64))));
        }
    }
    for (n, (ns, k)) in keys.iter().enumerate() {
        let want = (n % 2 == 1).then(|| loc(n as u64));
        assert_eq!(t.get(Key::new(*ns, k)).unwrap(), want);
    }
    assert_eq!(t.stats().unwrap().entries, keys.len() / 2);
}
