//! zvfs: the host tool for Zero OS disk images and the interchange formats of the
//! specification. The library holds the format code so tests drive it directly; `main.rs` is
//! the command-line front end.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod asu;
pub mod fsck;
pub mod image;
pub mod ine;
pub mod interchange;
