//! Engine v2: index pages read from the medium, through both read paths — block-aligned pages
//! straight into the page cache (`page_read.rs`) and pages smaller than a block through the
//! general record reader — give exactly the written data after a remount with an empty cache,
//! and a page altered on its way from the device is an integrity error, never wrong data.

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use storage_backend::block::{BlockDevice, DeviceError, Geometry, RamDevice};
use storage_backend::store::v2::{V2Options, V2Region};
use storage_backend::{Db, StoreError};

/// A RAM device that records read sizes and, once armed through the shared `flip`, flips one
/// byte (`flip = (len, at)`) of every read of `len` bytes.
struct Probe {
    inner: RamDevice,
    read_sizes: Vec<usize>,
    flip: Rc<Cell<Option<(usize, usize)>>>,
}

impl BlockDevice for Probe {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.read_sizes.push(buf.len());
        self.inner.read(block, buf)?;
        if let Some((len, at)) = self.flip.get()
            && buf.len() == len
        {
            buf[at] ^= 0x40;
        }
        Ok(())
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
        seg_units: 8,
        ..V2Options::default()
    }
}

const N: usize = 3000;

fn key(i: usize) -> Vec<u8> {
    format!("k/{:05}", i * 7919 % 100_000).into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    vec![(i % 251) as u8; 8 + i % 40]
}

/// Formats a region on a device of `block`-byte blocks (4-KiB erase units), writes `N` objects,
/// syncs and remounts it (the page cache starts empty).
fn written(block: u32) -> V2Region<Probe, storage_backend::SoftwareEngine> {
    let dev = Probe {
        inner: RamDevice::new(block, 4096 / block, 1024),
        read_sizes: Vec::new(),
        flip: Rc::default(),
    };
    let (e, k) = common::engine();
    let mut r = V2Region::format(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
    for chunk in (0..N).collect::<Vec<_>>().chunks(4) {
        r.begin().unwrap();
        for &i in chunk {
            r.put(&key(i), &value(i)).unwrap();
        }
        r.commit().unwrap();
    }
    r.sync().unwrap();
    let (mut dev, _) = r.into_parts();
    dev.read_sizes.clear();
    let (e, k) = common::engine();
    V2Region::mount(dev, e, k.kernel, Db::Kernel, opts()).unwrap()
}

fn reads_all_back(r: &mut V2Region<Probe, storage_backend::SoftwareEngine>) {
    let model: BTreeMap<Vec<u8>, Vec<u8>> = (0..N).map(|i| (key(i), value(i))).collect();
    for (k, v) in &model {
        assert_eq!(r.get(k).unwrap().as_ref(), Some(v));
    }
    assert_eq!(r.get(b"k/absent").unwrap(), None);
    let keys = r.scan_keys(b"k/", None, usize::MAX).unwrap();
    assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>());
}

#[test]
fn aligned_pages_are_read_whole_into_the_cache() {
    // 1-KiB sealed pages on 512-byte blocks: the direct path, one device read per page.
    let mut r = written(512);
    let before = r.medium_stats().page_reads;
    reads_all_back(&mut r);
    let pages = r.medium_stats().page_reads - before;
    assert!(pages > 10, "{pages} page reads");
    let (dev, _) = r.into_parts();
    let whole = dev.read_sizes.iter().filter(|&&n| n == 1024).count() as u64;
    assert!(whole >= pages, "{whole} 1-KiB reads for {pages} pages");
}

#[test]
fn pages_smaller_than_a_block_are_read_through_the_record_reader() {
    // 1-KiB sealed pages on 2-KiB blocks: no page is a whole number of blocks.
    let mut r = written(2048);
    let before = r.medium_stats().page_reads;
    reads_all_back(&mut r);
    assert!(r.medium_stats().page_reads - before > 10);
    let (dev, _) = r.into_parts();
    assert!(dev.read_sizes.iter().all(|&n| n % 2048 == 0));
}

#[test]
fn a_page_altered_on_its_way_is_an_integrity_error() {
    for at in [0usize, 2, 5, 20, 500, 1023] {
        let mut r = written(512);
        let flip = {
            let (dev, _) = r.into_parts();
            let flip = dev.flip.clone();
            let (e, k) = common::engine();
            r = V2Region::mount(dev, e, k.kernel, Db::Kernel, opts()).unwrap();
            flip
        };
        // From now on every 1-KiB read (an index page: values are shorter) is altered.
        flip.set(Some((1024, at)));
        let mut errors = 0;
        for i in (0..N).step_by(37) {
            match r.get(&key(i)) {
                Ok(v) => assert_eq!(v, Some(value(i)), "wrong data, flip at {at}"),
                Err(StoreError::Integrity { .. }) => errors += 1,
                Err(e) => panic!("flip at {at}: {e:?}"),
            }
        }
        assert!(errors > 0, "flip at {at} never detected");
    }
}
