//! Kernel logging. Two channels, chosen at boot:
//!
//! - **defmt** (boot argument `zos.log=defmt`, which `cargo xtask run` passes): log records are
//!   defmt frames (rzCOBS-encoded) written through the semihosting console (`SYS_WRITE` to
//!   `:tt`), which QEMU sends to a chardev of its own; xtask decodes them with the kernel ELF's
//!   defmt tables and prints readable, levelled lines. The text console (UART) then carries only
//!   the boot banner and whatever later owns it (the shell), never log records.
//! - **text** (default, e.g. in the QEMU tests): the same events as plain lines on the UART.
//!
//! Task log lines (`DebugWrite`) follow the kernel's channel, with the task's level.
//!
//! Semihosting: RISC-V semihosting spec, the `slli x0,x0,0x1f; ebreak; srai x0,x0,7` sequence
//! with the operation in `a0` and its parameter block in `a1`. It is used only when the boot
//! argument says QEMU was started with semihosting on; otherwise the `ebreak` would trap.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_abi::LogLevel;

/// The defmt channel is on.
static DEFMT: AtomicBool = AtomicBool::new(false);

/// `time` ticks per second, for the defmt timestamps (set at boot from the device tree; the
/// kernel state's default until then).
static TIMEBASE_HZ: AtomicU64 = AtomicU64::new(10_000_000);

/// Whether log records go to the defmt channel.
pub fn defmt_enabled() -> bool {
    DEFMT.load(Ordering::Relaxed)
}

/// Turns the defmt channel on (the boot arguments asked for it).
pub fn enable_defmt() {
    DEFMT.store(true, Ordering::Relaxed);
}

/// Sets the timebase the defmt timestamps are computed with (the kernel's `timebase_hz`).
pub fn set_timebase_hz(hz: u64) {
    TIMEBASE_HZ.store(hz, Ordering::Relaxed);
}

/// Logs a kernel event: a defmt record on the defmt channel, else a `kernel: ` text line. The
/// format string must suit both `core::fmt` and defmt: positional `{}` / `{:#x}` arguments of
/// integers and `&str`.
#[macro_export]
macro_rules! klog {
    ($level:ident, $fmt:literal $(, $arg:expr)* $(,)?) => {
        if $crate::kern::log::defmt_enabled() {
            defmt::$level!($fmt $(, $arg)*);
        } else {
            $crate::kprintln!(concat!("kernel: ", $fmt) $(, $arg)*);
        }
    };
}

/// One task log line, on the kernel's channel.
pub fn task_line(name: &str, level: LogLevel, text: &[u8]) {
    if !defmt_enabled() {
        super::console::task_line(name, level, text);
        return;
    }
    match core::str::from_utf8(text) {
        Ok(text) => match level {
            LogLevel::Error => defmt::error!("[{=str}] {=str}", name, text),
            LogLevel::Warn => defmt::warn!("[{=str}] {=str}", name, text),
            LogLevel::Info => defmt::info!("[{=str}] {=str}", name, text),
            LogLevel::Debug => defmt::debug!("[{=str}] {=str}", name, text),
            LogLevel::Trace => defmt::trace!("[{=str}] {=str}", name, text),
        },
        Err(_) => defmt::warn!("[{=str}] {=[u8]:a}", name, text),
    }
}

defmt::timestamp!("{=u64:us}", {
    let hz = TIMEBASE_HZ.load(Ordering::Relaxed).max(1);
    (crate::arch::riscv64::csr::time() as u128 * 1_000_000 / hz as u128) as u64
});

/// Frame bytes gathered until the frame ends (or the buffer fills), then written at once.
struct Buffer {
    bytes: [u8; 1024],
    len: usize,
    encoder: defmt::Encoder,
}

struct Cell(core::cell::UnsafeCell<Buffer>);

// SAFETY: one hart, and the kernel logs with interrupts masked: never concurrently.
unsafe impl Sync for Cell {}

static BUFFER: Cell = Cell(core::cell::UnsafeCell::new(Buffer {
    bytes: [0; 1024],
    len: 0,
    encoder: defmt::Encoder::new(),
}));

fn buffer() -> &'static mut Buffer {
    // SAFETY: see `Cell`; the logger's acquire/write/release calls never nest (defmt's
    // contract), so only one reference is live at a time.
    unsafe { &mut *BUFFER.0.get() }
}

fn push(buf: &mut [u8; 1024], len: &mut usize, bytes: &[u8]) {
    for &b in bytes {
        if *len == buf.len() {
            semihost_write(&buf[..*len]);
            *len = 0;
        }
        buf[*len] = b;
        *len += 1;
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: acquire/release bracket every frame and the kernel is single-threaded with
// interrupts masked, so frames never interleave.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let b = buffer();
        let (bytes, len) = (&mut b.bytes, &mut b.len);
        b.encoder.start_frame(|data| push(bytes, len, data));
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let b = buffer();
        let (bytes, len) = (&mut b.bytes, &mut b.len);
        b.encoder.end_frame(|data| push(bytes, len, data));
        if b.len > 0 {
            semihost_write(&b.bytes[..b.len]);
            b.len = 0;
        }
    }

    unsafe fn write(data: &[u8]) {
        let b = buffer();
        let (bytes, len) = (&mut b.bytes, &mut b.len);
        b.encoder.write(data, |d| push(bytes, len, d));
    }
}

/// Semihosting operations (ARM semihosting, adopted by RISC-V): write one character, write a
/// NUL-terminated string. Both go to QEMU's semihosting console, which `-semihosting-config
/// chardev=` sends to a file of its own (unlike `SYS_WRITE` to `:tt`, which QEMU may send to
/// its stdout).
const SYS_WRITEC: usize = 0x03;
const SYS_WRITE0: usize = 0x04;

fn semihost(op: usize, param: usize) {
    if !defmt_enabled() {
        return;
    }
    // SAFETY: the semihosting sequence traps into QEMU (which was started with semihosting on:
    // the boot argument that enabled this channel says so); it reads the bytes at `param`
    // (identity-mapped kernel memory) and writes only a0.
    unsafe {
        core::arch::asm!(
            ".option push",
            ".option norvc",
            ".balign 16",
            "slli x0, x0, 0x1f",
            "ebreak",
            "srai x0, x0, 7",
            ".option pop",
            inout("a0") op => _,
            in("a1") param,
            options(nostack),
        );
    }
}

/// Writes frame bytes. rzCOBS frames contain no zero byte except their terminator, so each
/// frame goes out as one `SYS_WRITE0` (which stops at the terminator) plus the terminator.
fn semihost_write(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == 0) {
            Some(end) => {
                if end > 0 {
                    semihost(SYS_WRITE0, rest.as_ptr() as usize);
                }
                semihost(SYS_WRITEC, rest[end..].as_ptr() as usize);
                rest = &rest[end + 1..];
            }
            None => {
                // A frame longer than the buffer: its head goes out byte by byte.
                for b in rest {
                    semihost(SYS_WRITEC, b as *const u8 as usize);
                }
                rest = &[];
            }
        }
    }
}
