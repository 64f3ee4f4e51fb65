//! Support for the whole-system tests: booting the QEMU machine that `cargo xtask run` boots,
//! under a time limit, and capturing its console.
#![deny(missing_docs)]

extern crate alloc;

pub mod conformance;
pub mod power_cut;
pub mod qemu;
pub mod transcript;
