//! The figures of the storage-engine issue: how insert, get, mount (after a clean shutdown and
//! after a cut) and RAM grow with the number of objects; the cost of the crypto alone over the
//! bytes of a sequential write; write amplification of a churn at 90 % full.
//!
//! Every figure is measured in this run; the targets are checked here and reported with the
//! figures (`storage.scale.targets_met`), so a figure in the results file is never typed by hand.

use std::time::Instant;

use storage_backend::block::RamDevice;
use storage_backend::crypto::Sha256Hasher;
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store, StoreError};

use crate::{PEAK, reset_peak};

/// The RAM budget of the large profile the design gives the store (4 MiB).
pub const LARGE_BUDGET: usize = 4 << 20;

/// Objects per transaction while inserting (as the issue measured).
const TXN: usize = 100;
/// Value size of the scale objects.
const VALUE: usize = 64;

/// How the figures at one object count came out.
pub struct Scale {
    pub n: usize,
    /// Inserts per second over the last tenth of the objects (the marginal cost at this size).
    pub insert_ops: f64,
    /// Random point reads per second of existing keys.
    pub get_ops: f64,
    /// Mount after a clean shutdown (`sync`).
    pub mount_ms: f64,
    /// Mount after the power was cut right after 1,000 more inserts (no footer; replay).
    pub mount_after_cut_ms: f64,
    /// Peak heap of the store while inserting and reading (the RAM device excluded).
    pub ram_bytes: usize,
}

fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[1; 32]).expect("key");
    let userspace = e.import_key(&[2; 32]).expect("key");
    (e, DbKeys { kernel, userspace })
}

/// A key shaped like a file piece: content id and piece number.
fn key(i: usize) -> Vec<u8> {
    format!("p/{:08x}/{:06x}", i / 64, i % 64).into_bytes()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn insert_range(s: &mut Store<RamDevice, SoftwareEngine>, from: usize, to: usize) {
    let value = [0x5Au8; VALUE];
    let mut i = from;
    while i < to {
        let mut t = s.begin(Db::Userspace).expect("begin");
        for j in i..(i + TXN).min(to) {
            t.put(&key(j), &value).expect("put");
        }
        t.commit().expect("commit");
        i += TXN;
    }
}

/// Inserts `n` objects into a store on a 2 GiB RAM device and measures.
pub fn scale(n: usize) -> Scale {
    // 2 GiB: 524,288 erase units of 4 KiB, 512-byte blocks.
    let dev = RamDevice::new(512, 8, 524_288);
    let base = reset_peak();
    let (e, k) = engine();
    let opts = FormatOptions {
        kernel_units: Some(256),
        ..FormatOptions::default()
    };
    let mut s = Store::format(dev, e, k, &opts).expect("format");
    let tail = (n / 10).max(1000).min(n);
    insert_range(&mut s, 0, n - tail);
    let t = Instant::now();
    insert_range(&mut s, n - tail, n);
    let insert_ops = tail as f64 / t.elapsed().as_secs_f64();
    let gets = n.min(100_000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let t = Instant::now();
    for _ in 0..gets {
        let i = (rng.next() % n as u64) as usize;
        let v = s
            .get(Db::Userspace, &key(i))
            .expect("get")
            .expect("present");
        assert_eq!(v.len(), VALUE);
    }
    let get_ops = gets as f64 / t.elapsed().as_secs_f64();
    let ram_bytes = PEAK.load(std::sync::atomic::Ordering::Relaxed) - base;
    s.sync().expect("sync");
    let (dev, _) = s.into_parts();
    let (e, k) = engine();
    let t = Instant::now();
    let mut s = Store::mount(dev, e, k).expect("mount");
    let mount_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(s.usage(Db::Userspace).expect("usage").objects, n as u64);
    // A cut: 1,000 more objects committed, then the power goes (no footer, no clean end).
    insert_range(&mut s, n, n + 1000);
    let (dev, _) = s.into_parts();
    let (e, k) = engine();
    let t = Instant::now();
    let s = Store::mount(dev, e, k).expect("mount after a cut");
    let mount_after_cut_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(
        s.usage(Db::Userspace).expect("usage").objects,
        n as u64 + 1000
    );
    Scale {
        n,
        insert_ops,
        get_ops,
        mount_ms,
        mount_after_cut_ms,
        ram_bytes,
    }
}

/// AES-256-GCM sealing plus SHA-256 over 16 MiB in 4 KiB pieces with the software engine and
/// nothing else: the floor a sequential write through the store is measured against.
pub fn raw_aes_gcm_sha256_mib() -> f64 {
    let mut e = SoftwareEngine::new();
    let k = e.import_key(&[3; 32]).expect("key");
    let mut buf = vec![0xA5u8; 4096];
    let mut hasher = e.hasher();
    let t = Instant::now();
    for i in 0..4096u32 {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&i.to_le_bytes());
        let tag = e.seal(k, &nonce, &[], &mut buf).expect("seal");
        hasher.update(&buf);
        hasher.update(&tag);
    }
    let _ = hasher.finalize();
    16.0 / t.elapsed().as_secs_f64()
}

/// Write amplification of a churn at 90 % full: a 64 MiB store filled with values of 64 B to
/// 8 KiB until its live bytes reach 90 % of the capacity it reports when empty (its free
/// bytes), then random overwrites of twice that capacity; device bytes programmed during the
/// churn per user byte written. Also the share of overwrites refused with `NoSpace`.
pub fn churn90() -> Churn {
    let units = 16_384u64;
    let dev = RamDevice::new(512, 8, units);
    let (e, k) = engine();
    let opts = FormatOptions {
        kernel_units: Some(256),
        ..FormatOptions::default()
    };
    let mut s = Store::format(dev, e, k, &opts).expect("format");
    let db = Db::Userspace;
    // Capacity as the store reports it when empty: what its free segments hold.
    let total = s.usage(db).expect("usage").device_bytes_free;
    let mut rng = Rng(0xC2B2_AE3D_27D4_EB4F);
    let size = |rng: &mut Rng| 64 + (rng.next() % (8192 - 64)) as usize;
    let mut keys = Vec::new();
    loop {
        let live = s.usage(db).expect("usage").device_bytes_live;
        if live * 10 >= total * 9 {
            break;
        }
        let k = format!("f/{:06}", keys.len()).into_bytes();
        let v = vec![keys.len() as u8; size(&mut rng)];
        let mut t = s.begin(db).expect("begin");
        match t.put(&k, &v).and_then(|()| t.commit()) {
            Ok(()) => keys.push(k),
            Err(StoreError::NoSpace) => break,
            Err(e) => panic!("fill: {e:?}"),
        }
    }
    let filled = s.usage(db).expect("usage").device_bytes_live as f64 / total as f64;
    let w0 = s.device().counters().bytes_written;
    let mut user = 0u64;
    let (mut tries, mut refused, mut refused_in_a_row) = (0u64, 0u64, 0u32);
    // A store that refuses a thousand overwrites in a row, or is still churning after two
    // minutes (near full, each refusal may clean for long), has locked up: stop measuring.
    let started = Instant::now();
    while user < 2 * total
        && refused_in_a_row < 1000
        && started.elapsed() < std::time::Duration::from_secs(120)
    {
        let k = &keys[(rng.next() % keys.len() as u64) as usize];
        let v = vec![rng.next() as u8; size(&mut rng)];
        tries += 1;
        let mut t = s.begin(db).expect("begin");
        let r = t.put(k, &v).and_then(|()| t.commit());
        match r {
            Ok(()) => {
                user += (k.len() + v.len()) as u64;
                refused_in_a_row = 0;
            }
            Err(StoreError::NoSpace) => {
                refused += 1;
                refused_in_a_row += 1;
            }
            Err(e) => panic!("churn: {e:?}"),
        }
    }
    let device = s.device().counters().bytes_written - w0;
    let wa = if user > 0 {
        device as f64 / user as f64
    } else {
        f64::INFINITY
    };
    Churn {
        filled,
        write_amplification: wa,
        refused: refused as f64 / tries.max(1) as f64,
    }
}

/// What the churn at 90 % gave.
pub struct Churn {
    /// Live bytes over capacity when the fill stopped (at 90 %, or earlier at `NoSpace`).
    pub filled: f64,
    /// Device bytes programmed per user byte during the churn (infinite if nothing got in).
    pub write_amplification: f64,
    /// Share of overwrites refused with `NoSpace`.
    pub refused: f64,
}

/// Runs the scale series and the throughput and churn figures; prints them and returns whether
/// the targets are met.
pub fn run(seq_write_mib: f64, seq_read_mib: f64, raw: f64, write_amp_4k: f64) -> bool {
    let sizes: Vec<usize> = match std::env::var("ZOS_BENCH_SCALE_MAX") {
        Ok(v) => {
            let max: usize = v.parse().unwrap_or(1_000_000);
            [10_000, 100_000, 1_000_000]
                .into_iter()
                .filter(|&n| n <= max)
                .collect()
        }
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    let mut all = Vec::new();
    for &n in &sizes {
        eprintln!("storage-bench: scale {n} objects");
        let f = scale(n);
        println!("storage.scale.{n}.insert: {:.0} ops/s", f.insert_ops);
        println!("storage.scale.{n}.get: {:.0} ops/s", f.get_ops);
        println!("storage.scale.{n}.mount_ms: {:.1} ms", f.mount_ms);
        println!(
            "storage.scale.{n}.mount_after_cut_ms: {:.1} ms",
            f.mount_after_cut_ms
        );
        println!("storage.scale.{n}.ram_bytes: {} bytes", f.ram_bytes);
        all.push(f);
    }
    println!("storage.raw_aes_gcm_sha256: {raw:.1} MiB/s");
    // Engine v2 next to v1 (its own targets line; v1's lines and verdict are unchanged).
    crate::scale_v2::run(&sizes);

    eprintln!("storage-bench: churn at 90 %");
    let churn = churn90();
    let wa = churn.write_amplification;
    println!("storage.churn90.filled: {:.1} %", churn.filled * 100.0);
    println!("storage.churn90.write_amplification: {wa:.2} x");
    println!("storage.churn90.refused: {:.1} %", churn.refused * 100.0);
    let first = all.first();
    let last = all.last();
    let scale_ok = match (first, last) {
        (Some(a), Some(b)) if b.n >= 1_000_000 => {
            b.insert_ops >= 0.5 * a.insert_ops
                && b.get_ops >= 0.5 * a.get_ops
                && b.mount_ms <= 50.0
                && b.mount_after_cut_ms <= 50.0
                && all.iter().all(|f| f.ram_bytes <= LARGE_BUDGET)
        }
        _ => false,
    };
    let seq_ok = seq_write_mib >= 0.5 * raw && seq_read_mib >= 0.5 * raw;
    let wa_ok = churn.filled >= 0.9 && wa <= 2.0 && churn.refused < 0.01 && write_amp_4k <= 1.3;
    println!(
        "storage.scale.targets_met: {}",
        if scale_ok { "yes" } else { "no" }
    );
    println!(
        "storage.seq.targets_met: {}",
        if seq_ok { "yes" } else { "no" }
    );
    println!(
        "storage.write_amplification.targets_met: {}",
        if wa_ok { "yes" } else { "no" }
    );
    scale_ok && seq_ok && wa_ok
}
