//! `cargo xtask fuzz mount [iterations] [seed]`: mounts mutated images and exercises every read
//! and write path. Any panic (including arithmetic overflow: run in the dev profile, where
//! overflow checks are on) or hang is a bug; a failing case prints the arguments that replay it
//! (`fuzz_mount <iterations> <seed>` stops at the failing iteration).
//!
//! Mutations of a valid, synced image: single bit flips, byte runs of garbage, whole blocks
//! erased, copied from elsewhere or zeroed, and headers replaced with random bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The iteration being run, for the panic message (release builds abort on panic).
static CURRENT: AtomicU64 = AtomicU64::new(0);

use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};

const BLOCK: usize = 512;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[0x11; 32]).expect("key");
    let userspace = e.import_key(&[0x22; 32]).expect("key");
    (e, DbKeys { kernel, userspace })
}

fn base_image() -> Vec<u8> {
    let (e, k) = engine();
    let opts = FormatOptions {
        kernel_units: Some(20),
        segment_bytes: 12 * 1024,
        ..FormatOptions::default()
    };
    let mut s = Store::format(RamDevice::new(BLOCK as u32, 8, 48), e, k, &opts).expect("format");
    for round in 0..60u32 {
        let db = if round % 4 == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        let mut t = s.begin(db).expect("begin");
        for j in 0..3u32 {
            let key = format!("f/{}", (round * 5 + j) % 17);
            if (round + j) % 6 == 0 {
                t.delete(key.as_bytes()).expect("delete");
            } else {
                let len = ((round * 97 + j * 31) % 1500) as usize;
                t.put(key.as_bytes(), &vec![round as u8; len]).expect("put");
            }
        }
        t.commit().expect("commit");
        if round % 10 == 9 {
            s.sync().expect("sync");
        }
    }
    s.sync().expect("sync");
    let (dev, _) = s.into_parts();
    dev.image().to_vec()
}

fn mutate(img: &mut [u8], rng: &mut Rng) {
    for _ in 0..1 + rng.below(4) {
        let len = img.len();
        match rng.below(6) {
            0 => {
                let i = rng.below(len);
                img[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                for b in img.iter_mut().skip(i).take(1 + rng.below(64)) {
                    *b = rng.next() as u8;
                }
            }
            2 => {
                let b = rng.below(len / BLOCK) * BLOCK;
                img[b..b + BLOCK].fill(0xFF);
            }
            3 => {
                let from = rng.below(len / BLOCK) * BLOCK;
                let to = rng.below(len / BLOCK) * BLOCK;
                let block = img[from..from + BLOCK].to_vec();
                img[to..to + BLOCK].copy_from_slice(&block);
            }
            4 => {
                let b = rng.below(len / BLOCK) * BLOCK;
                img[b..b + BLOCK].fill(0);
            }
            _ => {
                // A header area: the start of an erase unit.
                let u = rng.below(len / 4096) * 4096;
                for b in img.iter_mut().skip(u).take(1 + rng.below(256)) {
                    *b = rng.next() as u8;
                }
            }
        }
    }
}

fn exercise(img: Vec<u8>) {
    let (e, k) = engine();
    let Ok(mut s) = Store::mount(RamDevice::from_image(BLOCK as u32, 8, img), e, k) else {
        return;
    };
    for db in Db::ALL {
        let Ok(keys) = s.scan_keys(db, b"", None, usize::MAX) else {
            continue;
        };
        for key in keys {
            let _ = s.get(db, &key);
        }
        let _ = s.check(db);
        // Writing after mounting a damaged image must fail cleanly or work.
        if let Ok(mut t) = s.begin(db) {
            let _ = t.put(b"fuzz", b"x").and_then(|_| t.commit());
        }
        let _ = s.sync();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x00F0_2210);
    let base = base_image();
    let start = Instant::now();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let i = CURRENT.load(Ordering::Relaxed);
        eprintln!(
            "fuzz mount: panic at iteration {i} (replay: fuzz_mount {} {seed})",
            i + 1
        );
        default_hook(info);
    }));
    for i in 0..iterations {
        CURRENT.store(i, Ordering::Relaxed);
        let mut rng = Rng(seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut img = base.clone();
        mutate(&mut img, &mut rng);
        if std::panic::catch_unwind(|| exercise(img)).is_err() {
            std::process::exit(1);
        }
    }
    println!(
        "fuzz mount: {iterations} mutated images, no panic ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
}
