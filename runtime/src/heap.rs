//! A small first-fit heap for tasks: an address-ordered free list with coalescing, in the
//! memory it manages (no metadata elsewhere). Used by the task runtime's global allocator;
//! host-testable on any buffer.
//!
//! Every block and every free hole is a multiple of [`GRAIN`] bytes at a [`GRAIN`]-aligned
//! address, so splitting never leaves a hole too small to hold its own header.

use core::{alloc::Layout, ptr};

/// Allocation granularity and minimum alignment, in bytes (holds a free-hole header).
pub const GRAIN: usize = 16;

/// The header written at the start of each free hole.
#[repr(C, align(16))]
struct Hole {
    size: usize,
    next: *mut Hole,
}

const _: () = assert!(core::mem::size_of::<Hole>() <= GRAIN);

/// The free list. Not thread-safe by itself; the task runtime wraps it in a lock.
pub struct FreeList {
    head: *mut Hole,
    free: usize,
}

// SAFETY: the list only holds pointers into memory handed over by `FreeList::add`, which it
// owns exclusively; moving the owner to another thread moves that ownership with it.
unsafe impl Send for FreeList {}

impl Default for FreeList {
    fn default() -> Self {
        Self::new()
    }
}

const fn round_up(v: usize, to: usize) -> Option<usize> {
    match v.checked_add(to - 1) {
        Some(x) => Some(x & !(to - 1)),
        None => None,
    }
}

impl FreeList {
    /// An empty heap: every allocation fails until memory is added.
    pub const fn new() -> Self {
        Self {
            head: ptr::null_mut(),
            free: 0,
        }
    }

    /// Free bytes (not counting fragmentation).
    pub fn free_bytes(&self) -> usize {
        self.free
    }

    /// Hands `size` bytes at `base` to the heap (trimmed to [`GRAIN`] alignment).
    ///
    /// # Safety
    ///
    /// The memory must be valid for reads and writes, unused by anything else for as long as
    /// the heap exists, and not overlap memory already added.
    pub unsafe fn add(&mut self, base: usize, size: usize) {
        let Some(start) = round_up(base, GRAIN) else {
            return;
        };
        let Some(end) = base.checked_add(size).map(|e| e & !(GRAIN - 1)) else {
            return;
        };
        if end <= start {
            return;
        }
        // SAFETY: [start, end) lies inside the caller's region, is GRAIN-aligned and a
        // multiple of GRAIN long, and belongs to no one else (this function's contract).
        unsafe { self.insert(start, end - start) };
    }

    /// Allocates a block for `layout`; null when no hole fits.
    pub fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(size) = round_up(layout.size().max(1), GRAIN) else {
            return ptr::null_mut();
        };
        let align = layout.align().max(GRAIN);
        let mut prev: *mut *mut Hole = &mut self.head;
        // SAFETY: every hole on the list is memory this heap owns, GRAIN-aligned, with a
        // header written by `insert`; `prev` always points at the link that leads to `hole`.
        unsafe {
            while !(*prev).is_null() {
                let hole = *prev;
                let h = hole as usize;
                let hs = (*hole).size;
                let next = (*hole).next;
                let Some(start) = round_up(h, align) else {
                    return ptr::null_mut();
                };
                let front = start - h;
                if let Some(end) = start.checked_add(size)
                    && end <= h + hs
                {
                    let back = h + hs - end;
                    // Unlink the hole, then give back the unused front and tail.
                    *prev = next;
                    self.free -= hs;
                    if back > 0 {
                        self.insert(end, back);
                    }
                    if front > 0 {
                        self.insert(h, front);
                    }
                    return start as *mut u8;
                }
                prev = &mut (*hole).next;
            }
        }
        ptr::null_mut()
    }

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `block` must come from [`FreeList::alloc`] on this heap with the same `layout`, and
    /// not be freed already.
    pub unsafe fn dealloc(&mut self, block: *mut u8, layout: Layout) {
        let Some(size) = round_up(layout.size().max(1), GRAIN) else {
            return;
        };
        // SAFETY: the block was carved from this heap's memory with this rounded size
        // (caller's contract), so it is GRAIN-aligned, owned by the heap again, and disjoint
        // from every hole.
        unsafe { self.insert(block as usize, size) };
    }

    /// Inserts a free region in address order, merging with its neighbours.
    ///
    /// # Safety
    ///
    /// `[addr, addr + size)` is GRAIN-aligned, a non-zero multiple of GRAIN, owned by the heap
    /// and disjoint from every hole.
    unsafe fn insert(&mut self, addr: usize, size: usize) {
        self.free += size;
        let mut prev: *mut Hole = ptr::null_mut();
        let mut cur = self.head;
        // SAFETY: holes on the list are heap-owned with valid headers (invariant); the new
        // region is heap-owned and disjoint (contract), so writing its header is sound.
        unsafe {
            while !cur.is_null() && (cur as usize) < addr {
                prev = cur;
                cur = (*cur).next;
            }
            let node = addr as *mut Hole;
            node.write(Hole { size, next: cur });
            // Merge with the following hole.
            if !cur.is_null() && addr + size == cur as usize {
                (*node).size += (*cur).size;
                (*node).next = (*cur).next;
            }
            // Link after the previous hole, merging with it if adjacent.
            if prev.is_null() {
                self.head = node;
            } else if prev as usize + (*prev).size == addr {
                (*prev).size += (*node).size;
                (*prev).next = (*node).next;
            } else {
                (*prev).next = node;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A GRAIN-aligned arena for tests.
    fn arena(bytes: usize) -> Vec<u128> {
        std::vec![0u128; bytes / 16]
    }

    #[test]
    fn allocates_frees_and_coalesces_back_to_one_hole() {
        let mut mem = arena(4096);
        let mut h = FreeList::new();
        // SAFETY: the arena outlives the heap and is used by nothing else.
        unsafe { h.add(mem.as_mut_ptr() as usize, 4096) };
        assert_eq!(h.free_bytes(), 4096);
        let l = |s, a| Layout::from_size_align(s, a).unwrap_or(Layout::new::<u8>());
        let a = h.alloc(l(10, 1));
        let b = h.alloc(l(100, 64));
        let c = h.alloc(l(1000, 8));
        assert!(!a.is_null() && !b.is_null() && !c.is_null());
        assert_eq!(b as usize % 64, 0);
        assert!(h.alloc(l(4096, 8)).is_null());
        // SAFETY: each block came from this heap with this layout.
        unsafe {
            h.dealloc(b, l(100, 64));
            h.dealloc(a, l(10, 1));
            h.dealloc(c, l(1000, 8));
        }
        assert_eq!(h.free_bytes(), 4096);
        let all = h.alloc(l(4096, 16));
        assert_eq!(all as usize, mem.as_mut_ptr() as usize);
    }

    #[test]
    fn random_workload_never_overlaps_and_returns_everything() {
        const SIZE: usize = 64 * 1024;
        let mut mem = arena(SIZE);
        let base = mem.as_mut_ptr() as usize;
        let mut h = FreeList::new();
        // SAFETY: the arena outlives the heap and is used by nothing else.
        unsafe { h.add(base + 8, SIZE - 8) };
        let total = h.free_bytes();
        let mut live: Vec<(usize, Layout)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if !seed.is_multiple_of(3) || live.is_empty() {
                let size = (seed >> 8) as usize % 700 + 1;
                let align = 1 << ((seed >> 20) % 8);
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                let p = h.alloc(layout) as usize;
                if p == 0 {
                    continue;
                }
                assert_eq!(p % align, 0);
                assert!(p >= base && p + size <= base + SIZE);
                for (q, ql) in &live {
                    assert!(p + size <= *q || q + ql.size() <= p, "overlap");
                }
                live.push((p, layout));
            } else {
                let i = (seed >> 30) as usize % live.len();
                let (p, layout) = live.swap_remove(i);
                // SAFETY: from this heap with this layout, freed once.
                unsafe { h.dealloc(p as *mut u8, layout) };
            }
        }
        for (p, layout) in live.drain(..) {
            // SAFETY: as above.
            unsafe { h.dealloc(p as *mut u8, layout) };
        }
        assert_eq!(h.free_bytes(), total);
        let Ok(everything) = Layout::from_size_align(total, 16) else {
            panic!("layout");
        };
        assert!(!h.alloc(everything).is_null());
    }
}
