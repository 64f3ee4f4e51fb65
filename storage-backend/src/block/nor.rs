//! An adapter from `embedded_storage::nor_flash::NorFlash` to [`BlockDevice`].
//!
//! A block is the program unit the store uses (a multiple of the flash's `WRITE_SIZE`), an
//! erase unit is the flash's `ERASE_SIZE`. Each block is programmed with its own `write` call, so
//! a power cut interrupts at most one block.

use embedded_storage::nor_flash::NorFlash;

use super::{BlockDevice, DeviceError, Geometry};

/// A block device over NOR flash.
#[derive(Debug)]
pub struct NorFlashDevice<F> {
    flash: F,
    geometry: Geometry,
}

impl<F: NorFlash> NorFlashDevice<F> {
    /// Wraps `flash`, programming it in blocks of `block_size` bytes. `block_size` must divide
    /// `ERASE_SIZE` and be a multiple of `WRITE_SIZE` and `READ_SIZE`.
    pub fn new(flash: F, block_size: u32) -> Result<Self, DeviceError> {
        let bs = block_size as usize;
        if bs == 0
            || F::ERASE_SIZE % bs != 0
            || !bs.is_multiple_of(F::WRITE_SIZE.max(1))
            || !bs.is_multiple_of(F::READ_SIZE.max(1))
        {
            return Err(DeviceError::OutOfRange);
        }
        let blocks_per_erase_unit = (F::ERASE_SIZE / bs) as u32;
        let units = (flash.capacity() / F::ERASE_SIZE) as u64;
        let geometry = Geometry {
            block_size,
            blocks_per_erase_unit,
            block_count: units * u64::from(blocks_per_erase_unit),
        };
        Ok(Self { flash, geometry })
    }

    /// The wrapped flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The wrapped flash, mutable.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Unwraps the flash.
    pub fn into_inner(self) -> F {
        self.flash
    }

    fn offset(&self, block: u64, len: usize) -> Result<u32, DeviceError> {
        self.geometry.check_blocks(block, len)?;
        u32::try_from(block * u64::from(self.geometry.block_size))
            .map_err(|_| DeviceError::OutOfRange)
    }
}

fn map_err<E: embedded_storage::nor_flash::NorFlashError>(e: E) -> DeviceError {
    use embedded_storage::nor_flash::NorFlashErrorKind as K;
    match e.kind() {
        K::NotAligned | K::OutOfBounds => DeviceError::OutOfRange,
        _ => DeviceError::Io,
    }
}

impl<F: NorFlash> BlockDevice for NorFlashDevice<F> {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let off = self.offset(block, buf.len())?;
        self.flash.read(off, buf).map_err(map_err)
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        let off = self.offset(block, buf.len())?;
        let bs = self.geometry.block_size as usize;
        for (i, piece) in buf.chunks(bs).enumerate() {
            self.flash
                .write(off + (i * bs) as u32, piece)
                .map_err(map_err)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        // NOR programs are synchronous: once `write` returned, the bits are in the array.
        Ok(())
    }

    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        self.geometry.check_units(unit, count)?;
        let ub = self.geometry.erase_unit_bytes();
        for u in unit..unit + count {
            let from = u32::try_from(u * ub).map_err(|_| DeviceError::OutOfRange)?;
            let to = u32::try_from((u + 1) * ub).map_err(|_| DeviceError::OutOfRange)?;
            self.flash.erase(from, to).map_err(map_err)?;
        }
        Ok(())
    }
}
