//! The kernel's entropy source: the machine's virtio-rng device (virtio 1.2, section 5.4),
//! driven by the kernel itself (no task is granted it) through a minimal polled virtio-mmio
//! driver: modern register layout (version 2), one split virtqueue of one device-writable
//! descriptor, interrupts suppressed, one request in flight at a time.
//!
//! Why not the `virtio-drivers` crate the user-space drivers use: its `Hal` hands out DMA memory
//! through associated functions (global state the kernel would have to expose), and its request
//! path (`add_notify_wait_pop`) spins until the device answers, with no way out when a device
//! never does. The kernel needs one kind of request with a deadline, so this is ~200 lines it
//! can reason about entirely.
//!
//! The queue and the buffer are one static, page-aligned block in the kernel image. The kernel
//! runs with RAM identity-mapped (before and after `satp` is switched on), so the address of
//! that static is also its physical address, which is what the device is given. The registers
//! are reached through the address the caller passes (the MMIO window once paging is on).
//!
//! A misbehaving device never hangs or panics the kernel: every wait has a deadline (the `time`
//! CSR), an answer naming another descriptor or claiming more bytes than were offered is an
//! error, repeated empty answers are an error, and so is a fill of one repeated byte. On any
//! error the device is reset (so it stops touching the queue) and abandoned.

use core::cell::UnsafeCell;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use crate::arch::riscv64::{csr, io_fence};

use kernel_abi::device::virtio::regs::*;
use kernel_abi::device::virtio::status::*;
use kernel_abi::device::virtio::{MAGIC_VALUE as VIRTIO_MAGIC, VERSION_MODERN as MODERN, id};

/// VIRTIO_F_VERSION_1 is feature bit 32: bit 0 of the second feature word.
const VERSION_1_HIGH: u32 = 1;

/// Descriptor flag: the device writes this buffer.
const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Available-ring flag: do not interrupt when a buffer is used (we poll).
const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Bytes asked for per request; a fill of more takes several.
const BUF_LEN: usize = 64;
/// Empty answers tolerated per fill before the device counts as broken.
const MAX_EMPTY_ANSWERS: u32 = 8;

#[repr(C)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[repr(C)]
struct Avail {
    flags: u16,
    idx: u16,
    ring: [u16; 1],
    used_event: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UsedElem {
    id: u32,
    len: u32,
}

#[repr(C)]
struct Used {
    flags: u16,
    idx: u16,
    ring: [UsedElem; 1],
    avail_event: u16,
}

/// The split virtqueue of size 1 (section 2.7) and the buffer the device fills. `repr(C)` keeps
/// each part at its required alignment (descriptors 16, available ring 2, used ring 4): the
/// descriptor table is at offset 0 of the page, the rings and buffer follow it.
#[repr(C, align(4096))]
struct QueueMemory {
    desc: [Desc; 1],
    avail: Avail,
    used: Used,
    buf: [u8; BUF_LEN],
}

struct Shared(UnsafeCell<QueueMemory>);

// SAFETY: one hart, and the kernel runs with interrupts masked: the driver (the only code that
// touches this block) never runs concurrently with itself. The device's writes are read with
// volatile loads.
unsafe impl Sync for Shared {}

static QUEUE: Shared = Shared(UnsafeCell::new(QueueMemory {
    desc: [Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    }],
    avail: Avail {
        flags: 0,
        idx: 0,
        ring: [0],
        used_event: 0,
    },
    used: Used {
        flags: 0,
        idx: 0,
        ring: [UsedElem { id: 0, len: 0 }],
        avail_event: 0,
    },
    buf: [0; BUF_LEN],
}));

/// Why the entropy device gave nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyError {
    /// The machine has no virtio-rng device.
    NoDevice,
    /// The device is not a modern (virtio 1.x) one.
    Legacy,
    /// The device refused the feature set (only VIRTIO_F_VERSION_1).
    FeaturesRefused,
    /// The device's queue 0 is missing or already in use.
    NoQueue,
    /// The device did not answer before the deadline.
    Timeout,
    /// The device answered with another descriptor or more bytes than offered.
    BadAnswer,
    /// The device kept answering with no bytes.
    NoBytes,
    /// The device asked to be reset.
    NeedsReset,
    /// Every byte of a fill was the same: a stuck source (a crude health test in the spirit of
    /// SP 800-90B's repetition count test; a working source does this with probability
    /// 2^-120 or less for the 16 bytes or more the kernel asks for).
    Stuck,
    /// The device failed earlier and was abandoned.
    Abandoned,
}

impl EntropyError {
    /// A short description for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoDevice => "no virtio-rng device",
            Self::Legacy => "the virtio-rng device is not virtio 1.x",
            Self::FeaturesRefused => "the virtio-rng device refused the features",
            Self::NoQueue => "the virtio-rng device has no usable queue",
            Self::Timeout => "the virtio-rng device did not answer in time",
            Self::BadAnswer => "the virtio-rng device answered malformed",
            Self::NoBytes => "the virtio-rng device returned no bytes",
            Self::NeedsReset => "the virtio-rng device needs a reset",
            Self::Stuck => "the virtio-rng device returned constant bytes",
            Self::Abandoned => "the virtio-rng device was abandoned after an error",
        }
    }
}

/// The driver's state: where the registers are, the ring indices, whether the device works.
pub struct VirtioRng {
    /// The registers' address as the kernel sees it (0: no device).
    base: usize,
    /// The next available-ring index we publish.
    avail_idx: u16,
    /// The used-ring index we have consumed up to.
    used_idx: u16,
    /// Set up and not failed.
    ready: bool,
}

impl VirtioRng {
    /// No device.
    pub const fn absent() -> Self {
        Self {
            base: 0,
            avail_idx: 0,
            used_idx: 0,
            ready: false,
        }
    }

    /// Whether the device is set up and has not failed.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Sets up the virtio-rng device whose registers the kernel reaches at `base` (mapped,
    /// 0x200 bytes): negotiates VIRTIO_F_VERSION_1 only and installs the static queue. Gives up
    /// at `deadline` (a `time` value).
    pub fn init(base: usize, deadline: u64) -> Result<Self, EntropyError> {
        let mut dev = Self {
            base,
            avail_idx: 0,
            used_idx: 0,
            ready: false,
        };
        if dev.read(MAGIC) != VIRTIO_MAGIC || dev.read(DEVICE_ID) != id::ENTROPY {
            return Err(EntropyError::NoDevice);
        }
        if dev.read(VERSION) != MODERN {
            return Err(EntropyError::Legacy);
        }
        match dev.negotiate(deadline) {
            Ok(()) => {
                dev.ready = true;
                Ok(dev)
            }
            Err(e) => {
                dev.write(STATUS, dev.read(STATUS) | FAILED);
                Err(e)
            }
        }
    }

    /// The initialization sequence of section 3.1.1, with the queue set up per 4.2.3.2.
    fn negotiate(&mut self, deadline: u64) -> Result<(), EntropyError> {
        self.reset(deadline)?;
        self.write(STATUS, ACKNOWLEDGE);
        self.write(STATUS, ACKNOWLEDGE | DRIVER);
        self.write(DEVICE_FEATURES_SEL, 1);
        if self.read(DEVICE_FEATURES) & VERSION_1_HIGH == 0 {
            return Err(EntropyError::Legacy);
        }
        // Only VERSION_1: no indirect descriptors, no event index, nothing device-specific
        // (the entropy device defines no feature bits).
        self.write(DRIVER_FEATURES_SEL, 0);
        self.write(DRIVER_FEATURES, 0);
        self.write(DRIVER_FEATURES_SEL, 1);
        self.write(DRIVER_FEATURES, VERSION_1_HIGH);
        self.write(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        if self.read(STATUS) & FEATURES_OK == 0 {
            return Err(EntropyError::FeaturesRefused);
        }
        self.write(QUEUE_SEL, 0);
        if self.read(QUEUE_READY) != 0 || self.read(QUEUE_NUM_MAX) == 0 {
            return Err(EntropyError::NoQueue);
        }
        self.write(QUEUE_NUM, 1);
        let q = QUEUE.0.get();
        // SAFETY: `q` points at the static queue block; only this driver touches it, and the
        // device does not yet (the queue is not ready). Raw-pointer volatile writes leave no
        // reference alive that the device's later writes could invalidate.
        unsafe {
            write_volatile(addr_of_mut!((*q).avail.flags), VIRTQ_AVAIL_F_NO_INTERRUPT);
            write_volatile(addr_of_mut!((*q).avail.idx), 0);
            write_volatile(addr_of_mut!((*q).used.idx), 0);
        }
        // The kernel's RAM is identity-mapped: these addresses are physical ones.
        let (desc, avail, used) = (
            addr_of!(QUEUE) as u64,
            // SAFETY: field projections of the static block, no access.
            unsafe { addr_of!((*q).avail) } as u64,
            // SAFETY: as above.
            unsafe { addr_of!((*q).used) } as u64,
        );
        self.write(QUEUE_DESC_LOW, desc as u32);
        self.write(QUEUE_DESC_HIGH, (desc >> 32) as u32);
        self.write(QUEUE_DRIVER_LOW, avail as u32);
        self.write(QUEUE_DRIVER_HIGH, (avail >> 32) as u32);
        self.write(QUEUE_DEVICE_LOW, used as u32);
        self.write(QUEUE_DEVICE_HIGH, (used >> 32) as u32);
        io_fence();
        self.write(QUEUE_READY, 1);
        self.write(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        if self.read(STATUS) & (DEVICE_NEEDS_RESET | FAILED) != 0 {
            return Err(EntropyError::NeedsReset);
        }
        Ok(())
    }

    /// Writes 0 to the status register and waits for it to read back 0 (section 4.2.3.1.1):
    /// afterwards the device no longer uses the queue.
    fn reset(&mut self, deadline: u64) -> Result<(), EntropyError> {
        self.write(STATUS, 0);
        while self.read(STATUS) != 0 {
            if csr::time() >= deadline {
                return Err(EntropyError::Timeout);
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    /// Fills `out` with bytes from the device, by as many requests as needed, before
    /// `deadline`. On any error the device is reset and abandoned, and `out` is zeroed (never
    /// half entropy, half zeros passed on as if whole).
    pub fn fill(&mut self, out: &mut [u8], deadline: u64) -> Result<(), EntropyError> {
        if !self.ready {
            return Err(EntropyError::Abandoned);
        }
        let result = self.fill_inner(out, deadline);
        if result.is_err() {
            out.fill(0);
            self.abandon();
        }
        result
    }

    fn fill_inner(&mut self, out: &mut [u8], deadline: u64) -> Result<(), EntropyError> {
        let mut done = 0;
        let mut empty = 0;
        while done < out.len() {
            let want = (out.len() - done).min(BUF_LEN);
            let got = self.request(want, deadline)?;
            if got == 0 {
                // A short (here: empty) answer is legal; many in a row are not progress.
                empty += 1;
                if empty >= MAX_EMPTY_ANSWERS {
                    return Err(EntropyError::NoBytes);
                }
                continue;
            }
            let q = QUEUE.0.get();
            for (i, byte) in out[done..done + got].iter_mut().enumerate() {
                // SAFETY: `i < got <= BUF_LEN`, inside the static buffer; the device has
                // returned it (used ring), so it no longer writes there.
                *byte = unsafe { read_volatile(addr_of!((*q).buf[i])) };
            }
            done += got;
        }
        if out.len() >= 16 && out.iter().all(|&b| b == out[0]) {
            return Err(EntropyError::Stuck);
        }
        // Leave no copy of the entropy in the DMA buffer.
        let q = QUEUE.0.get();
        for i in 0..BUF_LEN {
            // SAFETY: inside the static buffer, not owned by the device (no request pending).
            unsafe { write_volatile(addr_of_mut!((*q).buf[i]), 0) };
        }
        Ok(())
    }

    /// One request for `len` (≤ `BUF_LEN`) bytes; returns how many the device wrote.
    fn request(&mut self, len: usize, deadline: u64) -> Result<usize, EntropyError> {
        let q = QUEUE.0.get();
        // SAFETY: the static queue block; the device owns no descriptor now (no request is in
        // flight between calls), so these writes race with nothing.
        unsafe {
            write_volatile(
                addr_of_mut!((*q).desc[0]),
                Desc {
                    addr: addr_of!((*q).buf) as u64,
                    len: len as u32,
                    flags: VIRTQ_DESC_F_WRITE,
                    next: 0,
                },
            );
            write_volatile(addr_of_mut!((*q).avail.ring[0]), 0);
        }
        // The descriptor and ring entry must be visible before the index that publishes them.
        io_fence();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // SAFETY: as above; the device reads this index after the notification.
        unsafe { write_volatile(addr_of_mut!((*q).avail.idx), self.avail_idx) };
        // ... and the index before the notification (a device register write).
        io_fence();
        self.write(QUEUE_NOTIFY, 0);
        loop {
            // SAFETY: the used ring's index, written by the device: read volatile.
            let used = unsafe { read_volatile(addr_of!((*q).used.idx)) };
            if used != self.used_idx {
                break;
            }
            if self.read(STATUS) & DEVICE_NEEDS_RESET != 0 {
                return Err(EntropyError::NeedsReset);
            }
            if csr::time() >= deadline {
                return Err(EntropyError::Timeout);
            }
            core::hint::spin_loop();
        }
        // Read the element only after seeing the index that covers it.
        io_fence();
        // SAFETY: the used ring's element, written by the device before it moved the index.
        let elem = unsafe { read_volatile(addr_of!((*q).used.ring[0])) };
        self.used_idx = self.used_idx.wrapping_add(1);
        // We asked for no interrupt; acknowledge any the device raised anyway.
        let pending = self.read(INTERRUPT_STATUS);
        if pending != 0 {
            self.write(INTERRUPT_ACK, pending);
        }
        let got = elem.len as usize;
        if elem.id != 0 || got > len {
            return Err(EntropyError::BadAnswer);
        }
        Ok(got)
    }

    /// Resets the device (it lets go of the queue) and stops using it. The reset is not waited
    /// for beyond a moment: a device that does not even reset is simply never touched again.
    fn abandon(&mut self) {
        self.ready = false;
        let deadline = csr::time().saturating_add(1_000_000);
        let _ = self.reset(deadline);
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `base` is the mapped register window of a virtio-mmio slot (the caller found
        // it in the device tree) and `offset` one of the 32-bit registers of section 4.2.2.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`; the kernel alone drives this device.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}
