//! RISC-V 64 (RV64GC, S-mode): entry point, CSRs, trap entry/exit and SBI calls.

pub mod csr;
pub mod entry;
pub mod sbi;
pub mod trap;
