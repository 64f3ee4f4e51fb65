//! Physical memory as the kernel sees it: the frame allocator over RAM minus the kernel image,
//! the identity map of RAM (a 1 GiB global leaf per GiB, no U bit) that every address space
//! shares, and the MMIO window in the upper half through which the kernel reaches devices.

use qemu_kernel::frames::{FRAME_SIZE, FrameAllocator};
use qemu_kernel::platform::Platform;
use qemu_kernel::sv39::{self, GIGAPAGE, PTE_G, PTE_R, PTE_W, PTE_X, Table, TableMemory};

/// Up to 1 GiB of RAM is managed (64 Ki bits of bitmap per 256 MiB).
const BITMAP_WORDS: usize = (1 << 30) / FRAME_SIZE / 64;

/// Where the kernel sees physical address 0 once paging is on: the MMIO window (devices live in
/// the first GiB of the virt machine's physical map).
pub const MMIO_WINDOW: usize = 0xFFFF_FFC0_0000_0000;

/// The frame allocator and the root table every address space starts from.
pub struct Memory {
    /// Free frames.
    pub frames: FrameAllocator<BITMAP_WORDS>,
    /// The kernel-only root table: RAM identity map plus the MMIO window.
    pub kernel_root: usize,
    /// The RAM range `[start, end)` that the identity map covers (user addresses avoid it).
    pub ram: (usize, usize),
}

impl Memory {
    /// Nothing set up yet.
    pub const fn empty() -> Self {
        Self {
            frames: FrameAllocator::empty(),
            kernel_root: 0,
            ram: (0, 0),
        }
    }

    /// Takes the RAM after the kernel image and builds the kernel's root table.
    pub fn init(&mut self, platform: &Platform, kernel_end: usize) -> Option<()> {
        let region = platform.memory.first()?;
        let (start, end) = (region.base, region.base + region.size);
        self.ram = (
            start / GIGAPAGE * GIGAPAGE,
            end.div_ceil(GIGAPAGE) * GIGAPAGE,
        );
        self.frames.init(kernel_end.max(start), end);
        let root = self.alloc_table()?;
        self.kernel_root = root;
        let table = self.table(root);
        let mut base = start / GIGAPAGE * GIGAPAGE;
        while base < end {
            sv39::map_gigapage(table, base, base, PTE_R | PTE_W | PTE_X | PTE_G);
            base += GIGAPAGE;
        }
        sv39::map_gigapage(table, MMIO_WINDOW, 0, PTE_R | PTE_W | PTE_G);
        Some(())
    }

    /// Whether `[va, va + len)` lies in the user part of the address space (lower half, away
    /// from the kernel's identity map of RAM).
    pub fn is_user_range(&self, va: usize, len: usize) -> bool {
        let Some(end) = va.checked_add(len) else {
            return false;
        };
        end <= sv39::LOWER_HALF_END && (end <= self.ram.0 || va >= self.ram.1)
    }

    /// A new root table sharing the kernel's mappings.
    pub fn new_root(&mut self) -> Option<usize> {
        let root = self.alloc_table()?;
        let kernel = *self.table(self.kernel_root);
        *self.table(root) = kernel;
        Some(root)
    }

    /// A zeroed frame.
    pub fn alloc_zeroed(&mut self) -> Option<usize> {
        let frame = self.frames.alloc()?;
        zero(frame, FRAME_SIZE);
        Some(frame)
    }

    /// The bytes of a frame (or of any RAM), through the identity map.
    pub fn bytes(&mut self, pa: usize, len: usize) -> &mut [u8] {
        // SAFETY: callers pass physical addresses of RAM frames this allocator handed out (task
        // pages, page tables, message slots), which the identity map covers; the kernel is
        // single-threaded, so no other reference to those bytes is live while this one is.
        unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, len) }
    }
}

fn zero(pa: usize, len: usize) {
    // SAFETY: `pa` is a frame just taken from the allocator, identity-mapped and unshared.
    unsafe { core::ptr::write_bytes(pa as *mut u8, 0, len) };
}

impl TableMemory for Memory {
    fn alloc_table(&mut self) -> Option<usize> {
        self.alloc_zeroed()
    }

    fn table(&mut self, pa: usize) -> &mut Table {
        // SAFETY: page tables are frames from this allocator (identity-mapped, 4 KiB aligned);
        // the kernel is single-threaded and holds no other reference to a table while walking.
        unsafe { &mut *(pa as *mut Table) }
    }
}

/// Overwrites secret bytes on the stack before they go out of scope; volatile, so the compiler
/// cannot drop the stores as dead.
pub fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, exclusive reference to one byte.
        unsafe { core::ptr::write_volatile(b, 0) };
    }
}
