//! The streaming file API: open, read, write, seek, truncate, flush and close on handles.
//!
//! A handle reads from a committed content version (`base`, pinned against collection while the
//! handle lives). Writes go copy-on-write into a fresh staging content object that no inode
//! references, in pieces of at most [`PIECE_SIZE`] bytes, each committed on its own; flush and
//! close switch the inode to the staged content in one small transaction (inode, accounting,
//! garbage record of the old content). A crash before that leaves the old file intact and the
//! staging area to the collector. Nothing proportional to the file's size is kept in memory.
//!
//! Open files live in the handle table ([`crate::handles`], a leaf module); this module's
//! parts act on them: [`open`], [`pieces`], [`io`], [`commit`] and [`handle`] (the requests).

pub use defer::Deferred;

use crate::protocol::limits::PIECE_SIZE;
use crate::vfs::Vfs;
use storage_backend::{BlockDevice, CryptoEngine};

mod commit;
mod defer;
mod handle;
mod io;
mod open;
mod pieces;

const PIECE: u64 = PIECE_SIZE as u64;

fn pieces(size: u64) -> u64 {
    size.div_ceil(PIECE)
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    pub(crate) fn pin(&mut self, content: u64) {
        if content != 0 {
            *self.pins.entry(content).or_insert(0) += 1;
        }
    }

    pub(crate) fn unpin(&mut self, content: u64) {
        if let Some(n) = self.pins.get_mut(&content) {
            *n -= 1;
            if *n == 0 {
                self.pins.remove(&content);
                // A version no handle reads any more may be garbage the collector skipped.
                self.collect_due = true;
            }
        }
    }
}
