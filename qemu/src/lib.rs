//! The host-testable core of the reference kernel: everything that is plain logic over data
//! (device-tree interpretation, device identification) lives here, so it runs under `cargo test`
//! on the workstation. The bare-metal binary (`main.rs`) is the thin, target-only part.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod platform;
pub mod virtio_id;
