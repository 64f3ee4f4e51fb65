//! virtio-blk (the `virtio-drivers` driver) behind the store's block-device contract.
//!
//! [`BlockDevice`], [`Geometry`] and [`DeviceError`] mirror `storage-backend::block` (same
//! names, same methods, same meaning) so that the integrator can replace them with a re-export
//! once `storage-backend` is a dependency; nothing here depends on anything the mirror adds.
//!
//! The disk has no erase: [`EraseMode`] chooses between writing the erased value (the contract:
//! erased bytes read as [`ERASED`]) and doing nothing (for stores that never read an erased
//! block before writing it, which saves one write per erase).

use alloc::vec;
use virtio_drivers::Hal;
use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::Transport;

/// The value every byte has after an erase.
pub const ERASED: u8 = 0xFF;

/// The shape of a device (mirror of `storage-backend::block::Geometry`).
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

/// Why a device operation failed (mirror of `storage-backend::block::DeviceError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The address or length is outside the device or not aligned to its geometry.
    OutOfRange,
    /// The device reported an I/O failure.
    Io,
    /// A program would have to set a bit that is clear (not produced by a disk).
    NotErased,
    /// The power-loss emulator cut the power (not produced by a disk).
    PowerLoss,
}

/// A block device (mirror of `storage-backend::block::BlockDevice`).
pub trait BlockDevice {
    /// The device's geometry.
    fn geometry(&self) -> Geometry;
    /// Reads whole blocks starting at `block` into `buf` (a multiple of the block size).
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    /// Writes whole blocks starting at `block`.
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError>;
    /// Durability barrier: returns once every earlier write is on stable storage.
    fn flush(&mut self) -> Result<(), DeviceError>;
    /// Erases `count` erase units starting at erase unit `unit`.
    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError>;
}

/// What [`VirtioBlockDevice::erase`] does on a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EraseMode {
    /// Write [`ERASED`] over the units: the full contract.
    Fill,
    /// Nothing: for a store that never reads a block it has not written since the erase.
    NoOp,
}

/// Why the adapter could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The virtio-blk driver failed to initialise the device.
    Driver(virtio_drivers::Error),
    /// The block size is not a non-zero multiple of 512, or an erase unit is empty.
    BadGeometry,
    /// The device is read-only.
    ReadOnly,
}

/// A virtio-blk disk as a [`BlockDevice`] of `block_size`-byte blocks (a multiple of the
/// 512-byte virtio sector), grouped `blocks_per_erase_unit` to an erase unit.
pub struct VirtioBlockDevice<H: Hal, T: Transport> {
    blk: VirtIOBlk<H, T>,
    geometry: Geometry,
    sectors_per_block: u64,
    erase_mode: EraseMode,
}

impl<H: Hal, T: Transport> VirtioBlockDevice<H, T> {
    /// Initialises the disk behind `transport`. The last partial block (if the capacity is not
    /// a whole number of blocks) is not used.
    pub fn new(
        transport: T,
        block_size: u32,
        blocks_per_erase_unit: u32,
        erase_mode: EraseMode,
    ) -> Result<Self, OpenError> {
        if block_size == 0
            || !(block_size as usize).is_multiple_of(SECTOR_SIZE)
            || blocks_per_erase_unit == 0
        {
            return Err(OpenError::BadGeometry);
        }
        let blk = VirtIOBlk::<H, T>::new(transport).map_err(OpenError::Driver)?;
        if blk.readonly() {
            return Err(OpenError::ReadOnly);
        }
        let sectors_per_block = u64::from(block_size) / SECTOR_SIZE as u64;
        let geometry = Geometry {
            block_size,
            blocks_per_erase_unit,
            block_count: blk.capacity() / sectors_per_block,
        };
        Ok(Self {
            blk,
            geometry,
            sectors_per_block,
            erase_mode,
        })
    }

    fn sector(&self, block: u64) -> Result<usize, DeviceError> {
        block
            .checked_mul(self.sectors_per_block)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or(DeviceError::OutOfRange)
    }
}

impl<H: Hal, T: Transport> BlockDevice for VirtioBlockDevice<H, T> {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.geometry.check_blocks(block, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let sector = self.sector(block)?;
        self.blk
            .read_blocks(sector, buf)
            .map_err(|_| DeviceError::Io)
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        self.geometry.check_blocks(block, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let sector = self.sector(block)?;
        self.blk
            .write_blocks(sector, buf)
            .map_err(|_| DeviceError::Io)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.blk.flush().map_err(|_| DeviceError::Io)
    }

    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        self.geometry.check_units(unit, count)?;
        if self.erase_mode == EraseMode::NoOp || count == 0 {
            return Ok(());
        }
        let unit_bytes = usize::try_from(self.geometry.erase_unit_bytes())
            .map_err(|_| DeviceError::OutOfRange)?;
        let pad = vec![ERASED; unit_bytes];
        let per_unit = u64::from(self.geometry.blocks_per_erase_unit);
        for u in unit..unit + count {
            self.write(u * per_unit, &pad)?;
        }
        Ok(())
    }
}
