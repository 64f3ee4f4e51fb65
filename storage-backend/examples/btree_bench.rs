//! Engine v2 stage 1 bench: the B+tree index alone over the in-memory page store.
//!
//! `cargo run --release -p storage-backend --example btree_bench [max_n]`
//!
//! For N = 10,000, 100,000 and 1,000,000 keys shaped like file pieces (20 bytes: "/pc/" ‖ file
//! id ‖ piece number, the pieces of a file consecutive, files scattered) with LOC values:
//! 4 KiB pages (4,066 B plaintext), a 4 MiB budget, `D` = 256, a flush (checkpoint page write)
//! every 100 inserts as a commit would trigger, and a flush whenever the tree asks for one.
//! Prints `storage.btree.<N>.<figure>: <value> <unit>` lines like `tools/storage-bench`: insert
//! and get rates, the peak of `ram_bytes()`, the height, and the 10^6 / 10^4 rate ratios
//! (target >= 50 %). Each size runs three times and the median rate is printed. It runs here rather than in `tools/storage-bench` because that workspace
//! builds littlefs2 through bindgen, which needs libclang; the figures are the same kind.

use std::time::Instant;

use storage_backend::store::btree::{
    BTree, BTreeError, Config, Key, MemPageStore, PageFormat, Value,
};

const BUDGET: usize = 4 << 20;
const DIRTY: usize = 256;
const COMMIT: u64 = 100;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Key `i`: file `i / 8` (scattered by a multiplicative hash), piece `i % 8`.
fn key(i: u64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..4].copy_from_slice(b"/pc/");
    k[4..12].copy_from_slice(&(i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[12..].copy_from_slice(&(i % 8).to_be_bytes());
    k
}

fn loc(i: u64) -> Value {
    Value::Loc {
        seg: (i >> 8) as u32,
        off: (i as u32 & 255) * 4096,
        seq: i,
        disk_len: 4096,
        vlen: 3968,
    }
}

struct Figures {
    insert: f64,
    get: f64,
    ram: usize,
    height: usize,
}

fn run(n: u64, format: PageFormat) -> Figures {
    let cfg = Config {
        format,
        max_dirty: DIRTY,
        ram_budget: BUDGET,
    };
    let mut t = BTree::create(MemPageStore::new(), cfg).expect("create");
    let mut ckpt = 0u64;
    let mut flush = |t: &mut BTree<MemPageStore>| {
        ckpt += 1;
        t.flush(ckpt).expect("flush");
        t.store_mut().reclaim();
    };
    let mut peak = t.ram_bytes();
    let start = Instant::now();
    for i in 0..n {
        let k = key(i);
        loop {
            match t.insert(Key::new(1, &k), &loc(i)) {
                Err(BTreeError::NeedsCheckpoint) => flush(&mut t),
                r => {
                    r.expect("insert");
                    break;
                }
            }
        }
        if i % COMMIT == COMMIT - 1 {
            flush(&mut t);
        }
        peak = peak.max(t.ram_bytes());
    }
    flush(&mut t);
    let insert = n as f64 / start.elapsed().as_secs_f64();

    // The same number of gets at every N, so that no size is measured colder than another.
    let gets = 400_000;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let start = Instant::now();
    for _ in 0..gets {
        let i = rng.next() % n;
        let v = t.get(Key::new(1, &key(i))).expect("get");
        assert_eq!(v, Some(loc(i)));
        peak = peak.max(t.ram_bytes());
    }
    let get = gets as f64 / start.elapsed().as_secs_f64();
    assert!(peak <= BUDGET);
    Figures {
        insert,
        get,
        ram: peak,
        height: t.height(),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let max: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // Optional page plaintext (e.g. 2018 for 2 KiB chunks, DESIGN.md V2.5's fallback); the
    // figures then carry its size in their name.
    let (format, tag) = match args.next().and_then(|a| a.parse().ok()) {
        Some(p) => (PageFormat::new(p).expect("page size"), format!("p{p}.")),
        None => (PageFormat::LARGE, String::new()),
    };
    let mut all = Vec::new();
    for n in [10_000u64, 100_000, 1_000_000] {
        if n > max {
            break;
        }
        // The machine is shared: each size runs three times and the median rate counts.
        let mut runs: Vec<Figures> = (0..3).map(|_| run(n, format)).collect();
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let f = Figures {
            insert: median(&mut runs.iter().map(|f| f.insert).collect()),
            get: median(&mut runs.iter().map(|f| f.get).collect()),
            ram: runs.iter().map(|f| f.ram).max().unwrap_or(0),
            height: runs.pop().map(|f| f.height).unwrap_or(0),
        };
        println!("storage.btree.{tag}{n}.insert: {:.0} ops/s", f.insert);
        println!("storage.btree.{tag}{n}.get: {:.0} ops/s", f.get);
        println!("storage.btree.{tag}{n}.ram_bytes: {} bytes", f.ram);
        println!("storage.btree.{tag}{n}.height: {} levels", f.height);
        all.push((n, f));
    }
    if let (Some((_, a)), Some((1_000_000, b))) = (all.first(), all.last()) {
        println!(
            "storage.btree.{tag}ratio.insert_1m_vs_10k: {:.2} x",
            b.insert / a.insert
        );
        println!(
            "storage.btree.{tag}ratio.get_1m_vs_10k: {:.2} x",
            b.get / a.get
        );
        let ok = b.insert >= 0.5 * a.insert && b.get >= 0.5 * a.get;
        println!(
            "storage.btree.{tag}targets_met: {}",
            if ok { "yes" } else { "no" }
        );
    }
}
