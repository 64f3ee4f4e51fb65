//! virtio-blk (virtio 1.2 §5.2) behind `storage-backend`'s [`BlockDevice`].
//!
//! The driver is this crate's own, on `virtio-drivers`' transport and split-queue types (as the
//! crypto driver is): `virtio-drivers`' `VirtIOBlk` spins on the used ring in its blocking
//! calls and has no non-blocking flush, so it cannot wait on the device's interrupt. One request
//! is in flight at a time; the driver waits for it with its [`Waiter`] ([`Spin`] unless
//! [`VirtioBlockDevice::set_waiter`] installs another). Features: `VERSION_1`, `FLUSH` and `RO`
//! (to refuse a read-only disk); direct descriptors, no event index, so the device interrupts
//! after every request.
//!
//! The disk has no erase: [`EraseMode`] chooses between writing the erased value (the contract:
//! erased bytes read as [`ERASED`]) and doing nothing (for stores that never read an erased
//! block before writing it, which saves one write per erase).

use crate::wait::{self, Spin, Waiter};
use alloc::boxed::Box;
use alloc::vec;
use bitflags::bitflags;
use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use storage_backend::block::{BlockDevice, DeviceError, ERASED, Geometry};

/// The virtio sector: request offsets and the capacity count in these.
pub const SECTOR_SIZE: usize = 512;
/// The request queue (§5.2.2: queue 0 without `MQ`).
const QUEUE: u16 = 0;
/// Descriptors in the queue: a request takes three (header, data, status).
const QUEUE_SIZE: usize = 16;

bitflags! {
    /// Feature bits the driver knows (§5.2.3, §6).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct BlkFeatures: u64 {
        /// §5.2.3 VIRTIO_BLK_F_RO: the device is read-only.
        const RO = 1 << 5;
        /// §5.2.3 VIRTIO_BLK_F_FLUSH: the device has a cache and honours flush requests.
        const FLUSH = 1 << 9;
        /// §6 VIRTIO_F_VERSION_1.
        const VERSION_1 = 1 << 32;
    }
}

const SUPPORTED_FEATURES: BlkFeatures = BlkFeatures::RO
    .union(BlkFeatures::FLUSH)
    .union(BlkFeatures::VERSION_1);

/// The §5.2.6 request types and status values, shared with the fake device.
pub(crate) mod wire {
    /// Read sectors.
    pub const T_IN: u32 = 0;
    /// Write sectors.
    pub const T_OUT: u32 = 1;
    /// Flush the device's write cache.
    pub const T_FLUSH: u32 = 4;
    /// Read the device's id string.
    #[cfg_attr(not(feature = "fake"), allow(dead_code))]
    pub const T_GET_ID: u32 = 8;
    /// The request succeeded.
    pub const S_OK: u8 = 0;
    /// The request failed.
    #[cfg_attr(not(feature = "fake"), allow(dead_code))]
    pub const S_IOERR: u8 = 1;
    /// The device does not support the request.
    #[cfg_attr(not(feature = "fake"), allow(dead_code))]
    pub const S_UNSUPP: u8 = 2;
}
use wire::{S_OK, T_FLUSH, T_IN, T_OUT};

/// A status value the spec does not define, left in the status byte so that a device that
/// never writes it is seen as failing.
const S_UNWRITTEN: u8 = 0xff;

/// §5.2.6 `struct virtio_blk_req`, the device-readable header (every field alignment 1: no
/// padding).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RequestHeader {
    kind: U32,
    reserved: U32,
    sector: U64,
}
const _: () = assert!(core::mem::size_of::<RequestHeader>() == 16);

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
    /// The transport failed (queue set-up, DMA allocation, configuration space).
    Driver(virtio_drivers::Error),
    /// The transport is not a block device.
    NotBlockDevice,
    /// The block size is not a non-zero multiple of 512, or an erase unit is empty.
    BadGeometry,
    /// The device is read-only.
    ReadOnly,
}

/// Why a request failed at the device (kept for diagnostics; the trait reports
/// [`DeviceError::Io`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The queue or transport failed (queue full, wrong token, ...).
    Transport(virtio_drivers::Error),
    /// The device answered with a status other than OK (`VIRTIO_BLK_S_IOERR`, `_UNSUPP`, or a
    /// value the spec does not define).
    Status(u8),
}

/// A virtio-blk disk as a [`BlockDevice`] of `block_size`-byte blocks (a multiple of the
/// 512-byte virtio sector), grouped `blocks_per_erase_unit` to an erase unit.
pub struct VirtioBlockDevice<H: Hal, T: Transport> {
    transport: T,
    queue: VirtQueue<H, QUEUE_SIZE>,
    features: BlkFeatures,
    geometry: Geometry,
    sectors_per_block: u64,
    erase_mode: EraseMode,
    /// How to wait for a posted request (see [`crate::wait`]).
    waiter: Box<dyn Waiter>,
    last_error: Option<RequestError>,
}

impl<H: Hal, T: Transport> VirtioBlockDevice<H, T> {
    /// Initialises the disk behind `transport` (§3.1.1). The last partial block (if the
    /// capacity is not a whole number of blocks) is not used.
    pub fn new(
        mut transport: T,
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
        if transport.device_type() != DeviceType::Block {
            return Err(OpenError::NotBlockDevice);
        }
        let features = transport.begin_init(SUPPORTED_FEATURES);
        if features.contains(BlkFeatures::RO) {
            transport.set_status(DeviceStatus::FAILED);
            return Err(OpenError::ReadOnly);
        }
        // §5.2.4: the capacity is a 64-bit field read as two halves, consistently.
        let capacity = transport.read_consistent(|| {
            let low = transport.read_config_space::<u32>(0)?;
            let high = transport.read_config_space::<u32>(4)?;
            Ok(u64::from(low) | u64::from(high) << 32)
        });
        let queue = capacity.and_then(|c| {
            VirtQueue::<H, QUEUE_SIZE>::new(&mut transport, QUEUE, false, false).map(|q| (c, q))
        });
        let (capacity, queue) = match queue {
            Ok(r) => r,
            Err(e) => {
                // Tell the device the driver gave up on it (§3.1.1).
                transport.set_status(DeviceStatus::FAILED);
                return Err(OpenError::Driver(e));
            }
        };
        transport.finish_init();
        let sectors_per_block = u64::from(block_size) / SECTOR_SIZE as u64;
        let geometry = Geometry {
            block_size,
            blocks_per_erase_unit,
            block_count: capacity / sectors_per_block,
        };
        Ok(Self {
            transport,
            queue,
            features,
            geometry,
            sectors_per_block,
            erase_mode,
            waiter: Box::new(Spin),
            last_error: None,
        })
    }

    /// Waits for completions with `waiter` from now on (the default is [`Spin`]).
    pub fn set_waiter(&mut self, waiter: Box<dyn Waiter>) {
        self.waiter = waiter;
    }

    /// The device-level cause of the last failed request.
    pub fn last_error(&self) -> Option<RequestError> {
        self.last_error
    }

    /// The transport (for diagnostics and for tests that reconfigure a fake device).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    fn sector(&self, block: u64) -> Result<u64, DeviceError> {
        block
            .checked_mul(self.sectors_per_block)
            .ok_or(DeviceError::OutOfRange)
    }

    /// Posts one request (the header, then `input` device-readable, then `output` and the
    /// status byte device-writable), waits for it and checks the device's status.
    fn request(
        &mut self,
        kind: u32,
        sector: u64,
        input: Option<&[u8]>,
        output: Option<&mut [u8]>,
    ) -> Result<(), DeviceError> {
        let header = RequestHeader {
            kind: U32::new(kind),
            reserved: U32::new(0),
            sector: U64::new(sector),
        };
        let mut status = [S_UNWRITTEN];
        let with_input: [&[u8]; 2];
        let header_only: [&[u8]; 1] = [header.as_bytes()];
        let inputs: &[&[u8]] = match input {
            Some(data) => {
                with_input = [header.as_bytes(), data];
                &with_input
            }
            None => &header_only,
        };
        let result = match output {
            Some(data) => wait::add_notify_wait_pop(
                &mut self.queue,
                QUEUE,
                &mut self.transport,
                self.waiter.as_mut(),
                inputs,
                &mut [data, &mut status],
            ),
            None => wait::add_notify_wait_pop(
                &mut self.queue,
                QUEUE,
                &mut self.transport,
                self.waiter.as_mut(),
                inputs,
                &mut [&mut status],
            ),
        };
        // The used length is not checked: the status byte, initialised to a value the spec does
        // not define, tells whether the device completed the request.
        let error = match result {
            Err(e) => Some(RequestError::Transport(e)),
            Ok(_) if status[0] != S_OK => Some(RequestError::Status(status[0])),
            Ok(_) => None,
        };
        match error {
            Some(e) => {
                self.last_error = Some(e);
                Err(DeviceError::Io)
            }
            None => Ok(()),
        }
    }
}

impl<H: Hal, T: Transport> Drop for VirtioBlockDevice<H, T> {
    fn drop(&mut self) {
        // Detach the queue before its DMA memory is freed (the fields drop after this), so the
        // device cannot touch freed memory.
        self.transport.queue_unset(QUEUE);
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
        self.request(T_IN, sector, None, Some(buf))
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        self.geometry.check_blocks(block, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let sector = self.sector(block)?;
        self.request(T_OUT, sector, Some(buf), None)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        // Without `FLUSH` the device has no volatile cache to flush (§5.2.6.2): writes are
        // durable when they complete.
        if !self.features.contains(BlkFeatures::FLUSH) {
            return Ok(());
        }
        self.request(T_FLUSH, 0, None, None)
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
