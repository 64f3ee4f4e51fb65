//! Support for the whole-system tests: booting the QEMU machine that `cargo xtask run` boots,
//! under a time limit or as a live session, capturing its console ([`qemu`]), reading the
//! shell's transcript ([`transcript`]), rebuilding a disk as a power cut leaves it
//! ([`power_cut`]) and driving a session whose writes are logged for that
//! ([`logged_session`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod logged_session;
pub mod power_cut;
pub mod qemu;
pub mod transcript;
