//! The physical frame allocator: one bit per 4 KiB frame of a contiguous RAM range, set when the
//! frame is in use. Single frames for page tables and task pages, contiguous runs for DMA.

/// The size of a frame (and of a page), in bytes.
pub const FRAME_SIZE: usize = 4096;

/// A bitmap allocator over `frames` frames starting at physical address `base`.
///
/// `WORDS` bounds the number of frames it can manage (`64 * WORDS`); the bitmap lives inside the
/// value, so the kernel keeps one in a static and never allocates for it.
pub struct FrameAllocator<const WORDS: usize> {
    base: usize,
    frames: usize,
    bits: [u64; WORDS],
    free: usize,
    /// Where the next single-frame search starts (a hint, not a guarantee).
    cursor: usize,
}

impl<const WORDS: usize> FrameAllocator<WORDS> {
    /// An allocator that owns no frames yet.
    pub const fn empty() -> Self {
        Self {
            base: 0,
            frames: 0,
            bits: [u64::MAX; WORDS],
            free: 0,
            cursor: 0,
        }
    }

    /// Takes over the frame-aligned part of `[start, end)`, capped at what the bitmap can hold.
    pub fn init(&mut self, start: usize, end: usize) {
        let first = start.div_ceil(FRAME_SIZE) * FRAME_SIZE;
        let last = end / FRAME_SIZE * FRAME_SIZE;
        let frames = last.saturating_sub(first) / FRAME_SIZE;
        self.base = first;
        self.frames = frames.min(WORDS * 64);
        self.bits = [u64::MAX; WORDS];
        for frame in 0..self.frames {
            self.bits[frame / 64] &= !(1 << (frame % 64));
        }
        self.free = self.frames;
        self.cursor = 0;
    }

    /// Frames not in use.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Frames managed.
    pub fn total_frames(&self) -> usize {
        self.frames
    }

    fn is_used(&self, frame: usize) -> bool {
        self.bits[frame / 64] & (1 << (frame % 64)) != 0
    }

    fn set(&mut self, frame: usize, used: bool) {
        if used {
            self.bits[frame / 64] |= 1 << (frame % 64);
        } else {
            self.bits[frame / 64] &= !(1 << (frame % 64));
        }
    }

    /// Allocates one frame; returns its physical address. The frame's contents are whatever was
    /// there before: the caller zeroes it if it needs to.
    pub fn alloc(&mut self) -> Option<usize> {
        if self.free == 0 {
            return None;
        }
        let words = self.frames.div_ceil(64);
        for step in 0..words {
            let word = (self.cursor / 64 + step) % words;
            let bits = self.bits[word];
            if bits != u64::MAX {
                let bit = (!bits).trailing_zeros() as usize;
                let frame = word * 64 + bit;
                if frame < self.frames {
                    self.set(frame, true);
                    self.free -= 1;
                    self.cursor = frame;
                    return Some(self.base + frame * FRAME_SIZE);
                }
            }
        }
        None
    }

    /// Allocates `count` physically contiguous frames (for DMA); returns the first one's address.
    pub fn alloc_contiguous(&mut self, count: usize) -> Option<usize> {
        if count == 0 || count > self.free {
            return None;
        }
        let mut run = 0;
        for frame in 0..self.frames {
            if self.is_used(frame) {
                run = 0;
                continue;
            }
            run += 1;
            if run == count {
                let first = frame + 1 - count;
                for f in first..=frame {
                    self.set(f, true);
                }
                self.free -= count;
                return Some(self.base + first * FRAME_SIZE);
            }
        }
        None
    }

    /// Returns a frame. Freeing an address that this allocator does not manage, or a frame that
    /// is already free, is ignored (and reported as `false`): a kernel bug must not corrupt the
    /// free count.
    pub fn free(&mut self, addr: usize) -> bool {
        if addr < self.base || !addr.is_multiple_of(FRAME_SIZE) {
            return false;
        }
        let frame = (addr - self.base) / FRAME_SIZE;
        if frame >= self.frames || !self.is_used(frame) {
            return false;
        }
        self.set(frame, false);
        self.free += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_every_frame_once_then_runs_out() {
        let mut a = FrameAllocator::<4>::empty();
        a.init(0x8000_0100, 0x8000_0000 + 10 * FRAME_SIZE);
        // The unaligned start loses its partial frame.
        assert_eq!(a.total_frames(), 9);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(f) = a.alloc() {
            assert_eq!(f % FRAME_SIZE, 0);
            assert!((0x8000_1000..0x8000_0000 + 10 * FRAME_SIZE).contains(&f));
            assert!(seen.insert(f));
        }
        assert_eq!(seen.len(), 9);
        assert_eq!(a.free_frames(), 0);
        assert!(a.free(0x8000_3000));
        assert!(!a.free(0x8000_3000), "double free is refused");
        assert!(!a.free(0x1000), "foreign address is refused");
        assert_eq!(a.alloc(), Some(0x8000_3000));
    }

    #[test]
    fn contiguous_runs_skip_used_frames() {
        let mut a = FrameAllocator::<2>::empty();
        a.init(0, 100 * FRAME_SIZE);
        assert_eq!(a.total_frames(), 100);
        let first = a.alloc().unwrap();
        assert_eq!(first, 0);
        let run = a.alloc_contiguous(10).unwrap();
        assert_eq!(run, FRAME_SIZE);
        a.free(5 * FRAME_SIZE);
        // A hole of one frame does not fit a run of two.
        assert_eq!(a.alloc_contiguous(2), Some(11 * FRAME_SIZE));
        assert_eq!(a.alloc_contiguous(1000), None);
        assert_eq!(a.free_frames(), 100 - 1 - 10 - 2 + 1);
    }

    #[test]
    fn capacity_caps_the_range() {
        let mut a = FrameAllocator::<1>::empty();
        a.init(0, 1000 * FRAME_SIZE);
        assert_eq!(a.total_frames(), 64);
    }
}
