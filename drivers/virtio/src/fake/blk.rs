//! A fake virtio-blk device (virtio 1.2 §5.2) over a RAM disk: read, write, flush and get-id.

use super::FakeDevice;
use alloc::vec;
use alloc::vec::Vec;
use virtio_drivers::transport::DeviceType;

use crate::blk::SECTOR_SIZE as SECTOR;
use crate::blk::wire::{S_IOERR, S_OK, S_UNSUPP, T_FLUSH, T_GET_ID, T_IN, T_OUT};

/// The fake disk. Public fields let tests look at the medium and count flushes.
pub struct FakeBlkDevice {
    /// The medium.
    pub disk: Vec<u8>,
    /// Flush requests served.
    pub flushes: u64,
    /// When set, every request fails with an I/O error.
    pub fail_io: bool,
    config: [u8; 64],
}

impl FakeBlkDevice {
    /// A zeroed disk of `sectors` 512-byte sectors.
    pub fn new(sectors: u64) -> Self {
        let mut config = [0u8; 64];
        config[..8].copy_from_slice(&sectors.to_le_bytes());
        Self {
            disk: vec![0; sectors as usize * SECTOR],
            flushes: 0,
            fail_io: false,
            config,
        }
    }
}

impl FakeDevice for FakeBlkDevice {
    fn device_type(&self) -> DeviceType {
        DeviceType::Block
    }
    fn features(&self) -> u64 {
        // VERSION_1 | FLUSH.
        (1 << 32) | (1 << 9)
    }
    fn config_space(&self) -> &[u8] {
        &self.config
    }
    fn queue_count(&self) -> u16 {
        1
    }
    fn serve(&mut self, _queue: u16, readable: &[u8], writable: &mut [u8]) -> u32 {
        let used = writable.len() as u32;
        let Some((status, data)) = writable.split_last_mut() else {
            return 0;
        };
        if readable.len() < 16 {
            *status = S_IOERR;
            return used;
        }
        let kind = u32::from_le_bytes(readable[0..4].try_into().unwrap_or([0; 4]));
        let sector = u64::from_le_bytes(readable[8..16].try_into().unwrap_or([0; 8]));
        let start = usize::try_from(sector)
            .unwrap_or(usize::MAX)
            .saturating_mul(SECTOR);
        *status = match kind {
            _ if self.fail_io => S_IOERR,
            T_IN => match self.disk.get(start..start.saturating_add(data.len())) {
                Some(src) => {
                    data.copy_from_slice(src);
                    S_OK
                }
                None => S_IOERR,
            },
            T_OUT => {
                let src = &readable[16..];
                match self.disk.get_mut(start..start.saturating_add(src.len())) {
                    Some(dst) => {
                        dst.copy_from_slice(src);
                        S_OK
                    }
                    None => S_IOERR,
                }
            }
            T_FLUSH => {
                self.flushes += 1;
                S_OK
            }
            T_GET_ID => {
                let id = b"zos-fake-blk";
                let n = id.len().min(data.len());
                data[..n].copy_from_slice(&id[..n]);
                S_OK
            }
            _ => S_UNSUPP,
        };
        used
    }
}
