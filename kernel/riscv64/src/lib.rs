//! The host-testable core of the reference kernel: everything that is plain logic over data
//! (device-tree interpretation, the frame allocator, Sv39 page tables,
//! ELF parsing, the scheduling policy, the system description, the HMAC_DRBG behind
//! `RandomBytes`) lives here, so it runs under `cargo test` on the workstation. The bare-metal
//! binary (`main.rs`) is the thin, target-only part.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod drbg;
pub mod elf;
pub mod frames;
pub mod platform;
pub mod sched;
pub mod sv39;
pub mod system;
