//! Where pages live between checkpoints: the [`PageStore`] trait, and [`MemPageStore`], an
//! in-memory page store for tests and benches.
//!
//! The tree never writes a page twice at one location: every write gets a fresh [`PagePtr`],
//! and a location is reported dead exactly once, when the page it holds is first changed (or
//! freed by a merge). Stage 2 implements the trait over the log (head I, one sealed chunk per
//! page, dead bytes going to the delta table).

use alloc::vec::Vec;

use super::PagePtr;
use crate::store::error::{IntegrityKind, StoreError};

/// Storage of index pages.
pub trait PageStore {
    /// Reads the page written at `ptr` into `buf` (exactly one page plaintext long).
    fn read(&mut self, ptr: PagePtr, buf: &mut [u8]) -> Result<(), StoreError>;
    /// Writes one page; returns where it now lives (never a location still in use).
    fn write(&mut self, page: &[u8]) -> Result<PagePtr, StoreError>;
    /// The page at `ptr` is no longer referenced by the tree being built (it stays readable
    /// until the caller's next checkpoint is durable; the store decides when to reuse it).
    fn mark_dead(&mut self, ptr: PagePtr);
}

/// A borrowed store: lets a caller keep its store across a failed open.
impl<T: PageStore + ?Sized> PageStore for &mut T {
    fn read(&mut self, ptr: PagePtr, buf: &mut [u8]) -> Result<(), StoreError> {
        (**self).read(ptr, buf)
    }
    fn write(&mut self, page: &[u8]) -> Result<PagePtr, StoreError> {
        (**self).write(page)
    }
    fn mark_dead(&mut self, ptr: PagePtr) {
        (**self).mark_dead(ptr)
    }
}

/// Counters of a [`MemPageStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Pages read.
    pub reads: u64,
    /// Pages written.
    pub writes: u64,
    /// Locations reported dead.
    pub deaths: u64,
    /// Reports of a location that was not live (a tree bug if not zero).
    pub bad_deaths: u64,
}

#[derive(Debug, Default)]
struct MemPage {
    seq: u64,
    dead: bool,
    bytes: Vec<u8>,
}

/// Pages in RAM: location `off` is an index into a table, `seq` a counter that binds a pointer
/// to one write (a stale pointer to a reused index fails like a stale nonce would).
///
/// A dead page stays readable until [`MemPageStore::reclaim`], so a tree can be reopened from
/// an older root as long as the caller has not reclaimed (a checkpoint's "free once the next
/// checkpoint is durable").
#[derive(Debug, Default)]
pub struct MemPageStore {
    pages: Vec<MemPage>,
    free: Vec<u32>,
    dead: Vec<u32>,
    live: usize,
    next_seq: u64,
    stats: MemStats,
}

impl MemPageStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pages written and not reported dead.
    pub fn live_pages(&self) -> usize {
        self.live
    }

    /// Counters.
    pub fn stats(&self) -> MemStats {
        self.stats
    }

    /// Makes every dead location reusable (call after the checkpoint is durable).
    pub fn reclaim(&mut self) {
        for i in self.dead.drain(..) {
            // The buffer is kept for the next write to this index.
            if let Some(p) = self.pages.get_mut(i as usize) {
                p.seq = 0;
                p.dead = false;
            }
            self.free.push(i);
        }
    }

    /// A crash before the next checkpoint: the deaths reported since the last
    /// [`MemPageStore::reclaim`] are forgotten (they were not durable), so the pages of the last
    /// flushed root are live again.
    pub fn crash(&mut self) {
        for i in self.dead.drain(..) {
            if let Some(p) = self.pages.get_mut(i as usize) {
                p.dead = false;
                self.live += 1;
                self.stats.deaths -= 1;
            }
        }
    }

    /// Overwrites the stored bytes at `ptr` (tests: corruption of the medium).
    pub fn tamper(&mut self, ptr: PagePtr, f: impl FnOnce(&mut [u8])) -> bool {
        match self.pages.get_mut(ptr.off as usize) {
            Some(p) if p.seq == ptr.seq && ptr.seg == 0 => {
                f(&mut p.bytes);
                true
            }
            _ => false,
        }
    }

    fn slot(&self, ptr: PagePtr) -> Option<usize> {
        let i = ptr.off as usize;
        match self.pages.get(i) {
            Some(p) if ptr.seg == 0 && p.seq == ptr.seq && ptr.seq != 0 => Some(i),
            _ => None,
        }
    }
}

fn dangling() -> StoreError {
    StoreError::integrity(IntegrityKind::Dangling)
}

impl PageStore for MemPageStore {
    fn read(&mut self, ptr: PagePtr, buf: &mut [u8]) -> Result<(), StoreError> {
        let i = self.slot(ptr).ok_or_else(dangling)?;
        let page = &self.pages[i].bytes;
        if page.len() != buf.len() {
            return Err(StoreError::InvalidArgument);
        }
        buf.copy_from_slice(page);
        self.stats.reads += 1;
        Ok(())
    }

    fn write(&mut self, page: &[u8]) -> Result<PagePtr, StoreError> {
        self.next_seq += 1;
        let seq = self.next_seq;
        let off = match self.free.pop() {
            Some(i) => {
                self.pages[i as usize] = MemPage {
                    seq,
                    dead: false,
                    bytes: page.to_vec(),
                };
                i
            }
            None => {
                let i = u32::try_from(self.pages.len()).map_err(|_| StoreError::NoSpace)?;
                self.pages.push(MemPage {
                    seq,
                    dead: false,
                    bytes: page.to_vec(),
                });
                i
            }
        };
        self.live += 1;
        self.stats.writes += 1;
        Ok(PagePtr { seg: 0, off, seq })
    }

    fn mark_dead(&mut self, ptr: PagePtr) {
        let Some(i) = self.slot(ptr).filter(|&i| !self.pages[i].dead) else {
            self.stats.bad_deaths += 1;
            return;
        };
        self.pages[i].dead = true;
        self.dead.push(ptr.off);
        self.live -= 1;
        self.stats.deaths += 1;
    }
}
