//! The build tool of Zero OS as a library: where things are, how the QEMU machine is put
//! together, and how QEMU is provisioned. The `xtask` binary and the system tests share it, so a
//! test boots exactly the machine that `cargo xtask run` boots.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bake;
pub mod machine;
pub mod paths;
pub mod provision;
pub mod system;
