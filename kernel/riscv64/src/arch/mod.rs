//! The architecture-specific part of the kernel. Only riscv64 exists.

pub mod riscv64;
