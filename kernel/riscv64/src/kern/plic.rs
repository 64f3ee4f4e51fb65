//! The platform-level interrupt controller (RISC-V PLIC specification 1.0.0): interrupt
//! forwarding to user-space drivers. Hart 0's S-mode is PLIC context 1 on QEMU virt.
//!
//! A device interrupt is claimed, masked at the PLIC (its enable bit cleared) and completed;
//! the kernel sets the device's notification bit in the task granted the device, which sees it
//! through `WaitNotification`, services the device and unmasks the line with `IrqAck`.

use core::ptr::{read_volatile, write_volatile};

use super::mem::MMIO_WINDOW;

/// The S-mode context of hart 0.
const CONTEXT: usize = 1;
const PRIORITY: usize = 0x0;
const ENABLE: usize = 0x2000;
const ENABLE_STRIDE: usize = 0x80;
const THRESHOLD: usize = 0x20_0000;
const CLAIM: usize = 0x20_0004;
const CONTEXT_STRIDE: usize = 0x1000;
/// Interrupt sources on the PLIC (QEMU virt has fewer).
pub const MAX_IRQ: u32 = 1023;

/// The PLIC at a physical base, reached through the kernel's MMIO window.
#[derive(Clone, Copy, Debug)]
pub struct Plic {
    base: usize,
}

impl Plic {
    /// The PLIC whose registers start at physical address `base`.
    pub const fn new(base: usize) -> Self {
        Self {
            base: MMIO_WINDOW + base,
        }
    }

    fn reg(&self, offset: usize) -> *mut u32 {
        (self.base + offset) as *mut u32
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: `offset` is a register of the PLIC named by the device tree, mapped in the
        // MMIO window; only the kernel drives the PLIC.
        unsafe { write_volatile(self.reg(offset), value) };
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: as in `write`; these reads only have the documented claim side effect.
        unsafe { read_volatile(self.reg(offset)) }
    }

    /// Gives `irq` priority 1 and lets every priority through for the S-mode context.
    pub fn configure(&self, irq: u32) {
        if irq == 0 || irq > MAX_IRQ {
            return;
        }
        self.write(PRIORITY + 4 * irq as usize, 1);
        self.write(THRESHOLD + CONTEXT_STRIDE * CONTEXT, 0);
    }

    /// Enables or masks `irq` for the S-mode context.
    pub fn set_enabled(&self, irq: u32, enabled: bool) {
        if irq == 0 || irq > MAX_IRQ {
            return;
        }
        let word = ENABLE + ENABLE_STRIDE * CONTEXT + 4 * (irq as usize / 32);
        let bit = 1 << (irq % 32);
        let old = self.read(word);
        self.write(word, if enabled { old | bit } else { old & !bit });
    }

    /// Claims the highest-priority pending interrupt (0: none).
    pub fn claim(&self) -> u32 {
        self.read(CLAIM + CONTEXT_STRIDE * CONTEXT)
    }

    /// Signals that `irq`'s claim is handled.
    pub fn complete(&self, irq: u32) {
        self.write(CLAIM + CONTEXT_STRIDE * CONTEXT, irq);
    }
}
