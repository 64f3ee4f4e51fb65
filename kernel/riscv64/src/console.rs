//! The kernel's text console: the ns16550a UART found in the device tree, polled.

use core::fmt;

/// Transmit holding register (write) / receive buffer (read).
const THR: usize = 0;
/// Line status register.
const LSR: usize = 5;
/// LSR bit: transmit holding register empty.
const LSR_THR_EMPTY: u8 = 1 << 5;
/// LSR bit: a received byte is waiting in RBR.
const LSR_DATA_READY: u8 = 1 << 0;
/// Interrupt enable register.
const IER: usize = 1;
/// IER bit: interrupt when a byte is received.
const IER_RX_AVAILABLE: u8 = 1 << 0;

/// A polled ns16550a UART at a fixed MMIO base.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// # Safety
    /// `base` must be the register window of an ns16550a UART, mapped and not used by anyone else
    /// while this value lives.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// The next received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        // SAFETY: `new`'s caller guarantees `base` is this UART's register window; reading LSR
        // has no side effect, reading RBR takes the byte it holds.
        unsafe {
            if core::ptr::read_volatile((self.base + LSR) as *const u8) & LSR_DATA_READY == 0 {
                return None;
            }
            Some(core::ptr::read_volatile((self.base + THR) as *const u8))
        }
    }

    /// Asks the UART to raise its interrupt line when a byte arrives.
    pub fn enable_rx_interrupt(&mut self) {
        // SAFETY: IER is a byte register inside this UART's window.
        unsafe { core::ptr::write_volatile((self.base + IER) as *mut u8, IER_RX_AVAILABLE) };
    }

    /// Writes one byte; a newline becomes CR LF.
    pub fn put_byte(&mut self, byte: u8) {
        if byte == b'\n' {
            self.put(b'\r');
        }
        self.put(byte);
    }

    fn put(&mut self, byte: u8) {
        // SAFETY: `new`'s caller guarantees `base` is this UART's register window; LSR and THR
        // are byte registers inside it.
        unsafe {
            while core::ptr::read_volatile((self.base + LSR) as *const u8) & LSR_THR_EMPTY == 0 {}
            core::ptr::write_volatile((self.base + THR) as *mut u8, byte);
        }
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}
