//! The block-device contract the store is written against.
//!
//! A device is an array of blocks grouped in erase units. The store writes a block at most once
//! between two erases of its unit, so one store runs on a disk (erase is a no-op or a discard) and
//! on NOR flash (erase is a sector erase). Erased bytes read as [`ERASED`].

mod emulator;
#[cfg(feature = "std")]
mod file;
mod nor;
mod ram;

pub use emulator::{CutMode, EMU_ERASE_SIZE, EMU_WRITE_SIZE, EmulatorStats, NorEmulator, TraceOp};
#[cfg(feature = "std")]
pub use file::FileDevice;
pub use nor::NorFlashDevice;
pub use ram::RamDevice;

/// The value every byte has after an erase.
pub const ERASED: u8 = 0xFF;

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

impl Geometry {
    /// Bytes per erase unit.
    pub fn erase_unit_bytes(&self) -> u64 {
        u64::from(self.block_size) * u64::from(self.blocks_per_erase_unit)
    }

    /// Number of erase units.
    pub fn erase_units(&self) -> u64 {
        if self.blocks_per_erase_unit == 0 {
            return 0;
        }
        self.block_count / u64::from(self.blocks_per_erase_unit)
    }

    /// Total device size in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.block_count * u64::from(self.block_size)
    }

    /// Checks that `buf_len` bytes starting at `block` are whole blocks inside the device.
    pub fn check_blocks(&self, block: u64, buf_len: usize) -> Result<(), DeviceError> {
        let bs = u64::from(self.block_size);
        let len = buf_len as u64;
        if bs == 0 || !len.is_multiple_of(bs) {
            return Err(DeviceError::OutOfRange);
        }
        let end = block.checked_add(len / bs).ok_or(DeviceError::OutOfRange)?;
        if end > self.block_count {
            return Err(DeviceError::OutOfRange);
        }
        Ok(())
    }

    /// Checks that `count` erase units starting at `unit` are inside the device.
    pub fn check_units(&self, unit: u64, count: u64) -> Result<(), DeviceError> {
        let end = unit.checked_add(count).ok_or(DeviceError::OutOfRange)?;
        if end > self.erase_units() {
            return Err(DeviceError::OutOfRange);
        }
        Ok(())
    }
}

/// Why a device operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The address or length is outside the device or not aligned to its geometry.
    OutOfRange,
    /// The device reported an I/O failure.
    Io,
    /// A program would have to set a bit that is clear: the block was not erased since its last
    /// write. This is a contract violation by the caller (NOR flash and its emulator detect it).
    NotErased,
    /// The power-loss emulator cut the power; every later operation fails with this.
    PowerLoss,
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
    /// Erases `count` erase units starting at erase unit `unit`; erased bytes read as [`ERASED`].
    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        (**self).read(block, buf)
    }
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        (**self).write(block, buf)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        (**self).flush()
    }
    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        (**self).erase(unit, count)
    }
}

/// Counters every device in this crate keeps, for benchmarks (bytes read, programmed, erased).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes programmed.
    pub bytes_written: u64,
    /// Erase units erased.
    pub erases: u64,
    /// Flush calls.
    pub flushes: u64,
}
