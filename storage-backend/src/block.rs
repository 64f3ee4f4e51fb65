//! The block-device contract the store is written against.
//!
//! A device is an array of blocks grouped in erase units. The store writes a block at most once
//! between two erases of its unit, so one store runs on a disk (erase is a no-op or a discard) and
//! on NOR flash (erase is a sector erase).

/// The shape of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per block: the unit of read and program.
    pub block_size: u32,
    /// Blocks per erase unit.
    pub blocks_per_erase_unit: u32,
    /// Total number of blocks.
    pub block_count: u64,
}

/// Why a device operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The address or length is outside the device or not aligned to its geometry.
    OutOfRange,
    /// The device reported an I/O failure.
    Io,
}

/// A block device.
pub trait BlockDevice {
    /// The device's geometry.
    fn geometry(&self) -> Geometry;
    /// Reads whole blocks starting at `block` into `buf` (a multiple of the block size).
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    /// Writes whole blocks starting at `block`; each block must be erased since its last write.
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError>;
    /// Durability barrier: returns once every earlier write is on stable storage.
    fn flush(&mut self) -> Result<(), DeviceError>;
    /// Erases `count` erase units starting at erase unit `unit`.
    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError>;
}
