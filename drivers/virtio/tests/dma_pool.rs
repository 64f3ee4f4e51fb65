//! The Zero OS DMA pool `Hal`: page runs, in-place sharing of arena buffers, bounces for the
//! rest (copied in, copied back, wiped), and the crypto driver running on it without leaks.

mod common;

use core::ptr::NonNull;
use std::alloc::{Layout, alloc_zeroed};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE};
use zos_virtio::crypto::VirtioCrypto;
use zos_virtio::dma_pool::{DmaPool, PoolError, PoolHal, PoolSource};
use zos_virtio::engine::VirtioCryptoEngine;
use zos_virtio::fake::{FakeCryptoDevice, FakeTransport};

/// A leaked, page-aligned arena of `pages` pages.
fn arena(pages: usize) -> usize {
    let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).unwrap();
    // SAFETY: non-zero size; leaked on purpose (the pool owns it for the test's life).
    unsafe { alloc_zeroed(layout) as usize }
}

/// Physical addresses deliberately differ from virtual ones.
const OFFSET: u64 = 0x4000_0000_0000;

static POOL_A: DmaPool = DmaPool::new();
struct A;
impl PoolSource for A {
    fn pool() -> &'static DmaPool {
        &POOL_A
    }
}

#[test]
fn pages_translation_and_bounces() {
    let virt = arena(8);
    // SAFETY: the arena is ours, mapped, and OFFSET is its (pretend) physical address.
    unsafe { POOL_A.init(virt, virt as u64 + OFFSET, 8 * PAGE_SIZE) }.unwrap();
    // SAFETY: as above (and a second init is refused before touching anything).
    let again = unsafe { POOL_A.init(virt, virt as u64, 8 * PAGE_SIZE) };
    assert_eq!(again, Err(PoolError::AlreadyInitialised));

    let (phys, ptr) = PoolHal::<A>::dma_alloc(2, BufferDirection::Both);
    assert_eq!(phys, ptr.as_ptr() as u64 + OFFSET);
    assert_eq!(POOL_A.pages_in_use(), 2);

    // A buffer inside the arena is shared in place.
    // SAFETY: two pages just allocated.
    let inside = unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), 100) };
    inside.fill(7);
    let nn = NonNull::from(&mut inside[..]);
    // SAFETY: valid buffer, not otherwise accessed during the calls.
    let p = unsafe { PoolHal::<A>::share(nn, BufferDirection::DriverToDevice) };
    assert_eq!(p, phys);
    assert_eq!(POOL_A.pages_in_use(), 2);
    // SAFETY: as above.
    unsafe { PoolHal::<A>::unshare(p, nn, BufferDirection::DriverToDevice) };

    // A buffer outside is bounced: copied in, then copied back and wiped.
    let mut outside = [0x5au8; 64];
    let nn = NonNull::from(&mut outside[..]);
    // SAFETY: valid buffer, not otherwise accessed until unshare.
    let p = unsafe { PoolHal::<A>::share(nn, BufferDirection::Both) };
    assert_eq!(POOL_A.pages_in_use(), 3);
    let bounce = (p - OFFSET) as usize as *mut u8;
    // SAFETY: the bounce lies in the arena; the "device" reads and writes it.
    unsafe {
        assert_eq!(*bounce, 0x5a);
        bounce.write_bytes(0xc3, 64);
    }
    // SAFETY: the same buffer and address as `share`.
    unsafe { PoolHal::<A>::unshare(p, nn, BufferDirection::Both) };
    assert_eq!(outside, [0xc3; 64]);
    assert_eq!(POOL_A.pages_in_use(), 2);
    // SAFETY: the bounce page is still arena memory; it must have been wiped.
    assert_eq!(unsafe { *bounce }, 0);

    // SAFETY: returning what dma_alloc gave.
    unsafe { PoolHal::<A>::dma_dealloc(phys, ptr, 2) };
    assert_eq!(POOL_A.pages_in_use(), 0);
    // Too large for the arena: the allocation failure virtio-drivers understands.
    assert_eq!(PoolHal::<A>::dma_alloc(9, BufferDirection::Both).0, 0);
}

static POOL_B: DmaPool = DmaPool::new();
struct B;
impl PoolSource for B {
    fn pool() -> &'static DmaPool {
        &POOL_B
    }
}

/// The fake transport reads guest memory at physical addresses, so this pool is identity
/// mapped; request headers on the stack still go through bounces.
#[test]
fn the_crypto_driver_runs_on_the_pool_and_returns_every_page() {
    let virt = arena(64);
    // SAFETY: the arena is ours and identity-mapped for the fake device.
    unsafe { POOL_B.init(virt, virt as u64, 64 * PAGE_SIZE) }.unwrap();
    {
        let dev = VirtioCrypto::<PoolHal<B>, _>::with_bounce_len(
            FakeTransport::new(FakeCryptoDevice::new()),
            8192,
        )
        .unwrap();
        let mut engine = VirtioCryptoEngine::new(dev, 4);
        let k = engine.import_key(&[9; 32]).unwrap();
        let mut buf = vec![0x11u8; 20_000];
        let tag = engine.seal(k, &[1; 12], b"a", &mut buf).unwrap();
        let mut soft =
            zos_virtio::gcm::Aes256Gcm::new(zos_virtio::ctr::SoftAes256Ctr::new(&[9; 32])).unwrap();
        let mut expect = vec![0x11u8; 20_000];
        assert_eq!(soft.seal(&[1; 12], b"a", &mut expect).unwrap(), tag);
        assert_eq!(buf, expect);
        engine.open(k, &[1; 12], b"a", &mut buf, &tag).unwrap();
        assert!(buf.iter().all(|&b| b == 0x11));
        assert!(POOL_B.pages_in_use() > 0);
    }
    assert_eq!(
        POOL_B.pages_in_use(),
        0,
        "queues, bounces and key page all returned"
    );
}
