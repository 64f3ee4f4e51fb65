//! Engine v2: mount reads the superblock, the anchor ring, the checkpoint record, the pages it
//! needs and the log tail — nothing that grows with the number of objects. Counted with a
//! device wrapper at 100 and 10,000 objects (100×), after a sync and after a crash with a tail.

mod common;

use std::collections::BTreeSet;

use storage_backend::Db;
use storage_backend::block::{BlockDevice, DeviceError, Geometry, RamDevice};
use storage_backend::store::v2::{V2Options, V2Region};

/// A RAM device that records every read.
struct Counting {
    inner: RamDevice,
    reads: Vec<(u64, usize)>,
}

impl BlockDevice for Counting {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.reads.push((block, buf.len()));
        self.inner.read(block, buf)
    }
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        self.inner.write(block, buf)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.inner.flush()
    }
    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        self.inner.erase(unit, count)
    }
}

fn opts() -> V2Options {
    V2Options {
        seg_units: 16,
        ..V2Options::default()
    }
}

/// Blocks of the superblock and ring, and blocks per segment, of this geometry.
const PREFIX_BLOCKS: u64 = (1 + 2) * 8;
const SEG_BLOCKS: u64 = 16 * 8;

struct Measured {
    bytes: u64,
    written: u64,
    segments: usize,
    tail: u64,
}

fn measure(dev: Counting) -> (Measured, Counting) {
    let (e, k) = common::engine();
    let mut dev = dev;
    dev.reads.clear();
    let r = V2Region::mount(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
    let tail = r.mount_info().tail_bytes;
    let (dev, _) = r.into_parts();
    let bytes = dev.reads.iter().map(|r| r.1 as u64).sum();
    let segments: BTreeSet<u64> = dev
        .reads
        .iter()
        .filter(|r| r.0 >= PREFIX_BLOCKS)
        .map(|r| (r.0 - PREFIX_BLOCKS) / SEG_BLOCKS)
        .collect();
    let written = dev.inner.counters().bytes_written;
    (
        Measured {
            bytes,
            written,
            segments: segments.len(),
            tail,
        },
        dev,
    )
}

fn run(n: u32) -> (Measured, Measured) {
    let (e, k) = common::engine();
    let dev = Counting {
        inner: RamDevice::new(512, 8, 4096),
        reads: Vec::new(),
    };
    let mut r = V2Region::format(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
    let mut i = 0;
    while i < n {
        r.begin().unwrap();
        for _ in 0..4.min(n - i) {
            r.put(format!("obj{i:07}").as_bytes(), &[i as u8; 20])
                .unwrap();
            i += 1;
        }
        r.commit().unwrap();
    }
    r.sync().unwrap();
    assert_eq!(r.objects(), u64::from(n));
    assert_eq!(r.check().unwrap().objects, u64::from(n));
    let (dev, _) = r.into_parts();
    let (clean, dev) = measure(dev);
    // A tail: 40 more commits, then a "crash" (the region is dropped without a sync).
    let (e, k) = common::engine();
    let mut r = V2Region::mount(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
    for j in 0..40u32 {
        r.begin().unwrap();
        r.put(format!("obj{:07}", j * 7 % n).as_bytes(), &[j as u8; 300])
            .unwrap();
        r.commit().unwrap();
    }
    let (dev, _) = r.into_parts();
    let (cut, _) = measure(dev);
    (clean, cut)
}

#[test]
fn v2_mount_reads_do_not_grow_with_objects() {
    let (small_clean, small_cut) = run(100);
    let (large_clean, large_cut) = run(10_000);
    eprintln!(
        "clean: {} B / {} segs at 100, {} B / {} segs at 10,000; after a cut: {} B / {} segs (tail {}) and {} B / {} segs (tail {})",
        small_clean.bytes,
        small_clean.segments,
        large_clean.bytes,
        large_clean.segments,
        small_cut.bytes,
        small_cut.segments,
        small_cut.tail,
        large_cut.bytes,
        large_cut.segments,
        large_cut.tail
    );
    // Superblock and ring slots (a few KiB), the CKPT window (8.7 KiB), the pages replay
    // touches, the tail (at most `T` plus one transaction, here 41 KiB) and the check that
    // nothing authentic follows the end of the log, up to the end of that one segment (64 KiB).
    for m in [&small_clean, &large_clean, &small_cut, &large_cut] {
        let bound = m.tail + 64 * 1024 + 48 * 1024;
        assert!(
            m.bytes <= bound,
            "mount read {} bytes (bound {bound})",
            m.bytes
        );
        assert!(m.segments <= 6, "mount touched {} segments", m.segments);
    }
    // 100× the objects: the same bound, the same segments (the log of 10,000 objects spans
    // far more than the 6 segments mount may touch).
    assert!(large_clean.segments <= small_clean.segments + 1);
    assert!(large_cut.segments <= small_cut.segments + 2);
    assert!(
        large_clean.written > 16 * large_clean.bytes,
        "the log is not larger than what mount reads"
    );
}
