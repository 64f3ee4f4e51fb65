//! The image itself: entry, UART, exit through `sifive_test`, a bump heap, and the checks.

use alloc::vec;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::fmt::Write;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, Store};
use virtio_drivers::PAGE_SIZE;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use zos_virtio::blk::{BlockDevice, EraseMode, VirtioBlockDevice};
use zos_virtio::crypto::{CipherAlgo, CipherOp, SessionCtr, VirtioCrypto};
use zos_virtio::ctr::{AesCtr, SoftAes256Ctr};
use zos_virtio::dma_pool::{DmaPool, PoolHal, PoolSource};
use zos_virtio::engine::{EngineError, VirtioCryptoEngine};
use zos_virtio::gcm::Aes256Gcm;
use zos_virtio::hw_engine::HardwareEngine;

core::arch::global_asm!(
    r#"
    .section .text.entry
    .globl _start
_start:
    la sp, __stack_top
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  call kat_main
3:  wfi
    j 3b
"#
);

const UART: usize = 0x1000_0000;
const TEST_FINISHER: usize = 0x10_0000;
const VIRTIO_MMIO_BASE: usize = 0x1000_1000;
const VIRTIO_MMIO_SIZE: usize = 0x1000;

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: QEMU virt's 16550 UART is at this address; LSR bit 5 = THR empty.
            unsafe {
                while core::ptr::read_volatile((UART + 5) as *const u8) & 0x20 == 0 {}
                core::ptr::write_volatile(UART as *mut u8, b);
            }
        }
        Ok(())
    }
}

macro_rules! println {
    ($($arg:tt)*) => {{ let _ = writeln!(Uart, $($arg)*); }};
}

fn exit(pass: bool) -> ! {
    let code: u32 = if pass { 0x5555 } else { (1 << 16) | 0x3333 };
    // SAFETY: QEMU virt's sifive_test finisher is at this address.
    unsafe { core::ptr::write_volatile(TEST_FINISHER as *mut u32, code) };
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("PANIC: {info}");
    exit(false)
}

const HEAP_SIZE: usize = 16 << 20;
#[repr(align(4096))]
struct Heap(#[allow(dead_code, reason = "only its address is used")] [u8; HEAP_SIZE]);
static mut HEAP: Heap = Heap([0; HEAP_SIZE]);
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A bump allocator: the image runs once and exits, so nothing is ever freed.
struct Bump;

// SAFETY: every allocation is a fresh, aligned range inside HEAP, never handed out twice.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = (&raw mut HEAP) as usize;
        let mut start = 0;
        let r = NEXT.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |next| {
            start = (base + next).next_multiple_of(layout.align()) - base;
            let end = start.checked_add(layout.size())?;
            (end <= HEAP_SIZE).then_some(end)
        });
        if r.is_err() {
            return core::ptr::null_mut();
        }
        (base + start) as *mut u8
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOC: Bump = Bump;

/// DMA through zos-virtio's pool `Hal`, as a Zero OS task would use it: one arena (here from
/// the heap; physical = virtual since this image runs without paging), bounces for buffers
/// outside it.
static POOL: DmaPool = DmaPool::new();
struct KatPool;
impl PoolSource for KatPool {
    fn pool() -> &'static DmaPool {
        &POOL
    }
}
type KatHal = PoolHal<KatPool>;
const ARENA_BYTES: usize = 1 << 20;

fn init_pool() {
    let layout = Layout::from_size_align(ARENA_BYTES, PAGE_SIZE).unwrap();
    // SAFETY: non-zero size; the arena is never freed.
    let virt = unsafe { ALLOC.alloc(layout) } as usize;
    // SAFETY: fresh heap memory used only by the pool; no paging, so physical = virtual.
    unsafe { POOL.init(virt, virt as u64, ARENA_BYTES) }.unwrap();
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill(&mut self, b: &mut [u8]) {
        b.iter_mut().for_each(|x| *x = self.next() as u8);
    }
}

fn hex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

static mut FAILURES: u32 = 0;

fn check(name: &str, ok: bool) {
    if ok {
        println!("ok   {name}");
    } else {
        println!("FAIL {name}");
        // SAFETY: single-threaded image.
        unsafe { FAILURES += 1 };
    }
}

type Crypto = VirtioCrypto<KatHal, MmioTransport<'static>>;
type Engine = VirtioCryptoEngine<KatHal, MmioTransport<'static>>;
type Disk = VirtioBlockDevice<KatHal, MmioTransport<'static>>;

fn crypto_checks(transport: MmioTransport<'static>) -> Option<Engine> {
    let dev = match Crypto::new(transport) {
        Ok(d) => d,
        Err(e) => {
            println!("virtio-crypto init failed: {e:?}");
            check("virtio-crypto init", false);
            return None;
        }
    };
    println!(
        "virtio-crypto config: {:?}, max_data_len {}",
        dev.config(),
        dev.max_data_len()
    );
    let mut dev = dev;
    let key: [u8; 32] = core::array::from_fn(|i| i as u8 * 3 + 1);

    // CTR on the device equals software CTR, including a counter whose low 32 bits wrap, which
    // shows the device's carry behaviour (GCM never relies on it).
    let session = dev
        .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &key)
        .unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut ctr_ok = true;
    for len in [1usize, 15, 16, 17, 100, 4096, 20_000, 40_000] {
        let mut counter = [0u8; 16];
        rng.fill(&mut counter);
        let mut data = vec![0u8; len];
        rng.fill(&mut data);
        let mut expect = data.clone();
        SoftAes256Ctr::new(&key)
            .apply_keystream(&counter, &mut expect)
            .unwrap();
        SessionCtr::new(&mut dev, &session)
            .unwrap()
            .apply_keystream(&counter, &mut data)
            .unwrap();
        ctr_ok &= data == expect;
    }
    check(
        "device AES-256-CTR == software CTR (lengths 1..40000, split requests)",
        ctr_ok,
    );
    let mut wrap_ctr = [0u8; 16];
    wrap_ctr[12..].copy_from_slice(&[0xff; 4]);
    let mut dev_out = [0u8; 32];
    let mut soft_out = [0u8; 32];
    SessionCtr::new(&mut dev, &session)
        .unwrap()
        .apply_keystream(&wrap_ctr, &mut dev_out)
        .unwrap();
    SoftAes256Ctr::new(&key)
        .apply_keystream(&wrap_ctr, &mut soft_out)
        .unwrap();
    check(
        "device CTR carries across 32-bit boundary like a 128-bit counter",
        dev_out == soft_out,
    );
    dev.destroy_session(session).unwrap();

    // ECB round trip (FIPS-197 C.3).
    let fips_key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let pt: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
    let enc = dev
        .create_session(CipherAlgo::AesEcb, CipherOp::Encrypt, &fips_key)
        .unwrap();
    let mut ct = [0u8; 16];
    dev.cipher(&enc, &[], &pt, &mut ct).unwrap();
    check(
        "device AES-256-ECB FIPS-197 C.3",
        ct == hex("8ea2b7ca516745bfeafc49904b496089")[..],
    );
    dev.destroy_session(enc).unwrap();

    // NIST CAVP AES-256-GCM vectors through the device engine.
    let mut engine = VirtioCryptoEngine::new(dev, 8);
    let (mut n, mut good) = (0, 0);
    for line in zos_virtio::kat::NIST_VECTORS.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let mut raw: [u8; 32] = hex(f[0]).try_into().unwrap();
        let nonce: [u8; 12] = hex(f[1]).try_into().unwrap();
        let (pt, aad, ct) = (hex(f[2]), hex(f[3]), hex(f[4]));
        let tag: [u8; 16] = hex(f[5]).try_into().unwrap();
        let k = engine.import_key_and_wipe(&mut raw).unwrap();
        let mut buf = pt.clone();
        let t = engine.seal(k, &nonce, &aad, &mut buf).unwrap();
        let mut ok = buf == ct && t == tag && raw == [0; 32];
        ok &= engine.open(k, &nonce, &aad, &mut buf, &tag).is_ok() && buf == pt;
        let mut bad = tag;
        bad[0] ^= 0x80;
        let mut buf = ct.clone();
        ok &= engine.open(k, &nonce, &aad, &mut buf, &bad) == Err(EngineError::AuthFailed);
        engine.drop_key(k).unwrap();
        n += 1;
        good += ok as u32;
    }
    println!("NIST gcmEncryptExtIV256 through the device engine: {good}/{n}");
    check("NIST AES-256-GCM KATs on the device", n == 375 && good == n);

    // Larger payloads (several requests each) against the software composition.
    let mut ok = true;
    for len in [0usize, 1, 4096, 16_368, 16_369, 50_000] {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        let mut pt = vec![0u8; len];
        rng.fill(&mut pt);
        let k = engine.import_key(&key).unwrap();
        let mut a = pt.clone();
        let ta = engine.seal(k, &[7; 12], b"hdr", &mut a).unwrap();
        let mut b = pt.clone();
        let tb = Aes256Gcm::new(SoftAes256Ctr::new(&key))
            .unwrap()
            .seal(&[7; 12], b"hdr", &mut b)
            .unwrap();
        ok &= a == b && ta == tb;
        ok &= engine.open(k, &[7; 12], b"hdr", &mut a, &ta).is_ok() && a == pt;
        engine.drop_key(k).unwrap();
    }
    check("device GCM == software GCM up to 50 000 bytes", ok);
    Some(engine)
}

fn blk_checks(transport: MmioTransport<'static>) -> Option<Disk> {
    let mut disk = match Disk::new(transport, 512, 8, EraseMode::Fill) {
        Ok(d) => d,
        Err(e) => {
            println!("virtio-blk init failed: {e:?}");
            check("virtio-blk init", false);
            return None;
        }
    };
    println!("virtio-blk geometry: {:?}", disk.geometry());
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 13) as u8).collect();
    let mut ok = disk.write(8, &data).is_ok() && disk.flush().is_ok();
    let mut back = vec![0u8; 8192];
    ok &= disk.read(8, &mut back).is_ok() && back == data;
    check("virtio-blk write/flush/read round trip", ok);
    let mut unit = vec![0u8; 4096];
    ok = disk.erase(1, 1).is_ok()
        && disk.read(8, &mut unit).is_ok()
        && unit.iter().all(|&b| b == 0xff);
    check("virtio-blk erase (fill) reads back 0xFF", ok);
    Some(disk)
}

fn instret() -> u64 {
    let n: u64;
    // SAFETY: reads the retired-instruction counter CSR (OpenSBI enables it for S-mode).
    unsafe { core::arch::asm!("rdinstret {}", out(reg) n) };
    n
}

/// Guest instructions per 4 KiB seal: device engine vs software engines (information only; the
/// device's own work runs in QEMU and is not counted as guest instructions).
fn perf(hw: &mut HardwareEngine<KatHal, MmioTransport<'static>>) {
    const N: u64 = 50;
    let mut buf = vec![0u8; 4096];
    let k = hw.import_key(&[5; 32]).unwrap();
    let t0 = instret();
    for _ in 0..N {
        hw.seal(k, &[1; 12], b"aad", &mut buf).unwrap();
    }
    let dev = (instret() - t0) / N;
    hw.drop_key(k);
    let mut soft = Aes256Gcm::new(SoftAes256Ctr::new(&[5; 32])).unwrap();
    let t0 = instret();
    for _ in 0..N {
        soft.seal(&[1; 12], b"aad", &mut buf).unwrap();
    }
    let composed = (instret() - t0) / N;
    let mut sw = storage_backend::SoftwareEngine::new();
    let k = sw.import_key(&[5; 32]).unwrap();
    let t0 = instret();
    for _ in 0..N {
        sw.seal(k, &[1; 12], b"aad", &mut buf).unwrap();
    }
    let software = (instret() - t0) / N;
    println!(
        "perf: guest instructions per 4 KiB seal: device engine {dev}, software AES + GHASH (this crate) {composed}, storage-backend SoftwareEngine {software}"
    );
}

fn import_masters(hw: &mut HardwareEngine<KatHal, MmioTransport<'static>>) -> DbKeys {
    let mut kernel_raw = [0x11u8; 32];
    let mut user_raw = [0x22u8; 32];
    let kernel = hw.import_key(&kernel_raw).unwrap();
    let userspace = hw.import_key(&user_raw).unwrap();
    kernel_raw.fill(0);
    user_raw.fill(0);
    DbKeys { kernel, userspace }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The VFS task's device stack: storage-backend's store on virtio-blk, sealed by the
/// virtio-crypto engine; remounted; then the raw disk is searched for the plaintext markers.
fn store_checks(disk: Disk, engine: Engine) {
    const NAME: &[u8] = b"MARKER-NAME-7f3a";
    const CONTENT: &[u8] = b"MARKER-CONTENT-91c2";
    let mut hw = HardwareEngine::new(engine);
    perf(&mut hw);
    let report = zos_virtio::kat::run(&mut hw);
    println!("kat::run through storage-backend's CryptoEngine (HardwareEngine): {report:?}");
    check(
        "kat::run self-test on the hardware engine",
        report.ok() && report.passed == 379,
    );
    let keys = import_masters(&mut hw);
    let mut store = match Store::format(disk, hw, keys, &FormatOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            println!("format failed: {e:?}");
            return check("store format on virtio-blk + virtio-crypto", false);
        }
    };
    store.engine_mut().forget_raw(keys.kernel);
    store.engine_mut().forget_raw(keys.userspace);
    let value: Vec<u8> = CONTENT
        .iter()
        .copied()
        .cycle()
        .take(CONTENT.len() * 200)
        .collect();
    let mut ok = (|| {
        let mut t = store.begin(Db::Userspace)?;
        t.put(NAME, &value)?;
        t.commit()?;
        let mut t = store.begin(Db::Kernel)?;
        t.put(b"boot-count", &1u64.to_le_bytes())?;
        t.commit()?;
        store.sync()
    })()
    .is_ok();
    check(
        "store put/commit/sync on the devices (master raw key wiped)",
        ok,
    );
    let (disk, mut hw) = store.into_parts();
    hw.drop_key(keys.kernel);
    hw.drop_key(keys.userspace);
    let keys = import_masters(&mut hw);
    let mut store = match Store::mount(disk, hw, keys) {
        Ok(s) => s,
        Err(e) => {
            println!("mount failed: {e:?}");
            return check("store remount", false);
        }
    };
    ok = store.get(Db::Userspace, NAME).ok().flatten().as_deref() == Some(&value[..])
        && store.check(Db::Userspace).is_ok()
        && store.check(Db::Kernel).is_ok();
    check("store remount: value intact, integrity check clean", ok);
    let (mut disk, _) = store.into_parts();
    let g = disk.geometry();
    let mut raw = vec![0u8; g.block_size as usize * 64];
    let mut leaked = false;
    let mut block = 0;
    while block < g.block_count {
        let n = (g.block_count - block).min(64);
        let buf = &mut raw[..n as usize * g.block_size as usize];
        if disk.read(block, buf).is_err() {
            leaked = true;
            break;
        }
        leaked |= contains(buf, NAME) || contains(buf, CONTENT);
        block += n;
    }
    check("at rest: neither marker appears on the raw disk", !leaked);
}

#[unsafe(no_mangle)]
extern "C" fn kat_main() -> ! {
    println!("zos-virtio QEMU KAT");
    init_pool();
    let (mut crypto, mut blk) = (None, None);
    for slot in 0..8 {
        let header =
            NonNull::new((VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE) as *mut VirtIOHeader)
                .unwrap();
        // SAFETY: QEMU virt has virtio-mmio windows of 0x1000 bytes at these addresses, each used
        // by one transport only.
        if let Ok(t) = unsafe { MmioTransport::new(header, VIRTIO_MMIO_SIZE) } {
            match t.device_type() {
                DeviceType::Crypto => crypto = Some(t),
                DeviceType::Block => blk = Some(t),
                _ => {}
            }
        }
    }
    let engine = match crypto {
        Some(t) => crypto_checks(t),
        None => {
            check("virtio-crypto device present", false);
            None
        }
    };
    let disk = match blk {
        Some(t) => blk_checks(t),
        None => {
            check("virtio-blk device present", false);
            None
        }
    };
    if let (Some(disk), Some(engine)) = (disk, engine) {
        store_checks(disk, engine);
    }
    check(
        "every DMA page returned to the pool",
        POOL.pages_in_use() == 0,
    );
    // SAFETY: single-threaded image.
    let failures = unsafe { FAILURES };
    println!("{} failed", failures);
    exit(failures == 0)
}
