//! RISC-V 64 (RV64GC, S-mode): entry point, CSRs, trap entry/exit and SBI calls.

pub mod csr;
pub mod entry;
pub mod sbi;
pub mod trap;

/// Orders every earlier memory and device access before every later one (`fence iorw, iorw`):
/// what a driver needs between filling a DMA ring and ringing the device's doorbell, and
/// between seeing the device's index move and reading what it wrote.
pub fn io_fence() {
    // SAFETY: a fence only orders accesses; it reads and writes nothing.
    unsafe { core::arch::asm!("fence iorw, iorw", options(nostack, preserves_flags)) };
}
