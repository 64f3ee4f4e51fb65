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

/// RAM for handles' writes not yet in the store ([`crate::ops::stream`]): a handle's stage
/// holds up to `pieces` pieces before it spills them to the store in one transaction, and a
/// writer also spills once all stages together hold more than `total_bytes`. So RAM stays
/// within `total_bytes` plus one handle's buffer, whatever the number of handles. `pieces = 0`
/// writes through (a transaction per written piece, as before buffering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteBuffer {
    /// Pieces (of up to 3,968 bytes) one handle buffers.
    pub pieces: usize,
    /// Stored bytes all handles buffer together.
    pub total_bytes: usize,
}

impl Default for WriteBuffer {
    /// 64 pieces (about 248 KiB: one commit per 64 streamed messages) and 1 MiB in all.
    fn default() -> Self {
        Self {
            pieces: 64,
            total_bytes: 1 << 20,
        }
    }
}

/// Counters of the write path, for tests and benchmarks: how many store transactions the VFS
/// committed (the dominant cost of a small write: each is sealed, padded and flushed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Store transactions committed since the VFS was made.
    pub store_commits: u64,
    /// Stored bytes of handle writes held in RAM now (not yet in the store).
    pub buffered_bytes: usize,
}

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
