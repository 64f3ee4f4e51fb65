//! A DMA page pool and the `Hal` built on it, for a task that gets DMA memory the Zero OS way:
//! `DmaAlloc` hands out physically contiguous memory with its physical address, once, and never
//! takes it back (kernel-abi `DmaAlloc`: "it lives until the task stops"), and `MapMmio` maps a
//! device window.
//!
//! The task reserves one arena at start-up ([`DmaPool::init`]) and registers its MMIO windows
//! ([`DmaPool::register_mmio`]); [`PoolHal`] then serves `virtio-drivers`:
//!
//! - `dma_alloc`/`dma_dealloc`: first-fit runs of pages from the arena (free pages are kept
//!   zeroed: every run is wiped when it is released, so allocations come out zeroed);
//! - `share` of a buffer that lies in the arena (the crypto driver's key page and bounces):
//!   address translation only, no copy;
//! - `share` of any other buffer (request headers on the stack, the caller's block buffers):
//!   a bounce in the arena, filled for `DriverToDevice`/`Both`; `unshare` copies back for
//!   `DeviceToDriver`/`Both`, then wipes and frees the bounce, so no key or data byte stays
//!   behind in pool memory.
//!
//! `share` cannot report failure through `virtio-drivers`' `Hal`, so an exhausted pool panics
//! there instead of handing the device a bogus address: size the arena for the largest request
//! in flight (queues + bounces + one block request).

use alloc::vec;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// A minimal spin lock (the pool is touched from driver calls only; contention is rare).
struct Lock<T> {
    held: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `held` (acquire on lock, release on unlock).
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    const fn new(value: T) -> Self {
        Self {
            held: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .held
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: `held` was false and is now ours, so no other reference to `value` exists
        // until the release store below.
        let r = f(unsafe { &mut *self.value.get() });
        self.held.store(false, Ordering::Release);
        r
    }
}

#[derive(Clone, Copy)]
struct Window {
    virt: usize,
    phys: u64,
    len: usize,
}

impl Window {
    fn virt_to_phys(&self, virt: usize, len: usize) -> Option<u64> {
        let off = virt.checked_sub(self.virt)?;
        (off.checked_add(len)? <= self.len).then(|| self.phys + off as u64)
    }
    fn phys_to_virt(&self, phys: u64, len: usize) -> Option<usize> {
        let off = usize::try_from(phys.checked_sub(self.phys)?).ok()?;
        (off.checked_add(len)? <= self.len).then(|| self.virt + off)
    }
}

struct Inner {
    arena: Option<Window>,
    /// One flag per arena page: in use.
    used: Vec<bool>,
    mmio: Vec<Window>,
}

/// The DMA arena of a task. Put one in a `static` and name it through [`PoolSource`].
pub struct DmaPool {
    inner: Lock<Inner>,
}

impl Default for DmaPool {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the pool rejected a set-up call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The arena is already set.
    AlreadyInitialised,
    /// Not page-aligned, empty, or the addresses overflow.
    BadRegion,
}

impl DmaPool {
    /// An empty pool (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            inner: Lock::new(Inner {
                arena: None,
                used: Vec::new(),
                mmio: Vec::new(),
            }),
        }
    }

    /// Hands the pool its arena: `len` bytes mapped at `virt` in the task, at `phys` for
    /// devices (what `DmaAlloc` returned).
    ///
    /// # Safety
    ///
    /// The range is mapped read-write, physically contiguous, used by nothing else for the rest
    /// of the program, and `phys` is the address devices use for `virt`.
    pub unsafe fn init(&self, virt: usize, phys: u64, len: usize) -> Result<(), PoolError> {
        let aligned = virt.is_multiple_of(PAGE_SIZE)
            && phys.is_multiple_of(PAGE_SIZE as u64)
            && len >= PAGE_SIZE;
        if !aligned || virt.checked_add(len).is_none() || phys.checked_add(len as u64).is_none() {
            return Err(PoolError::BadRegion);
        }
        self.inner.with(|i| {
            if i.arena.is_some() {
                return Err(PoolError::AlreadyInitialised);
            }
            // Free pages are kept zeroed from here on.
            // SAFETY: the caller hands us the whole range.
            unsafe { wipe(virt, len / PAGE_SIZE * PAGE_SIZE) };
            i.arena = Some(Window { virt, phys, len });
            i.used = vec![false; len / PAGE_SIZE];
            Ok(())
        })
    }

    /// Records an MMIO window (what `MapMmio` returned) for `mmio_phys_to_virt`.
    pub fn register_mmio(&self, virt: usize, phys: u64, len: usize) {
        self.inner.with(|i| i.mmio.push(Window { virt, phys, len }));
    }

    /// Pages currently allocated (for tests and diagnostics).
    pub fn pages_in_use(&self) -> usize {
        self.inner.with(|i| i.used.iter().filter(|u| **u).count())
    }

    /// First-fit run of `pages` pages: (physical, virtual) or `None`.
    fn alloc(&self, pages: usize) -> Option<(u64, usize)> {
        self.inner.with(|i| {
            let arena = i.arena?;
            let pages = pages.max(1);
            let mut run = 0;
            for p in 0..i.used.len() {
                run = if i.used[p] { 0 } else { run + 1 };
                if run == pages {
                    let first = p + 1 - pages;
                    i.used[first..=p].iter_mut().for_each(|u| *u = true);
                    let off = first * PAGE_SIZE;
                    return Some((arena.phys + off as u64, arena.virt + off));
                }
            }
            None
        })
    }

    /// Releases the run starting at virtual address `virt`.
    fn free(&self, virt: usize, pages: usize) {
        self.inner.with(|i| {
            if let Some(arena) = i.arena {
                let first = (virt - arena.virt) / PAGE_SIZE;
                for u in i.used.iter_mut().skip(first).take(pages.max(1)) {
                    *u = false;
                }
            }
        });
    }

    fn arena(&self) -> Option<Window> {
        self.inner.with(|i| i.arena)
    }

    fn mmio_phys_to_virt(&self, phys: u64, len: usize) -> Option<usize> {
        self.inner
            .with(|i| i.mmio.iter().find_map(|w| w.phys_to_virt(phys, len)))
    }
}

/// Names the `static` pool a [`PoolHal`] uses (`Hal` methods have no `self`).
pub trait PoolSource {
    /// The pool.
    fn pool() -> &'static DmaPool;
}

/// A `virtio-drivers` `Hal` on a [`DmaPool`].
pub struct PoolHal<P: PoolSource>(PhantomData<P>);

/// Overwrites `len` bytes at `virt` with zeros.
///
/// # Safety
///
/// The range lies in the arena and belongs to the caller (just allocated, or being released).
unsafe fn wipe(virt: usize, len: usize) {
    // SAFETY: the caller owns the range.
    unsafe { core::ptr::write_bytes(virt as *mut u8, 0, len) };
    // Keep the wipe ordered before the pages are handed out again (and not elided as a dead
    // store: the memory stays reachable through the pool).
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned runs of the arena that are not handed out
// again until `dma_dealloc`; the arena is valid memory by `DmaPool::init`'s contract; `share`
// returns the physical address of the buffer itself (arena) or of a private bounce holding its
// contents; `mmio_phys_to_virt` only translates registered MMIO windows.
unsafe impl<P: PoolSource> Hal for PoolHal<P> {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match P::pool().alloc(pages) {
            Some((phys, virt)) => {
                // Free pages are kept zeroed (wiped on release), so the run is already zero.
                // `virt` lies in the arena, which does not start at address 0.
                (
                    phys,
                    NonNull::new(virt as *mut u8).unwrap_or(NonNull::dangling()),
                )
            }
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller returns a run `dma_alloc` gave out; nobody uses it any more.
        unsafe { wipe(vaddr.as_ptr() as usize, pages.max(1) * PAGE_SIZE) };
        P::pool().free(vaddr.as_ptr() as usize, pages);
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        match P::pool().mmio_phys_to_virt(paddr, size) {
            Some(v) => NonNull::new(v as *mut u8).unwrap_or(NonNull::dangling()),
            None => panic!("mmio_phys_to_virt: {paddr:#x} is in no registered MMIO window"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let virt = buffer.as_ptr().cast::<u8>() as usize;
        let len = buffer.len();
        let Some(arena) = P::pool().arena() else {
            panic!("PoolHal::share before DmaPool::init");
        };
        if let Some(phys) = arena.virt_to_phys(virt, len) {
            return phys;
        }
        let pages = len.div_ceil(PAGE_SIZE);
        let Some((phys, bounce)) = P::pool().alloc(pages) else {
            panic!("DMA pool exhausted bouncing {len} bytes");
        };
        // Free pages are kept zeroed, so the bounce starts as zeros.
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller guarantees `buffer` is valid for reads; the bounce is a fresh
            // run of the arena of at least `len` bytes, disjoint from it.
            unsafe { core::ptr::copy_nonoverlapping(virt as *const u8, bounce as *mut u8, len) };
        }
        phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let virt = buffer.as_ptr().cast::<u8>() as usize;
        let len = buffer.len();
        let Some(arena) = P::pool().arena() else {
            return;
        };
        if arena.virt_to_phys(virt, len).is_some() {
            // Shared in place: nothing to copy or free.
            return;
        }
        let Some(bounce) = arena.phys_to_virt(paddr, len) else {
            return;
        };
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: the caller guarantees `buffer` is valid for writes and not otherwise
            // accessed; the bounce holds `len` bytes the device wrote.
            unsafe { core::ptr::copy_nonoverlapping(bounce as *const u8, virt as *mut u8, len) };
        }
        let pages = len.div_ceil(PAGE_SIZE);
        // Only the first `len` bytes were ever written (by us or the device).
        // SAFETY: the bounce run `share` allocated for this buffer; released right after.
        unsafe { wipe(bounce, len) };
        P::pool().free(bounce, pages);
    }
}
