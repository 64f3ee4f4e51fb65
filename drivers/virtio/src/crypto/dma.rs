//! Driver-owned DMA buffers, allocated through [`Hal::dma_alloc`] with the direction the device
//! uses them in. Keys and payload bounces live here rather than on the heap, so a `Hal` that
//! recognises its own DMA memory can share them without another copy, and the driver controls
//! when their bytes are wiped (on every use and on drop).

use core::marker::PhantomData;
use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};
use zeroize::Zeroize;

/// A physically contiguous, zero-initialised DMA region of whole pages.
pub(crate) struct DmaBuf<H: Hal> {
    paddr: PhysAddr,
    vaddr: NonNull<u8>,
    pages: usize,
    _hal: PhantomData<H>,
}

impl<H: Hal> DmaBuf<H> {
    /// Allocates at least `len` bytes (rounded up to pages) for `direction`.
    pub(crate) fn new(
        len: usize,
        direction: BufferDirection,
    ) -> Result<Self, virtio_drivers::Error> {
        let pages = len.max(1).div_ceil(PAGE_SIZE);
        let (paddr, vaddr) = H::dma_alloc(pages, direction);
        if paddr == 0 {
            return Err(virtio_drivers::Error::DmaError);
        }
        Ok(Self {
            paddr,
            vaddr,
            pages,
            _hal: PhantomData,
        })
    }

    /// The whole region.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `dma_alloc` promised `pages` pages of valid memory at `vaddr`, owned by this
        // value until `dma_dealloc` in drop, and zero-initialised. The device only accesses it
        // while a request holding a borrow of it is in flight, so no write can race this read.
        unsafe { core::slice::from_raw_parts(self.vaddr.as_ptr(), self.pages * PAGE_SIZE) }
    }

    /// The whole region, mutably.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.vaddr.as_ptr(), self.pages * PAGE_SIZE) }
    }
}

impl<H: Hal> Drop for DmaBuf<H> {
    fn drop(&mut self) {
        self.as_mut_slice().zeroize();
        // SAFETY: `paddr`, `vaddr` and `pages` are exactly what `dma_alloc` returned and the
        // region is not used after this.
        unsafe { H::dma_dealloc(self.paddr, self.vaddr, self.pages) };
    }
}

// SAFETY: the region is plain memory owned by this value; access goes through `&self`/`&mut
// self`, so moving it to another thread is as safe as moving a `Vec<u8>`.
unsafe impl<H: Hal> Send for DmaBuf<H> {}
