//! A NOR flash emulator for tests, in the manner of littlefs's emulated block device.
//!
//! Guarantees:
//! - erase-before-write: a program may only clear bits (`old & new == new`), otherwise the call
//!   fails with `NotErased` — real NOR would silently AND the bits, we want the bug loudly;
//! - erase counts per sector, bytes programmed, operation counter;
//! - power loss: after the configured number of program/erase operations the next one is
//!   interrupted — either not applied at all or torn (a prefix applied) — and every later
//!   operation fails, as if the power were gone;
//! - an optional trace of every operation, so a harness can rebuild the medium at any cut point
//!   without re-running the workload.

use alloc::vec;
use alloc::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use super::ERASED;

/// Sector (erase unit) size of the emulator.
pub const EMU_ERASE_SIZE: usize = 4096;
/// Program granularity of the emulator.
pub const EMU_WRITE_SIZE: usize = 4;

/// How the interrupted operation ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// The interrupted program or erase leaves the medium untouched.
    NotApplied,
    /// The interrupted operation is applied to its first `n` bytes only (`n` is reduced modulo
    /// the operation's length).
    Torn(usize),
}

/// One recorded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceOp {
    /// Program `data` at byte `offset`.
    Program {
        /// Byte offset.
        offset: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Erase the sector range `from..to`.
    Erase {
        /// First byte.
        from: u32,
        /// One past the last byte.
        to: u32,
    },
}

/// Counters of the emulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmulatorStats {
    /// Program and erase operations performed (including the interrupted one).
    pub ops: u64,
    /// Bytes programmed.
    pub bytes_programmed: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Erases per sector.
    pub erase_counts: Vec<u32>,
}

/// Errors of the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmuError {
    /// Misaligned or out of bounds.
    Kind(NorFlashErrorKind),
    /// Program over bits that are not erased.
    NotErased,
    /// Power was cut.
    PowerLoss,
}

impl NorFlashError for EmuError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            EmuError::Kind(k) => *k,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// The emulated flash.
#[derive(Clone, Debug)]
pub struct NorEmulator {
    data: Vec<u8>,
    stats: EmulatorStats,
    cut: Option<(u64, CutMode)>,
    dead: bool,
    trace: Option<Vec<TraceOp>>,
}

impl NorEmulator {
    /// An erased flash of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        Self::from_image(vec![ERASED; sectors * EMU_ERASE_SIZE])
    }

    /// A flash holding `image` (its length is rounded down to whole sectors).
    pub fn from_image(mut image: Vec<u8>) -> Self {
        let sectors = image.len() / EMU_ERASE_SIZE;
        image.truncate(sectors * EMU_ERASE_SIZE);
        Self {
            data: image,
            stats: EmulatorStats {
                erase_counts: vec![0; sectors],
                ..Default::default()
            },
            cut: None,
            dead: false,
            trace: None,
        }
    }

    /// Cuts the power during operation number `op` (0-based, counting programs and erases).
    pub fn set_cut(&mut self, op: u64, mode: CutMode) {
        self.cut = Some((op, mode));
    }

    /// Starts recording every operation.
    pub fn start_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    /// Takes the recorded operations.
    pub fn take_trace(&mut self) -> Vec<TraceOp> {
        self.trace.take().unwrap_or_default()
    }

    /// True once the power was cut.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// The medium.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// The medium, mutable.
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Counters.
    pub fn stats(&self) -> &EmulatorStats {
        &self.stats
    }

    /// Applies a recorded operation, fully or torn, without any checks (harness use).
    pub fn apply(&mut self, op: &TraceOp, mode: Option<CutMode>) {
        match op {
            TraceOp::Program { offset, data } => {
                let n = applied_len(data.len(), mode);
                let o = *offset as usize;
                if let Some(dst) = self.data.get_mut(o..o + n) {
                    for (d, s) in dst.iter_mut().zip(data) {
                        *d &= *s;
                    }
                }
            }
            TraceOp::Erase { from, to } => {
                let len = (*to - *from) as usize;
                let n = applied_len(len, mode);
                let o = *from as usize;
                if let Some(dst) = self.data.get_mut(o..o + n) {
                    dst.fill(ERASED);
                }
                let first = o / EMU_ERASE_SIZE;
                for s in first..(*to as usize).div_ceil(EMU_ERASE_SIZE) {
                    if let Some(c) = self.stats.erase_counts.get_mut(s) {
                        *c += 1;
                    }
                }
            }
        }
    }

    /// Counts the operation; returns `Some(mode)` if this is the interrupted one.
    fn step(&mut self) -> Result<Option<CutMode>, EmuError> {
        if self.dead {
            return Err(EmuError::PowerLoss);
        }
        let n = self.stats.ops;
        self.stats.ops += 1;
        match self.cut {
            Some((at, mode)) if at == n => {
                self.dead = true;
                Ok(Some(mode))
            }
            _ => Ok(None),
        }
    }

    fn check(&self, offset: u32, len: usize, align: usize) -> Result<usize, EmuError> {
        let o = offset as usize;
        if !o.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(EmuError::Kind(NorFlashErrorKind::NotAligned));
        }
        if o.checked_add(len).is_none_or(|e| e > self.data.len()) {
            return Err(EmuError::Kind(NorFlashErrorKind::OutOfBounds));
        }
        Ok(o)
    }
}

fn applied_len(len: usize, mode: Option<CutMode>) -> usize {
    match mode {
        None => len,
        Some(CutMode::NotApplied) => 0,
        Some(CutMode::Torn(n)) => {
            if len == 0 {
                0
            } else {
                n % len
            }
        }
    }
}

impl ErrorType for NorEmulator {
    type Error = EmuError;
}

impl ReadNorFlash for NorEmulator {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), EmuError> {
        if self.dead {
            return Err(EmuError::PowerLoss);
        }
        let o = self.check(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(&self.data[o..o + bytes.len()]);
        self.stats.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl NorFlash for NorEmulator {
    const WRITE_SIZE: usize = EMU_WRITE_SIZE;
    const ERASE_SIZE: usize = EMU_ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), EmuError> {
        if to < from {
            return Err(EmuError::Kind(NorFlashErrorKind::OutOfBounds));
        }
        self.check(from, (to - from) as usize, EMU_ERASE_SIZE)?;
        let cut = self.step()?;
        let op = TraceOp::Erase { from, to };
        self.apply(&op, cut);
        if let Some(t) = &mut self.trace {
            t.push(op);
        }
        if cut.is_some() {
            Err(EmuError::PowerLoss)
        } else {
            Ok(())
        }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), EmuError> {
        let o = self.check(offset, bytes.len(), EMU_WRITE_SIZE)?;
        if self.data[o..o + bytes.len()]
            .iter()
            .zip(bytes)
            .any(|(old, new)| old & new != *new)
        {
            return Err(EmuError::NotErased);
        }
        let cut = self.step()?;
        let op = TraceOp::Program {
            offset,
            data: bytes.to_vec(),
        };
        self.apply(&op, cut);
        self.stats.bytes_programmed += applied_len(bytes.len(), cut) as u64;
        if let Some(t) = &mut self.trace {
            t.push(op);
        }
        if cut.is_some() {
            Err(EmuError::PowerLoss)
        } else {
            Ok(())
        }
    }
}
