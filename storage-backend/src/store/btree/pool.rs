//! The page pool: a fixed number of page-sized slots chosen at open so that the pool, its
//! bookkeeping and the tree's fixed buffers stay within the RAM budget.
//!
//! A slot is free, clean (holds a page as written at `ptr`, found through an open-addressing
//! table keyed by pointer) or dirty (changed in RAM, not on the medium; pinned until a flush
//! writes it). Clean pages sit on one of two LRU lists: when a slot is needed, the least
//! recently used clean leaf goes first, and an internal page only when no clean leaf is left,
//! so the upper levels stay cached. A slot's page buffer is allocated the first time the slot is
//! used and kept, so [`Pool::heap_bytes`] grows to at most the size fixed at open.

use alloc::vec;
use alloc::vec::Vec;

use super::PagePtr;
use super::error::{BTreeError, Result};

const NIL: u32 = u32::MAX;
/// Trees that may share one pool (the two regions of a store).
pub(crate) const OWNERS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Free,
    Clean,
    Dirty,
}

/// One slot of the pool.
#[derive(Debug)]
pub(crate) struct Slot {
    pub buf: Vec<u8>,
    pub ptr: PagePtr,
    pub state: State,
    /// Held by the operation in progress: not evictable even if clean.
    pub pinned: bool,
    /// The tree the page belongs to (a pool may be shared by the trees of two regions).
    pub owner: u8,
    leaf: bool,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32, // most recently used
    tail: u32,
}

const EMPTY_LIST: List = List {
    head: NIL,
    tail: NIL,
};

/// The page cache.
#[derive(Debug)]
pub(crate) struct Pool {
    slots: Vec<Slot>,
    /// Open addressing with linear probing: slot index or NIL.
    table: Vec<u32>,
    free: Vec<u32>,
    lists: [List; 2], // 0 = leaves, 1 = internal pages
    page: usize,
    cap: usize,
    /// Dirty pages per owner.
    dirty: [usize; OWNERS],
    /// Slots whose page buffer is allocated (all of `slots`: a slot gets its buffer when pushed).
    allocated: usize,
}

impl Pool {
    /// Heap bytes a pool of `slots` slots of `page` bytes holds when full.
    pub fn bytes_for(slots: usize, page: usize) -> usize {
        slots * (core::mem::size_of::<Slot>() + page + 4) + Self::table_len(slots) * 4
    }

    fn table_len(slots: usize) -> usize {
        (slots * 2).next_power_of_two().max(4)
    }

    /// A pool of `cap` slots of `page` bytes (bookkeeping allocated now, pages on first use).
    pub fn new(cap: usize, page: usize) -> Result<Pool> {
        if cap >= NIL as usize {
            return Err(BTreeError::InvalidArgument);
        }
        Ok(Pool {
            slots: Vec::with_capacity(cap),
            table: vec![NIL; Self::table_len(cap)],
            free: Vec::with_capacity(cap),
            lists: [EMPTY_LIST; 2],
            page,
            cap,
            dirty: [0; OWNERS],
            allocated: 0,
        })
    }

    /// Heap bytes held now (O(1): every page buffer is allocated with exactly `page` bytes).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<Slot>()
            + self.allocated * self.page
            + self.table.capacity() * 4
            + self.free.capacity() * 4
    }

    /// Slots the pool may use.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Dirty pages of tree `owner`.
    pub fn dirty(&self, owner: u8) -> usize {
        self.dirty.get(usize::from(owner)).copied().unwrap_or(0)
    }

    /// Bytes per page.
    pub fn page_size(&self) -> usize {
        self.page
    }

    /// Slots holding a page.
    pub fn cached(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn slot(&self, i: u32) -> Result<&Slot> {
        self.slots.get(i as usize).ok_or(BTreeError::Internal)
    }

    pub fn slot_mut(&mut self, i: u32) -> Result<&mut Slot> {
        self.slots.get_mut(i as usize).ok_or(BTreeError::Internal)
    }

    /// The page in slot `i`.
    pub fn buf(&self, i: u32) -> Result<&[u8]> {
        Ok(&self.slot(i)?.buf)
    }

    /// The page in slot `i`, to change; only dirty pages may be changed.
    pub fn buf_mut(&mut self, i: u32) -> Result<&mut [u8]> {
        let s = self.slot_mut(i)?;
        if s.state != State::Dirty {
            return Err(BTreeError::Internal);
        }
        Ok(&mut s.buf)
    }

    fn hash(&self, owner: u8, p: PagePtr) -> usize {
        let h =
            (u64::from(p.seg) << 32 | u64::from(p.off)) ^ p.seq.rotate_left(17) ^ u64::from(owner);
        let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (self.table.len() - 1)
    }

    /// The slot caching the clean page of tree `owner` written at `p`.
    pub fn lookup(&self, owner: u8, p: PagePtr) -> Option<u32> {
        let mask = self.table.len() - 1;
        let mut h = self.hash(owner, p);
        loop {
            let s = *self.table.get(h)?;
            if s == NIL {
                return None;
            }
            if self
                .slots
                .get(s as usize)
                .is_some_and(|x| x.ptr == p && x.owner == owner && x.state == State::Clean)
            {
                return Some(s);
            }
            h = (h + 1) & mask;
        }
    }

    fn table_insert(&mut self, p: PagePtr, slot: u32) {
        let mask = self.table.len() - 1;
        let mut h = self.hash(self.slots[slot as usize].owner, p);
        while self.table[h] != NIL {
            h = (h + 1) & mask;
        }
        self.table[h] = slot;
    }

    fn table_remove(&mut self, p: PagePtr, slot: u32) {
        let mask = self.table.len() - 1;
        let mut h = self.hash(self.slots[slot as usize].owner, p);
        while self.table[h] != slot {
            if self.table[h] == NIL {
                return;
            }
            h = (h + 1) & mask;
        }
        // Backward-shift deletion keeps every probe chain unbroken.
        let mut hole = h;
        let mut j = (h + 1) & mask;
        while self.table[j] != NIL {
            let s = self.table[j];
            let x = &self.slots[s as usize];
            let home = self.hash(x.owner, x.ptr);
            // Move `s` into the hole unless its home lies cyclically in (hole, j].
            let between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !between {
                self.table[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.table[hole] = NIL;
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, l) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next, usize::from(!s.leaf))
        };
        match prev {
            NIL => self.lists[l].head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.lists[l].tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let l = usize::from(!self.slots[i as usize].leaf);
        let head = self.lists[l].head;
        {
            let s = &mut self.slots[i as usize];
            s.prev = NIL;
            s.next = head;
        }
        match head {
            NIL => self.lists[l].tail = i,
            h => self.slots[h as usize].prev = i,
        }
        self.lists[l].head = i;
    }

    /// Marks a clean page as just used.
    pub fn touch(&mut self, i: u32) {
        if self
            .slots
            .get(i as usize)
            .is_some_and(|s| s.state == State::Clean)
        {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// A free slot for a new page of tree `owner`: a never-used one, a freed one, or the least
    /// recently used clean unpinned page of any owner (leaves first). Returned in state `Free`,
    /// buffer zeroed.
    pub fn alloc(&mut self, owner: u8) -> Result<u32> {
        let i = self.alloc_unzeroed(owner)?;
        self.slot_mut(i)?.buf.fill(0);
        Ok(i)
    }

    /// Like [`Pool::alloc`], for a page about to be read over (its old bytes are overwritten).
    pub fn alloc_unzeroed(&mut self, owner: u8) -> Result<u32> {
        if usize::from(owner) >= OWNERS {
            return Err(BTreeError::InvalidArgument);
        }
        let i = if let Some(i) = self.free.pop() {
            i
        } else if self.slots.len() < self.cap {
            self.slots.push(Slot {
                buf: vec![0; self.page],
                ptr: PagePtr::default(),
                state: State::Free,
                pinned: false,
                owner,
                leaf: true,
                prev: NIL,
                next: NIL,
            });
            self.allocated += 1;
            (self.slots.len() - 1) as u32
        } else {
            let victim = self.victim().ok_or(BTreeError::Internal)?;
            self.unlink(victim);
            let ptr = self.slots[victim as usize].ptr;
            self.table_remove(ptr, victim);
            victim
        };
        let s = self.slot_mut(i)?;
        s.state = State::Free;
        s.pinned = false;
        s.owner = owner;
        Ok(i)
    }

    fn victim(&self) -> Option<u32> {
        for l in &self.lists {
            let mut i = l.tail;
            while i != NIL {
                let s = &self.slots[i as usize];
                if !s.pinned {
                    return Some(i);
                }
                i = s.prev;
            }
        }
        None
    }

    /// Slot `i` (from [`Pool::alloc`]) now holds the clean page written at `ptr`.
    pub fn set_clean(&mut self, i: u32, ptr: PagePtr) -> Result<()> {
        let s = self.slot_mut(i)?;
        let was = s.state;
        s.leaf = s.buf.get(1) == Some(&0);
        s.ptr = ptr;
        s.state = State::Clean;
        match was {
            State::Free => {}
            State::Dirty => self.dirty_sub(i)?,
            State::Clean => return Err(BTreeError::Internal),
        }
        self.table_insert(ptr, i);
        self.push_front(i);
        Ok(())
    }

    /// Slot `i` (free or clean) now holds a dirty page; a clean page leaves the lookup table.
    pub fn set_dirty(&mut self, i: u32) -> Result<()> {
        let s = self.slot(i)?;
        match s.state {
            State::Dirty => return Ok(()),
            State::Clean => {
                let ptr = s.ptr;
                self.unlink(i);
                self.table_remove(ptr, i);
            }
            State::Free => {}
        }
        let s = self.slot_mut(i)?;
        s.state = State::Dirty;
        let o = usize::from(s.owner);
        *self.dirty.get_mut(o).ok_or(BTreeError::Internal)? += 1;
        Ok(())
    }

    /// Slot `i` no longer holds a page.
    pub fn release(&mut self, i: u32) -> Result<()> {
        let s = self.slot(i)?;
        match s.state {
            State::Free => return Err(BTreeError::Internal),
            State::Clean => {
                let ptr = s.ptr;
                self.unlink(i);
                self.table_remove(ptr, i);
            }
            State::Dirty => self.dirty_sub(i)?,
        }
        let s = self.slot_mut(i)?;
        s.state = State::Free;
        s.pinned = false;
        self.free.push(i);
        Ok(())
    }

    /// Gives back a slot from [`Pool::alloc`] that was not filled (a failed read).
    pub fn release_free(&mut self, i: u32) {
        if self
            .slots
            .get(i as usize)
            .is_some_and(|s| s.state == State::Free)
        {
            self.free.push(i);
        }
    }

    /// Drops every page of tree `owner` (a tree that failed to open leaves none behind).
    pub fn purge(&mut self, owner: u8) {
        for i in 0..self.slots.len() as u32 {
            let s = &self.slots[i as usize];
            if s.owner == owner && s.state != State::Free {
                let _ = self.release(i);
            }
        }
    }

    fn dirty_sub(&mut self, i: u32) -> Result<()> {
        let o = usize::from(self.slot(i)?.owner);
        let d = self.dirty.get_mut(o).ok_or(BTreeError::Internal)?;
        *d = d.checked_sub(1).ok_or(BTreeError::Internal)?;
        Ok(())
    }

    /// Pins or unpins slot `i`.
    pub fn pin(&mut self, i: u32, on: bool) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.pinned = on;
        }
    }
}
