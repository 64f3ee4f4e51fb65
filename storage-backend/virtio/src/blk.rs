//! virtio-blk (the `virtio-drivers` driver) behind `storage-backend`'s [`BlockDevice`].
//!
//! The disk has no erase: [`EraseMode`] chooses between writing the erased value (the contract:
//! erased bytes read as [`ERASED`]) and doing nothing (for stores that never read an erased
//! block before writing it, which saves one write per erase).

use alloc::vec;
use virtio_drivers::Hal;
use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::Transport;

pub use storage_backend::block::{BlockDevice, DeviceError, ERASED, Geometry};

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
