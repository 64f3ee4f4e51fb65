//! A register-level model of a CFI bank for host tests: two x16 Intel/Sharp devices side by
//! side on a 32-bit bus, as QEMU's `virt` machines wire them, answering the same command
//! sequences the chips do — with the chip's rules where QEMU's model is lenient: a program can
//! only clear bits (AND), blocks can be locked at power-on, an unknown or out-of-order command
//! is a command sequence error in the status register. Failures can be injected.

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use crate::bus::FlashBus;

/// The mode the last command left the devices in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Array,
    Status,
    Query,
    /// After 0x40/0x10: the next write is the data.
    ProgramSetup,
    /// After 0x20: the next write must be 0xD0 at the block.
    EraseSetup,
    /// After 0x60: 0xD0 unlocks, 0x01 locks.
    LockSetup,
}

/// A fake bank of `blocks` erase blocks of `erase_size` bytes (each device holds half of every
/// block: `erase_size / 2` bytes).
pub struct FakeCfiBank {
    data: Vec<u8>,
    erase_size: usize,
    locked: Vec<bool>,
    mode: Mode,
    status: u8,
    /// Bus cycles so far (reads and writes).
    pub cycles: u64,
    /// Programs so far (data cycles that changed the array).
    pub programs: u64,
    /// Block erases so far.
    pub erases: u64,
    /// The next erase reports a failure (SR5) and changes nothing.
    pub fail_next_erase: bool,
    /// The next program reports a failure (SR4) and changes nothing.
    pub fail_next_program: bool,
    /// Unlock commands are refused (a block stays locked).
    pub refuse_unlock: bool,
}

impl FakeCfiBank {
    /// A bank of `blocks` blocks of `erase_size` bytes, erased, with every block locked when
    /// `locked` (as some parts power up).
    pub fn new(blocks: usize, erase_size: usize, locked: bool) -> Self {
        Self {
            data: vec![0xFF; blocks * erase_size],
            erase_size,
            locked: vec![locked; blocks],
            mode: Mode::Array,
            status: 0x80,
            cycles: 0,
            programs: 0,
            erases: 0,
            fail_next_erase: false,
            fail_next_program: false,
            refuse_unlock: false,
        }
    }

    /// The array's bytes (what a reader in array mode sees).
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// The array's bytes, to prepare a case.
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The CFI table of one device (offsets 0x00..0x40).
    fn cfi(&self, n: usize) -> u8 {
        let per_device_block = self.erase_size / 2;
        let blocks = self.locked.len();
        let device_size = per_device_block * blocks;
        match n {
            0x10 => b'Q',
            0x11 => b'R',
            0x12 => b'Y',
            0x13 => 0x01,
            0x14 => 0x00,
            0x15 => 0x31,
            0x27 => device_size.trailing_zeros() as u8,
            0x28 => 0x02,
            0x2A => 0x0B,
            0x2C => 0x01,
            0x2D => ((blocks - 1) & 0xFF) as u8,
            0x2E => ((blocks - 1) >> 8) as u8,
            0x2F => ((per_device_block >> 8) & 0xFF) as u8,
            0x30 => (per_device_block >> 16) as u8,
            _ => 0,
        }
    }

    /// `byte` in both devices' lanes.
    fn both(byte: u8) -> u32 {
        u32::from(byte) * 0x0001_0001
    }

    fn sequence_error(&mut self) {
        self.status |= 0x30;
        self.mode = Mode::Status;
    }
}

impl FlashBus for FakeCfiBank {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn read(&mut self, offset: usize) -> u32 {
        self.cycles += 1;
        match self.mode {
            Mode::Array => {
                let w = &self.data[offset..offset + 4];
                u32::from_le_bytes([w[0], w[1], w[2], w[3]])
            }
            Mode::Query => Self::both(self.cfi(offset / 4)),
            _ => Self::both(self.status),
        }
    }

    fn write(&mut self, offset: usize, value: u32) {
        self.cycles += 1;
        let cmd = (value & 0xFF) as u8;
        let block = offset / self.erase_size;
        match self.mode {
            Mode::ProgramSetup => {
                self.mode = Mode::Status;
                if self.locked[block] {
                    self.status |= 0x12;
                } else if self.fail_next_program {
                    self.fail_next_program = false;
                    self.status |= 0x10;
                } else {
                    for (i, b) in value.to_le_bytes().iter().enumerate() {
                        self.data[offset + i] &= b;
                    }
                    self.programs += 1;
                }
                self.status |= 0x80;
            }
            Mode::EraseSetup => {
                if cmd != 0xD0 {
                    return self.sequence_error();
                }
                self.mode = Mode::Status;
                if self.locked[block] {
                    self.status |= 0x22;
                } else if self.fail_next_erase {
                    self.fail_next_erase = false;
                    self.status |= 0x20;
                } else {
                    let start = block * self.erase_size;
                    self.data[start..start + self.erase_size].fill(0xFF);
                    self.erases += 1;
                }
            }
            Mode::LockSetup => {
                self.mode = Mode::Status;
                match cmd {
                    0xD0 if !self.refuse_unlock => self.locked[block] = false,
                    0xD0 => {}
                    0x01 => self.locked[block] = true,
                    _ => self.sequence_error(),
                }
            }
            Mode::Array | Mode::Status | Mode::Query => match cmd {
                0xFF => self.mode = Mode::Array,
                0x70 => self.mode = Mode::Status,
                0x50 => {
                    self.status = 0x80;
                    self.mode = Mode::Array;
                }
                0x98 => self.mode = Mode::Query,
                0x40 | 0x10 => self.mode = Mode::ProgramSetup,
                0x20 => self.mode = Mode::EraseSetup,
                0x60 => self.mode = Mode::LockSetup,
                _ => self.sequence_error(),
            },
        }
    }
}
