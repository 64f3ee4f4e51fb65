//! QEMU's fw_cfg, memory-mapped interface (docs/specs/fw_cfg.rst): a 16-bit big-endian
//! selector register at offset 8 and a data register at offset 0 that returns the selected
//! item's bytes in order, one per byte-wide read. The file directory is item 0x19: a
//! big-endian `u32` count, then 64-byte entries `{ u32 size, u16 select, u16 reserved,
//! char name[56] }`, all big-endian.

/// Offset of the data register.
const DATA: usize = 0;
/// Offset of the selector register.
const SELECTOR: usize = 8;
/// The smallest window holding both registers.
const MIN_WINDOW: usize = 10;
/// The file directory item.
const FILE_DIR: u16 = 0x19;
/// Bytes of a file name in a directory entry.
const NAME_LEN: usize = 56;
/// Directory entries looked at, at most (QEMU has a few dozen).
const MAX_FILES: u32 = 4096;

/// Why a file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No fw_cfg window was granted.
    NoWindow,
    /// The window is too small for the registers.
    BadWindow,
    /// No file of that name.
    NotFound,
    /// The file is not exactly as long as the buffer.
    WrongSize(u32),
}

/// The fw_cfg registers mapped in this task.
pub struct FwCfg {
    base: usize,
}

impl FwCfg {
    /// The interface at `base` (`size` bytes mapped).
    ///
    /// # Safety
    ///
    /// `base..base + size` is the fw_cfg MMIO window mapped into this task, used by nothing
    /// else.
    pub unsafe fn new(base: usize, size: usize) -> Result<Self, Error> {
        if size < MIN_WINDOW {
            return Err(Error::BadWindow);
        }
        Ok(Self { base })
    }

    fn select(&self, item: u16) {
        // SAFETY: the selector register lies in the window (`new`'s contract and size check);
        // the register is big-endian, so the value is stored in that byte order.
        unsafe { core::ptr::write_volatile((self.base + SELECTOR) as *mut u16, item.to_be()) };
    }

    fn byte(&self) -> u8 {
        // SAFETY: the data register lies in the window; a byte read returns the next byte of
        // the selected item.
        unsafe { core::ptr::read_volatile((self.base + DATA) as *const u8) }
    }

    fn fill(&self, out: &mut [u8]) {
        for b in out {
            *b = self.byte();
        }
    }

    fn be_u32(&self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_be_bytes(b)
    }

    /// Reads the file `name` into `out`, which must be exactly its size.
    pub fn read_file(&self, name: &str, out: &mut [u8]) -> Result<(), Error> {
        self.select(FILE_DIR);
        let count = self.be_u32().min(MAX_FILES);
        let mut found = None;
        for _ in 0..count {
            let size = self.be_u32();
            let mut sel = [0u8; 4];
            self.fill(&mut sel);
            let mut entry_name = [0u8; NAME_LEN];
            self.fill(&mut entry_name);
            let len = entry_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            if found.is_none() && entry_name.get(..len) == Some(name.as_bytes()) {
                found = Some((size, u16::from_be_bytes([sel[0], sel[1]])));
            }
        }
        let (size, item) = found.ok_or(Error::NotFound)?;
        if usize::try_from(size).ok() != Some(out.len()) {
            return Err(Error::WrongSize(size));
        }
        self.select(item);
        self.fill(out);
        Ok(())
    }
}
