//! RISC-V 64 (RV64GC, S-mode): entry point and SBI calls.

pub mod entry;
pub mod sbi;
