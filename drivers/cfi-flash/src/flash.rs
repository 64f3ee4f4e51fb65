//! [`CfiFlash`]: the Intel/Sharp command sequences on a queried bank, and `embedded-storage`'s
//! `NorFlash` over them.
//!
//! Every operation ends with the bank back in read-array mode, whatever happened; a failure
//! the status register reports is cleared before it is returned, so the next operation starts
//! clean. A write programs only the 32-bit words that are not all ones and reads every word
//! back: a program can only clear bits, so data written over something that was not erased
//! comes back different and the write fails with [`CfiError::Verify`] instead of leaving a mix.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use crate::bus::FlashBus;
use crate::query::{Geometry, query};

/// Status register: the write state machine is ready.
const SR_READY: u8 = 0x80;
/// Status register: erase failed (with [`SR_PROGRAM`]: a command sequence error).
const SR_ERASE: u8 = 0x20;
/// Status register: program failed.
const SR_PROGRAM: u8 = 0x10;
/// Status register: programming voltage out of range.
const SR_VPP: u8 = 0x08;
/// Status register: the block is locked.
const SR_LOCKED: u8 = 0x02;

/// How many status reads an operation may take before it is reported as timed out. Word
/// programs take microseconds and block erases up to seconds on real parts; the bound only
/// keeps a dead device from hanging the caller.
const POLL_LIMIT: u32 = 50_000_000;

/// A command byte on every lane of the 32-bit bus (devices take their command from the low
/// byte of their own lane).
pub(crate) const fn command(cmd: u8) -> u32 {
    cmd as u32 * 0x0101_0101
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CfiError {
    /// No `QRY` answer: not a CFI device (or not mapped).
    NotCfi,
    /// A CFI device of another command set (the code it reported).
    UnsupportedCommandSet(u16),
    /// The geometry is not one this driver handles: several erase regions, a size that does not
    /// match the window, or an erase block other than the one the type was built for.
    Geometry,
    /// An address or length outside the bank, or not aligned as `NorFlash` requires.
    OutOfBounds,
    /// Not aligned to the write or erase size.
    NotAligned,
    /// The device reported a program failure.
    Program,
    /// The device reported an erase failure.
    Erase,
    /// The device reported a command sequence error.
    Sequence,
    /// The programming voltage was out of range.
    Voltage,
    /// The block is locked and could not be unlocked.
    Locked,
    /// The device did not become ready within the poll limit.
    Timeout,
    /// Data read back differs from what was written (written over data that was not erased,
    /// or a worn-out cell).
    Verify,
}

impl NorFlashError for CfiError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            CfiError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            CfiError::NotAligned => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// A CFI bank whose erase block is `ERASE` bytes (checked against the device at [`CfiFlash::new`]:
/// `NorFlash` needs the erase size at compile time).
pub struct CfiFlash<B: FlashBus, const ERASE: usize> {
    bus: B,
    geometry: Geometry,
    /// Bits of one lane's status byte in every device's lane (`0x0080_0080` for two x16).
    lanes: u32,
}

impl<B: FlashBus, const ERASE: usize> CfiFlash<B, ERASE> {
    /// Queries the bank on `bus` and checks that it is an Intel/Sharp CFI bank of `ERASE`-byte
    /// blocks filling the window.
    pub fn new(mut bus: B) -> Result<Self, CfiError> {
        let geometry = query(&mut bus)?;
        if geometry.erase_size != ERASE || geometry.erase_size * geometry.blocks != bus.len() {
            return Err(CfiError::Geometry);
        }
        let lane_bytes = 4 / geometry.devices;
        let lanes = (0..geometry.devices).fold(0u32, |m, d| m | 1 << (8 * lane_bytes * d));
        Ok(Self {
            bus,
            geometry,
            lanes,
        })
    }

    /// The geometry the query gave.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The bus, e.g. to inspect a fake device in tests.
    pub fn bus_mut(&mut self) -> &mut B {
        &mut self.bus
    }

    /// The bus back.
    pub fn into_bus(self) -> B {
        self.bus
    }

    /// `byte` of every device's status, as one lane mask.
    fn all(&self, byte: u8) -> u32 {
        self.lanes * u32::from(byte)
    }

    /// [`Self::wait_ready`], then back to read-array mode.
    fn finish(&mut self, offset: usize) -> Result<(), CfiError> {
        self.wait_ready(offset)?;
        self.bus.write(offset, command(0xFF));
        Ok(())
    }

    /// Polls the status at `offset` until every device is ready, then decodes errors. On an
    /// error the status is cleared and the bank is back in read-array mode; on success it stays
    /// in status mode, so a run of programs does not switch modes between words (on QEMU every
    /// switch to and from read-array mode remaps the window).
    fn wait_ready(&mut self, offset: usize) -> Result<(), CfiError> {
        let ready = self.all(SR_READY);
        let mut status = 0;
        let mut polls = 0;
        while status & ready != ready {
            if polls == POLL_LIMIT {
                self.bus.write(offset, command(0xFF));
                return Err(CfiError::Timeout);
            }
            polls += 1;
            status = self.bus.read(offset);
        }
        let any = |bit: u8| status & self.all(bit) != 0;
        let result = if any(SR_ERASE) && any(SR_PROGRAM) {
            Err(CfiError::Sequence)
        } else if any(SR_VPP) {
            Err(CfiError::Voltage)
        } else if any(SR_LOCKED) {
            Err(CfiError::Locked)
        } else if any(SR_ERASE) {
            Err(CfiError::Erase)
        } else if any(SR_PROGRAM) {
            Err(CfiError::Program)
        } else {
            Ok(())
        };
        if result.is_err() {
            self.bus.write(offset, command(0x50));
            self.bus.write(offset, command(0xFF));
        }
        result
    }

    fn erase_block(&mut self, block: usize) -> Result<(), CfiError> {
        // Parts may power up with their blocks locked: unlock first (a no-op when unlocked).
        self.bus.write(block, command(0x60));
        self.bus.write(block, command(0xD0));
        self.finish(block)?;
        self.bus.write(block, command(0x20));
        self.bus.write(block, command(0xD0));
        self.finish(block)?;
        for offset in (block..block + self.geometry.erase_size).step_by(4) {
            if self.bus.read(offset) != u32::MAX {
                return Err(CfiError::Verify);
            }
        }
        Ok(())
    }

    /// Programs `bytes` (whole words) at `start`: word programs back to back in status mode,
    /// then read-array mode and every word read back.
    fn program(&mut self, start: usize, bytes: &[u8]) -> Result<(), CfiError> {
        let words = || {
            bytes
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .enumerate()
                .map(move |(i, v)| (start + 4 * i, v))
        };
        for (offset, value) in words() {
            if value != u32::MAX {
                self.bus.write(offset, command(0x40));
                self.bus.write(offset, value);
                self.wait_ready(offset)?;
            }
        }
        self.bus.write(start, command(0xFF));
        for (offset, value) in words() {
            if self.bus.read(offset) != value {
                return Err(CfiError::Verify);
            }
        }
        Ok(())
    }

    fn check(&self, offset: u32, len: usize) -> Result<(usize, usize), CfiError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(CfiError::OutOfBounds)?;
        if end > self.bus.len() {
            return Err(CfiError::OutOfBounds);
        }
        Ok((start, end))
    }
}

impl<B: FlashBus, const ERASE: usize> ErrorType for CfiFlash<B, ERASE> {
    type Error = CfiError;
}

impl<B: FlashBus, const ERASE: usize> ReadNorFlash for CfiFlash<B, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), CfiError> {
        let (start, _) = self.check(offset, bytes.len())?;
        let mut i = 0;
        while i < bytes.len() {
            let at = start + i;
            let word_at = at & !3;
            let skip = at - word_at;
            let word = self.bus.read(word_at).to_le_bytes();
            let n = (4 - skip).min(bytes.len() - i);
            bytes[i..i + n].copy_from_slice(&word[skip..skip + n]);
            i += n;
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bus.len()
    }
}

impl<B: FlashBus, const ERASE: usize> NorFlash for CfiFlash<B, ERASE> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), CfiError> {
        if to < from {
            return Err(CfiError::OutOfBounds);
        }
        let (start, end) = self.check(from, (to - from) as usize)?;
        if !start.is_multiple_of(ERASE) || !end.is_multiple_of(ERASE) {
            return Err(CfiError::NotAligned);
        }
        for block in (start..end).step_by(ERASE) {
            self.erase_block(block)?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), CfiError> {
        let (start, _) = self.check(offset, bytes.len())?;
        if !start.is_multiple_of(4) || !bytes.len().is_multiple_of(4) {
            return Err(CfiError::NotAligned);
        }
        self.program(start, bytes)
    }
}
