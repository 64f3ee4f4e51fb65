//! Bus cycles to a flash bank: aligned 32-bit reads and writes at byte offsets from the bank's
//! base. What a read returns depends on the mode the last command left the devices in (array
//! data, the status register, CFI query data), exactly as on the chip's pins.

/// One bank of flash on a 32-bit bus.
pub trait FlashBus {
    /// The bank's size in bytes (its address window).
    fn len(&self) -> usize;

    /// Whether the window is empty (never, for a usable bank).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One 32-bit read cycle at `offset` (a multiple of 4, below [`FlashBus::len`]).
    fn read(&mut self, offset: usize) -> u32;

    /// One 32-bit write cycle at `offset` (a multiple of 4, below [`FlashBus::len`]).
    fn write(&mut self, offset: usize, value: u32);
}

/// The bank behind a memory-mapped window: volatile 32-bit accesses.
pub struct MmioBus {
    base: *mut u32,
    len: usize,
}

impl MmioBus {
    /// The bank mapped at `base` for `len` bytes.
    ///
    /// # Safety
    ///
    /// `base` must be 4-byte aligned and the start of a mapping of `len` bytes (a multiple of 4)
    /// of a flash device's register window, valid for volatile reads and writes for as long as
    /// the `MmioBus` lives, and nothing else may access that window meanwhile.
    pub unsafe fn new(base: *mut u8, len: usize) -> Self {
        Self {
            base: base.cast(),
            len: len & !3,
        }
    }

    fn word(&self, offset: usize) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset < self.len,
            "flash bus access outside the window"
        );
        self.base.wrapping_add(offset / 4)
    }
}

impl FlashBus for MmioBus {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&mut self, offset: usize) -> u32 {
        let p = self.word(offset);
        // SAFETY: `p` is inside the window `new`'s caller guaranteed valid for volatile access
        // (checked against its length above) and 4-byte aligned (base aligned, offset a
        // multiple of 4).
        unsafe { p.read_volatile() }
    }

    fn write(&mut self, offset: usize, value: u32) {
        let p = self.word(offset);
        // SAFETY: as for `read`.
        unsafe { p.write_volatile(value) }
    }
}
