//! Host fakes: an identity-mapped DMA [`FakeHal`], a [`FakeTransport`] that serves split
//! virtqueues (virtio 1.2 §2.7) synchronously when the driver notifies, and fake devices.
//!
//! `virtio-drivers` keeps its own fake transport behind `cfg(test)`, so this crate has its own.
//! The transport plays the device side of a split queue from the addresses the driver gave it in
//! `queue_set`: it walks the descriptor chains the driver made available, hands the device the
//! concatenated device-readable bytes and a device-writable buffer (as the driver left it) (the linear view QEMU
//! also takes), scatters the written bytes back and publishes a used-ring entry. Direct
//! descriptors only: the fake devices offer neither `INDIRECT_DESC` nor `EVENT_IDX`.

mod blk;
mod crypto;

pub use blk::FakeBlkDevice;
pub use crypto::{FakeCryptoDevice, FakeFault};

use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A DMA `Hal` for host tests: memory from the global allocator, physical address = virtual
/// address, sharing without copies.
pub struct FakeHal;

fn dma_layout(pages: usize) -> core::alloc::Layout {
    // PAGE_SIZE is a power of two and the size cannot overflow for test-sized allocations.
    core::alloc::Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE)
        .unwrap_or(core::alloc::Layout::new::<u8>())
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned memory from the global allocator that is
// owned by the caller until `dma_dealloc`; physical addresses equal virtual addresses, so
// `mmio_phys_to_virt` and `share` return pointers to the very memory given.
unsafe impl Hal for FakeHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let layout = dma_layout(pages);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        match NonNull::new(ptr) {
            Some(p) => (p.as_ptr() as usize as PhysAddr, p),
            // virtio-drivers treats physical address 0 as an allocation failure.
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller passes back what `dma_alloc` returned for `pages` pages, so the
        // pointer came from `alloc_zeroed` with this layout.
        unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), dma_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// What a fake device does with one descriptor chain.
pub trait FakeDevice {
    /// The device type the transport reports.
    fn device_type(&self) -> DeviceType;
    /// Feature bits offered.
    fn features(&self) -> u64;
    /// The configuration space.
    fn config_space(&self) -> &[u8];
    /// Number of queues.
    fn queue_count(&self) -> u16;
    /// Serves one request on `queue`: `readable` is every device-readable byte of the chain in
    /// order, `writable` the device-writable space (holding what the driver put there). Returns the used length to report.
    fn serve(&mut self, queue: u16, readable: &[u8], writable: &mut [u8]) -> u32;
}

/// Queue size the fake transport allows.
pub const FAKE_QUEUE_SIZE: u32 = 16;

#[derive(Clone, Copy, Debug)]
struct QueueState {
    size: u16,
    descriptors: PhysAddr,
    driver_area: PhysAddr,
    device_area: PhysAddr,
    last_avail: u16,
    used_idx: u16,
}

/// A transport for host tests in front of a [`FakeDevice`]; requests are served during
/// `notify`, so a driver's wait loop finds them complete, unless [`FakeTransport::set_deferred`]
/// holds them back until the driver acknowledges an interrupt (see there).
pub struct FakeTransport<D: FakeDevice> {
    /// The device (tests inspect and reconfigure it between requests).
    pub device: D,
    status: DeviceStatus,
    driver_features: u64,
    queues: Vec<Option<QueueState>>,
    /// Requests served so far, per queue.
    pub served: Vec<u64>,
    /// Serve on interrupt acknowledgement instead of on notification.
    deferred: bool,
    /// Queues notified and not yet served (bit n = queue n), in deferred mode.
    pending: u64,
    /// The used-buffer bit of the interrupt status (§4.2.2.1), set when a request is served.
    interrupt: bool,
    /// Interrupt acknowledgements that found the status set.
    pub interrupts_acked: u64,
}

impl<D: FakeDevice> FakeTransport<D> {
    /// A transport in front of `device`.
    pub fn new(device: D) -> Self {
        let n = usize::from(device.queue_count());
        Self {
            device,
            status: DeviceStatus::empty(),
            driver_features: 0,
            queues: vec![None; n],
            served: vec![0; n],
            deferred: false,
            pending: 0,
            interrupt: false,
            interrupts_acked: 0,
        }
    }

    /// In deferred mode a notification only marks the queue pending, so the driver finds the
    /// used ring empty and has to wait; the device serves pending queues when the driver
    /// acknowledges the interrupt (`ack_interrupt`), i.e. the completion and its interrupt
    /// arrive while the driver waits. A waiter that never acknowledges never sees a completion,
    /// like a device whose interrupt is lost.
    pub fn set_deferred(&mut self, deferred: bool) {
        self.deferred = deferred;
    }

    /// Whether notified requests are waiting to be served (deferred mode).
    pub fn has_pending(&self) -> bool {
        self.pending != 0
    }

    /// The features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    fn process(&mut self, queue: u16) {
        let Some(Some(mut q)) = self.queues.get(usize::from(queue)).copied() else {
            return;
        };
        let mask = q.size - 1;
        loop {
            // SAFETY: `driver_area` is the available ring the driver allocated (identity-mapped
            // by FakeHal) and gave us in `queue_set`; `idx` is its second u16.
            let avail_idx = unsafe { read_u16(q.driver_area + 2) };
            if avail_idx == q.last_avail {
                break;
            }
            // Acquire: read the ring entry and descriptors only after seeing the new index.
            fence(Ordering::SeqCst);
            let slot = u64::from(q.last_avail & mask);
            // SAFETY: as above; ring entries follow `flags` and `idx`.
            let head = unsafe { read_u16(q.driver_area + 4 + 2 * slot) };
            let (readable, writable) = walk_chain(&q, head);
            let mut input = Vec::new();
            for &(addr, len) in &readable {
                // SAFETY: the driver shared this buffer (device-readable) through FakeHal.
                input.extend_from_slice(unsafe {
                    core::slice::from_raw_parts(addr as usize as *const u8, len)
                });
            }
            // The device sees the writable buffers as they are and changes only what it writes,
            // so a device that writes nothing leaves the driver's initial values in place.
            let mut output = Vec::new();
            for &(addr, len) in &writable {
                // SAFETY: the driver shared this buffer (device-writable) through FakeHal.
                output.extend_from_slice(unsafe {
                    core::slice::from_raw_parts(addr as usize as *const u8, len)
                });
            }
            let used_len = self.device.serve(queue, &input, &mut output);
            let mut off = 0;
            for &(addr, len) in &writable {
                // SAFETY: the driver shared this buffer (device-writable) through FakeHal and
                // does not touch it until the used entry below is published.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        output[off..].as_ptr(),
                        addr as usize as *mut u8,
                        len,
                    )
                };
                off += len;
            }
            let used_slot = u64::from(q.used_idx & mask);
            // SAFETY: `device_area` is the used ring; entries (id: u32, len: u32) follow
            // `flags` and `idx`.
            unsafe {
                write_u32(q.device_area + 4 + 8 * used_slot, u32::from(head));
                write_u32(q.device_area + 8 + 8 * used_slot, used_len);
            }
            // Release: the entry and the written buffers are visible before the new index.
            fence(Ordering::SeqCst);
            q.used_idx = q.used_idx.wrapping_add(1);
            // SAFETY: as above; `idx` is the used ring's second u16.
            unsafe { write_u16(q.device_area + 2, q.used_idx) };
            q.last_avail = q.last_avail.wrapping_add(1);
            if let Some(n) = self.served.get_mut(usize::from(queue)) {
                *n += 1;
            }
            self.interrupt = true;
        }
        self.queues[usize::from(queue)] = Some(q);
    }
}

/// Device-readable and device-writable (address, length) lists of the chain at `head`.
type Chain = (Vec<(PhysAddr, usize)>, Vec<(PhysAddr, usize)>);

fn walk_chain(q: &QueueState, head: u16) -> Chain {
    const NEXT: u16 = 1;
    const WRITE: u16 = 2;
    let (mut readable, mut writable) = (Vec::new(), Vec::new());
    let mut index = head;
    for _ in 0..q.size {
        let desc = q.descriptors + 16 * u64::from(index % q.size);
        // SAFETY: the descriptor table holds `size` 16-byte descriptors (addr u64, len u32,
        // flags u16, next u16), allocated by the driver and identity-mapped.
        let (addr, len, flags, next) = unsafe {
            (
                read_u64(desc),
                read_u32(desc + 8),
                read_u16(desc + 12),
                read_u16(desc + 14),
            )
        };
        if flags & WRITE != 0 {
            writable.push((addr, len as usize));
        } else {
            readable.push((addr, len as usize));
        }
        if flags & NEXT == 0 {
            break;
        }
        index = next;
    }
    (readable, writable)
}

// The helpers below access identity-mapped guest memory of the fake: callers pass an address
// inside memory the driver allocated or shared, and unaligned byte-array accesses are used so no
// alignment is assumed.

/// # Safety
/// `addr..addr + 2` is readable memory the driver allocated or shared.
unsafe fn read_u16(addr: PhysAddr) -> u16 {
    // SAFETY: the caller guarantees the range is readable; `[u8; 2]` has alignment 1.
    u16::from_le_bytes(unsafe { core::ptr::read_volatile(addr as usize as *const [u8; 2]) })
}

/// # Safety
/// `addr..addr + 4` is readable memory the driver allocated or shared.
unsafe fn read_u32(addr: PhysAddr) -> u32 {
    // SAFETY: the caller guarantees the range is readable; `[u8; 4]` has alignment 1.
    u32::from_le_bytes(unsafe { core::ptr::read_volatile(addr as usize as *const [u8; 4]) })
}

/// # Safety
/// `addr..addr + 8` is readable memory the driver allocated or shared.
unsafe fn read_u64(addr: PhysAddr) -> u64 {
    // SAFETY: the caller guarantees the range is readable; `[u8; 8]` has alignment 1.
    u64::from_le_bytes(unsafe { core::ptr::read_volatile(addr as usize as *const [u8; 8]) })
}

/// # Safety
/// `addr..addr + 2` is writable memory the driver allocated for the device.
unsafe fn write_u16(addr: PhysAddr, v: u16) {
    // SAFETY: the caller guarantees the range is writable; `[u8; 2]` has alignment 1.
    unsafe { core::ptr::write_volatile(addr as usize as *mut [u8; 2], v.to_le_bytes()) }
}

/// # Safety
/// `addr..addr + 4` is writable memory the driver allocated for the device.
unsafe fn write_u32(addr: PhysAddr, v: u32) {
    // SAFETY: the caller guarantees the range is writable; `[u8; 4]` has alignment 1.
    unsafe { core::ptr::write_volatile(addr as usize as *mut [u8; 4], v.to_le_bytes()) }
}

impl<D: FakeDevice> Transport for FakeTransport<D> {
    fn device_type(&self) -> DeviceType {
        self.device.device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        self.device.features()
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.driver_features = driver_features;
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        if queue < self.device.queue_count() {
            FAKE_QUEUE_SIZE
        } else {
            0
        }
    }
    fn notify(&mut self, queue: u16) {
        if self.deferred && queue < 64 {
            self.pending |= 1 << queue;
        } else {
            self.process(queue);
        }
    }
    fn get_status(&self) -> DeviceStatus {
        self.status
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.status = status;
    }
    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}
    fn requires_legacy_layout(&self) -> bool {
        false
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        if let Some(q) = self.queues.get_mut(usize::from(queue)) {
            *q = Some(QueueState {
                size: size as u16,
                descriptors,
                driver_area,
                device_area,
                last_avail: 0,
                used_idx: 0,
            });
        }
    }
    fn queue_unset(&mut self, queue: u16) {
        if let Some(q) = self.queues.get_mut(usize::from(queue)) {
            *q = None;
        }
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        matches!(self.queues.get(usize::from(queue)), Some(Some(_)))
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        // Deferred mode: the device finished the pending requests before the driver read the
        // interrupt status.
        while self.pending != 0 {
            let queue = self.pending.trailing_zeros() as u16;
            self.pending &= !(1 << queue);
            self.process(queue);
        }
        if core::mem::take(&mut self.interrupt) {
            self.interrupts_acked += 1;
            InterruptStatus::QUEUE_INTERRUPT
        } else {
            InterruptStatus::empty()
        }
    }
    fn read_config_generation(&self) -> u32 {
        0
    }
    fn read_config_space<T: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<T> {
        let bytes = self
            .device
            .config_space()
            .get(offset..offset + core::mem::size_of::<T>())
            .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| virtio_drivers::Error::ConfigSpaceTooSmall)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> virtio_drivers::Result<()> {
        Err(virtio_drivers::Error::Unsupported)
    }
}
