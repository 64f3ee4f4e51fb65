//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod v2;

use storage_backend::block::{NorEmulator, NorFlashDevice, RamDevice};
use storage_backend::{CryptoEngine, DbKeys, FormatOptions, SoftwareEngine, Store};

/// An engine with the two test keys imported.
pub fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[0x11; 32]).unwrap();
    let userspace = e.import_key(&[0x22; 32]).unwrap();
    (e, DbKeys { kernel, userspace })
}

/// A formatted store on a RAM device of `units` erase units of 4 KiB (512-byte blocks).
pub fn ram_store(units: u64) -> Store<RamDevice, SoftwareEngine> {
    let (e, k) = engine();
    Store::format(
        RamDevice::new(512, 8, units),
        e,
        k,
        &FormatOptions::default(),
    )
    .unwrap()
}

/// Remounts a RAM store from its image.
pub fn remount_ram(s: Store<RamDevice, SoftwareEngine>) -> Store<RamDevice, SoftwareEngine> {
    let (dev, _) = s.into_parts();
    let (e, k) = engine();
    Store::mount(dev, e, k).unwrap()
}

/// NOR block size used by the tests.
pub const NOR_BLOCK: u32 = 256;

/// A NOR-backed store of `sectors` 4 KiB sectors.
pub fn nor_store(
    sectors: usize,
    opts: &FormatOptions,
) -> Store<NorFlashDevice<NorEmulator>, SoftwareEngine> {
    let (e, k) = engine();
    let dev = NorFlashDevice::new(NorEmulator::new(sectors), NOR_BLOCK).unwrap();
    Store::format(dev, e, k, opts).unwrap()
}

/// A small deterministic generator (xorshift64) for reproducible workloads; seed it non-zero.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (which must not be 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
