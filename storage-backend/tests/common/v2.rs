//! Helpers of the engine-v2 tests: a NOR-backed v2 region and reading it whole.

use std::collections::BTreeMap;

use storage_backend::block::{NorEmulator, NorFlashDevice};
use storage_backend::store::v2::{V2Options, V2Region};
use storage_backend::{Db, SoftwareEngine, StoreError};

/// The device of the NOR tests.
pub type NorDev = NorFlashDevice<NorEmulator>;
/// A v2 region on it.
pub type NorRegion = V2Region<NorDev, SoftwareEngine>;
/// Committed contents.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Small geometry: 12-KiB segments, 1-KiB pages, `D` = 40, a checkpoint every 6 KiB of journal.
pub fn nor_opts() -> V2Options {
    V2Options {
        seg_units: 3,
        ring_units: 2,
        max_dirty: 40,
        ram_budget: 128 * 1024,
        ckpt_bytes: 6 * 1024,
        max_deltas: 16,
        ..V2Options::default()
    }
}

/// A formatted region on a fresh NOR emulator of `sectors` 4-KiB sectors.
pub fn nor_region(sectors: usize, opts: V2Options) -> NorRegion {
    let (e, k) = super::engine();
    let dev = NorFlashDevice::new(NorEmulator::new(sectors), super::NOR_BLOCK).unwrap();
    V2Region::format(dev, e, k.kernel, Db::Kernel, opts).unwrap()
}

/// Mounts the region in a NOR image.
pub fn mount_image(img: Vec<u8>, opts: V2Options) -> Result<NorRegion, StoreError> {
    let dev = NorFlashDevice::new(NorEmulator::from_image(img), super::NOR_BLOCK).unwrap();
    mount_dev(dev, opts)
}

/// Mounts the region on `dev`.
pub fn mount_dev(dev: NorDev, opts: V2Options) -> Result<NorRegion, StoreError> {
    let (e, k) = super::engine();
    V2Region::mount(dev, e, k.kernel, Db::Kernel, opts)
}

/// Every committed key and value, read through a full scan and then key by key.
pub fn read_all<D: storage_backend::BlockDevice>(
    r: &mut V2Region<D, SoftwareEngine>,
) -> Result<Model, StoreError> {
    let all = r.scan(b"", None, usize::MAX)?;
    let mut m = Model::new();
    for (k, v) in all {
        if r.get(&k)?.as_ref() != Some(&v) {
            return Err(StoreError::InvalidArgument);
        }
        m.insert(k, v);
    }
    if r.objects() != m.len() as u64 {
        return Err(StoreError::InvalidArgument);
    }
    Ok(m)
}
