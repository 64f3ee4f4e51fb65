//! The CFI query: what the devices say about themselves, and the bank geometry derived from it.
//!
//! Query addresses are in device words; on a 32-bit bus CFI offset `n` is read at byte `4 n`,
//! and the answer is in the low byte of the lane of each device (the same answer in every lane,
//! one per device). Sizes in the table are per device: the bank's erase block spans the same
//! block of every device side by side, so its size is the device's block times the number of
//! devices, which is the window's size over the device's size.

use crate::bus::FlashBus;
use crate::flash::{CfiError, command};

/// CFI command set codes of the Intel/Sharp family (basic and extended).
const INTEL_COMMAND_SETS: [u16; 2] = [0x0001, 0x0003];

/// The geometry of a bank, from its CFI query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Devices side by side on the 32-bit bus (1, 2 or 4).
    pub devices: u32,
    /// Bytes of one erase block of the bank (all devices).
    pub erase_size: usize,
    /// Erase blocks in the bank.
    pub blocks: usize,
    /// The CFI primary command set (0x0001 or 0x0003).
    pub command_set: u16,
}

/// One byte of the CFI table (offset `n`), from the lowest lane.
fn cfi_byte<B: FlashBus>(bus: &mut B, n: usize) -> u8 {
    (bus.read(n * 4) & 0xFF) as u8
}

fn cfi_u16<B: FlashBus>(bus: &mut B, n: usize) -> u16 {
    u16::from(cfi_byte(bus, n)) | u16::from(cfi_byte(bus, n + 1)) << 8
}

/// Queries the bank and returns its geometry; leaves it in read-array mode.
pub fn query<B: FlashBus>(bus: &mut B) -> Result<Geometry, CfiError> {
    bus.write(0x55 * 4, command(0x98));
    let result = parse(bus);
    bus.write(0, command(0xFF));
    result
}

fn parse<B: FlashBus>(bus: &mut B) -> Result<Geometry, CfiError> {
    if [0x10, 0x11, 0x12].map(|n| cfi_byte(bus, n)) != *b"QRY" {
        return Err(CfiError::NotCfi);
    }
    let command_set = cfi_u16(bus, 0x13);
    if !INTEL_COMMAND_SETS.contains(&command_set) {
        return Err(CfiError::UnsupportedCommandSet(command_set));
    }
    let device_size_log2 = u32::from(cfi_byte(bus, 0x27));
    let regions = cfi_byte(bus, 0x2C);
    if regions != 1 {
        return Err(CfiError::Geometry);
    }
    let blocks = usize::from(cfi_u16(bus, 0x2D)) + 1;
    let block_size = match usize::from(cfi_u16(bus, 0x2F)) {
        0 => 128,
        n => n * 256,
    };
    if device_size_log2 >= usize::BITS {
        return Err(CfiError::Geometry);
    }
    let device_size = 1usize << device_size_log2;
    let len = bus.len();
    if device_size == 0 || !len.is_multiple_of(device_size) {
        return Err(CfiError::Geometry);
    }
    let devices = len / device_size;
    if ![1, 2, 4].contains(&devices) || blocks.checked_mul(block_size) != Some(device_size) {
        return Err(CfiError::Geometry);
    }
    Ok(Geometry {
        devices: devices as u32,
        erase_size: block_size * devices,
        blocks,
        command_set,
    })
}
