//! The kernel's console: the UART found in the device tree, at its physical address until
//! paging is on and through the MMIO window after. `kprintln!` writes a plain text line.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::console::Uart;

/// The UART's register base as currently reachable (0: no console).
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Its physical base.
static PHYS: AtomicUsize = AtomicUsize::new(0);

/// Sets the console to the UART at physical address `base` (paging off).
pub fn init(base: usize) {
    PHYS.store(base, Ordering::Relaxed);
    BASE.store(base, Ordering::Relaxed);
}

/// Paging is on: reach the UART through the MMIO window.
pub fn move_to_window() {
    let phys = PHYS.load(Ordering::Relaxed);
    if phys != 0 {
        BASE.store(super::mem::MMIO_WINDOW + phys, Ordering::Relaxed);
    }
}

/// Writes formatted text to the console.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: `base` is the UART named by the device tree, reachable at this address in the
    // current mode; only the kernel drives it, and the kernel is single-threaded.
    let mut uart = unsafe { Uart::new(base) };
    let _ = uart.write_fmt(args);
}

/// Writes raw bytes (a task's log text) to the console.
pub fn write_bytes(bytes: &[u8]) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: as in `write_fmt`.
    let mut uart = unsafe { Uart::new(base) };
    for &b in bytes {
        uart.put_byte(b);
    }
}

/// Whether there is a console at all.
pub fn present() -> bool {
    BASE.load(Ordering::Relaxed) != 0
}

/// Moves the bytes the UART has received into `ring`, as many as fit: the rest stay in the
/// UART (whose full FIFO then holds the sender back), so no input is ever dropped.
pub fn drain_input(ring: &mut heapless::Deque<u8, INPUT_BUFFER>) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: as in `write_fmt`.
    let mut uart = unsafe { Uart::new(base) };
    while !ring.is_full() {
        let Some(b) = uart.try_read() else {
            break;
        };
        let _ = ring.push_back(b);
    }
}

/// Turns on the UART's receive interrupt.
pub fn enable_input_interrupt() {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: as in `write_fmt`.
    let mut uart = unsafe { Uart::new(base) };
    uart.enable_rx_interrupt();
}

/// How many received bytes the kernel buffers for `ConsoleRead`.
pub const INPUT_BUFFER: usize = 256;

/// Prints one log line of a task: `[LEVEL name] text`.
pub fn task_line(name: &str, level: kernel_abi::syscall::LogLevel, text: &[u8]) {
    write_fmt(format_args!("[{:<5} {name}] ", level.name()));
    write_bytes(text);
    write_bytes(b"\n");
}

/// Prints a line on the kernel console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::kern::console::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}
