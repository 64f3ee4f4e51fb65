//! A driver for CFI parallel NOR flash with the Intel/Sharp command set (CFI primary command
//! set 0x0001 or 0x0003) on a 32-bit bus, behind `embedded-storage`'s [`NorFlash`] — so the
//! store's `NorFlashDevice` adapter runs on it unchanged.
//!
//! This is the flash of QEMU's `virt` machines (two x16 devices side by side, 256 KiB erase
//! blocks) and of boards that wire parallel NOR to their memory bus. The driver speaks the real
//! command set — CFI query, word program, block unlock and erase, the status register — rather
//! than treating the window as RAM, so it behaves as the chip does: a program can only clear
//! bits (every write is read back and compared, so writing over data that was not erased is an
//! error, not silent corruption), a block must be erased before it is written again, and every
//! failure the status register reports (program, erase, voltage, a locked block, a command
//! sequence error) is a typed [`CfiError`].
//!
//! * [`bus`]: the bus cycles ([`FlashBus`]) and the memory-mapped bus of a real window
//!   ([`MmioBus`], the one `unsafe` constructor of the crate).
//! * [`query`]: the CFI query and the geometry it yields.
//! * [`flash`]: [`CfiFlash`], the command sequences and the `NorFlash` implementation.
//! * `fake` (feature `fake`): a register-level model of a bank for host tests.
//!
//! Limits: a 32-bit bus only (1, 2 or 4 devices side by side), uniform erase blocks (one CFI
//! erase region), one operation at a time (no suspend/resume), no buffered program (word
//! program only), status polling bounded by a count of reads rather than by time.

#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bus;
#[cfg(feature = "fake")]
pub mod fake;
pub mod flash;
pub mod query;

pub use bus::{FlashBus, MmioBus};
pub use flash::{CfiError, CfiFlash};
pub use query::Geometry;

pub use embedded_storage::nor_flash::NorFlash;
