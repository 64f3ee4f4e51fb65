//! A RAM block device: the whole medium in a `Vec`, erase fills with [`ERASED`].
//!
//! It enforces the write-once contract like flash does (a program may only clear bits), so a
//! store bug that rewrites a block shows up in host tests rather than on hardware.

use alloc::vec;
use alloc::vec::Vec;

use super::{BlockDevice, DeviceError, ERASED, Geometry, IoCounters};

/// A device held in memory.
#[derive(Clone, Debug)]
pub struct RamDevice {
    geometry: Geometry,
    data: Vec<u8>,
    counters: IoCounters,
}

impl RamDevice {
    /// A fully erased device of `erase_units` units of `blocks_per_erase_unit` blocks of
    /// `block_size` bytes.
    pub fn new(block_size: u32, blocks_per_erase_unit: u32, erase_units: u64) -> Self {
        let geometry = Geometry {
            block_size,
            blocks_per_erase_unit,
            block_count: erase_units * u64::from(blocks_per_erase_unit),
        };
        let len = usize::try_from(geometry.total_bytes()).unwrap_or(0);
        Self {
            geometry,
            data: vec![ERASED; len],
            counters: IoCounters::default(),
        }
    }

    /// A device over an existing image (for example one taken from another device).
    pub fn from_image(block_size: u32, blocks_per_erase_unit: u32, image: Vec<u8>) -> Self {
        let unit = u64::from(block_size) * u64::from(blocks_per_erase_unit);
        let units = (image.len() as u64).checked_div(unit).unwrap_or(0);
        let geometry = Geometry {
            block_size,
            blocks_per_erase_unit,
            block_count: units * u64::from(blocks_per_erase_unit),
        };
        Self {
            geometry,
            data: image,
            counters: IoCounters::default(),
        }
    }

    /// The raw medium.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// The raw medium, mutable (tests flip bytes here).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// I/O counters since creation.
    pub fn counters(&self) -> IoCounters {
        self.counters
    }

    fn range(&self, block: u64, len: usize) -> Result<core::ops::Range<usize>, DeviceError> {
        self.geometry.check_blocks(block, len)?;
        let start = usize::try_from(block * u64::from(self.geometry.block_size))
            .map_err(|_| DeviceError::OutOfRange)?;
        Ok(start..start + len)
    }
}

impl BlockDevice for RamDevice {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let r = self.range(block, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        self.counters.bytes_read += buf.len() as u64;
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        let r = self.range(block, buf.len())?;
        let dst = &mut self.data[r];
        if dst.iter().zip(buf).any(|(o, n)| o & n != *n) {
            return Err(DeviceError::NotErased);
        }
        dst.copy_from_slice(buf);
        self.counters.bytes_written += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.counters.flushes += 1;
        Ok(())
    }

    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        self.geometry.check_units(unit, count)?;
        let ub = self.geometry.erase_unit_bytes();
        let start = usize::try_from(unit * ub).map_err(|_| DeviceError::OutOfRange)?;
        let len = usize::try_from(count * ub).map_err(|_| DeviceError::OutOfRange)?;
        self.data[start..start + len].fill(ERASED);
        self.counters.erases += count;
        Ok(())
    }
}
