//! A host file as a block device (feature `std`): the image tool and host tests use it.
//!
//! Erase writes [`ERASED`] bytes so images look the same as those taken from flash; flush is
//! `fsync` (`File::sync_data`), the durability barrier the store relies on.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::vec;

use super::{BlockDevice, DeviceError, ERASED, Geometry};

/// A block device backed by a file of fixed size.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    geometry: Geometry,
}

impl FileDevice {
    /// Opens `file` as a device of the given shape; the file is extended with erased bytes if it
    /// is shorter than the device.
    pub fn new(
        mut file: File,
        block_size: u32,
        blocks_per_erase_unit: u32,
        erase_units: u64,
    ) -> Result<Self, DeviceError> {
        let geometry = Geometry {
            block_size,
            blocks_per_erase_unit,
            block_count: erase_units * u64::from(blocks_per_erase_unit),
        };
        let len = file.metadata().map_err(|_| DeviceError::Io)?.len();
        let total = geometry.total_bytes();
        if len < total {
            file.seek(SeekFrom::Start(len))
                .map_err(|_| DeviceError::Io)?;
            let pad = vec![ERASED; 64 * 1024];
            let mut left = total - len;
            while left > 0 {
                let n = left.min(pad.len() as u64) as usize;
                file.write_all(&pad[..n]).map_err(|_| DeviceError::Io)?;
                left -= n as u64;
            }
        }
        Ok(Self { file, geometry })
    }

    fn seek(&mut self, block: u64, len: usize) -> Result<(), DeviceError> {
        self.geometry.check_blocks(block, len)?;
        let off = block * u64::from(self.geometry.block_size);
        self.file
            .seek(SeekFrom::Start(off))
            .map_err(|_| DeviceError::Io)?;
        Ok(())
    }
}

impl BlockDevice for FileDevice {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.seek(block, buf.len())?;
        self.file.read_exact(buf).map_err(|_| DeviceError::Io)
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        self.seek(block, buf.len())?;
        self.file.write_all(buf).map_err(|_| DeviceError::Io)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.file.sync_data().map_err(|_| DeviceError::Io)
    }

    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        self.geometry.check_units(unit, count)?;
        let ub = self.geometry.erase_unit_bytes();
        self.file
            .seek(SeekFrom::Start(unit * ub))
            .map_err(|_| DeviceError::Io)?;
        let pad = vec![ERASED; usize::try_from(ub).map_err(|_| DeviceError::OutOfRange)?];
        for _ in 0..count {
            self.file.write_all(&pad).map_err(|_| DeviceError::Io)?;
        }
        Ok(())
    }
}
