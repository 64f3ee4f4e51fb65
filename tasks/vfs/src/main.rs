//! The VFS task: owns the virtio-blk disk and the virtio-crypto engine as user-space drivers,
//! reads the device master key from fw_cfg (standing in for OTP), mounts the disk image
//! (formatting a blank disk), then registers as "vfs" with init and serves the VFS protocol.
//!
//! A disk that does not open under the key (wrong key, tampered image) stops the machine with
//! a clear console message and a failure status: the VFS never serves garbage. So does a kernel
//! without an entropy source: the VFS never makes UUIDs or salts from predictable bytes.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod fw_cfg;

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod task {
    use alloc::boxed::Box;
    use core::ptr::NonNull;

    use kernel_abi::kernel::served_endpoint;
    use kernel_abi::{ExitStatus, Kernel, TaskId, device::Device, klog};
    use storage_backend::{BlockDevice, CryptoEngine, StoreError};
    use vfs_service::image::{self, ImageIdentity, MASTER_KEY_LEN};
    use vfs_service::server::{self, KernelEnv};
    use vfs_service::{Limits, Vfs};
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
    use zeroize::Zeroize;
    use zos_runtime::Syscalls;
    use zos_virtio::any_engine::AnyEngine;
    use zos_virtio::blk::{EraseMode, VirtioBlockDevice};
    use zos_virtio::crypto::VirtioCrypto;
    use zos_virtio::dma_pool::{DmaPool, PoolHal, PoolSource};
    use zos_virtio::engine::VirtioCryptoEngine;
    use zos_virtio::hw_engine::HardwareEngine;
    use zos_virtio::kat;
    use zos_virtio::wait::Waiter;

    use crate::fw_cfg::{self, FwCfg};

    /// The DMA arena: virtqueues, request headers and bounce buffers of both devices.
    const ARENA_BYTES: usize = 256 * 1024;
    /// The fw_cfg file that carries the device master key.
    const KEY_FILE: &str = "opt/org.zeroos/master-key";
    /// Session slots of the crypto engine.
    const CRYPTO_SESSIONS: usize = 64;

    /// How long a driver blocks for its device's interrupt before it looks at the used ring
    /// again. Only a lost interrupt makes a wait last this long (a completion normally ends it
    /// within microseconds), so it bounds the cost of one without polling in the normal case.
    const IRQ_WAIT_TIMEOUT_NS: u64 = 50_000_000;

    /// Exit statuses, distinct so that logs and tests tell the failures apart.
    const EXIT_SETUP: ExitStatus = ExitStatus(2);
    const EXIT_WRONG_KEY: ExitStatus = ExitStatus(3);
    const EXIT_SELF_TEST: ExitStatus = ExitStatus(4);
    /// The filesystem's schema version is not one this VFS knows (a newer release wrote it).
    const EXIT_SCHEMA: ExitStatus = ExitStatus(5);

    static POOL: DmaPool = DmaPool::new();
    struct Pool;
    impl PoolSource for Pool {
        fn pool() -> &'static DmaPool {
            &POOL
        }
    }
    type Hal = PoolHal<Pool>;
    type Transport = MmioTransport<'static>;
    type Engine = AnyEngine<Hal, Transport>;

    /// Says `msg` on the console and in the log.
    fn say(k: &Syscalls, msg: &str) {
        klog!(k, Error, "{}", msg);
        let _ = k.console_write(msg.as_bytes());
        let _ = k.console_write(b"\n");
    }

    /// Stops the machine with a failure status (so that init does not restart the VFS
    /// endlessly on a disk it cannot open); returns `status` if the kernel refuses.
    fn fail(k: &Syscalls, msg: &str, status: ExitStatus) -> ExitStatus {
        say(k, msg);
        let _ = k.shutdown(status);
        status
    }

    /// Waits for a virtio device's completions on its interrupt: blocks in `WaitNotification`
    /// on the device's notification bit; after an interrupt, acknowledges it at the device
    /// (`InterruptACK`, lowering the line) and then unmasks the line in the kernel (`IrqAck`).
    /// The kernel masked the line when it claimed the interrupt and keeps the bit pending until
    /// the wait takes it, so an interrupt that fires before the driver waits is not lost: the
    /// next wait returns at once. The drivers check the used ring before every wait, so a stale
    /// bit costs one extra look, and a timed-out wait (a lost interrupt) one look per timeout.
    struct IrqWaiter {
        device: Device,
    }

    impl IrqWaiter {
        /// A waiter for `device`, whose driver has just reset it. Unmasks the line first: a
        /// previous incarnation of this task may have stopped with it masked (the kernel clears
        /// pending bits on restart, so nothing else would unmask it).
        fn new(device: Device) -> Self {
            let _ = Syscalls::irq_ack(device);
            Self { device }
        }
    }

    impl Waiter for IrqWaiter {
        fn wait(&mut self, ack_device: &mut dyn FnMut()) {
            let bit = self.device.notification_bit();
            match Syscalls::wait_notification_timeout(bit, IRQ_WAIT_TIMEOUT_NS) {
                Ok(bits) if bits & bit != 0 => {
                    ack_device();
                    // Should unmasking fail, later waits time out and the driver still sees
                    // its completions, one timeout apart.
                    let _ = Syscalls::irq_ack(self.device);
                }
                // Timed out: the driver looks at the used ring again.
                Ok(_) => {}
                // The kernel refused the wait (it does not for a granted device): let other
                // tasks run before the driver looks again rather than spin.
                Err(_) => Syscalls.yield_now(),
            }
        }
    }

    /// Makes `install` wait on `device`'s interrupt when the kernel forwards it (`irq` from
    /// `MapMmio`, 0 when the device has none); otherwise the driver keeps spinning.
    fn wait_on_interrupt(
        k: &Syscalls,
        device: Device,
        irq: u32,
        install: impl FnOnce(Box<dyn Waiter>),
    ) {
        if irq == 0 {
            klog!(
                k,
                Warn,
                "vfs: {} has no interrupt: polling it",
                device.name()
            );
            return;
        }
        install(Box::new(IrqWaiter::new(device)));
        klog!(k, Info, "vfs: {} completes on irq {}", device.name(), irq);
    }

    /// A virtio-mmio transport on the granted window of `device` and the device's interrupt
    /// number (0: none), `None` when the slot is empty or not granted.
    fn transport(k: &Syscalls, device: Device) -> Option<(Transport, u32)> {
        let w = match Syscalls::map_mmio(device) {
            Ok(w) => w,
            Err(e) => {
                klog!(k, Info, "vfs: no {} window: {:?}", device.name(), e);
                return None;
            }
        };
        POOL.register_mmio(w.virt, w.phys, w.size);
        let header = NonNull::new(w.virt as *mut VirtIOHeader)?;
        // SAFETY: the kernel mapped this device's virtio-mmio register window (w.size bytes) into
        // this task for it alone; nothing else in the task touches it.
        match unsafe { MmioTransport::new(header, w.size) } {
            Ok(t) => Some((t, w.irq)),
            Err(e) => {
                klog!(k, Info, "vfs: {} absent: {:?}", device.name(), e);
                None
            }
        }
    }

    /// Whether the first erase unit reads as never written (all zeros: a new sparse disk
    /// image; or all ones: erased).
    fn is_blank<D: BlockDevice>(dev: &mut D) -> Result<bool, StoreError> {
        let mut buf = [0u8; image::ERASE_UNIT_BYTES as usize];
        dev.read(0, &mut buf).map_err(StoreError::Device)?;
        Ok(buf.iter().all(|&b| b == 0) || buf.iter().all(|&b| b == 0xff))
    }

    fn main(me: TaskId) -> ExitStatus {
        let k = Syscalls;
        klog!(&k, Info, "vfs {}.{} up", me.index, me.generation);

        // Entropy: new images take their container UUIDs and every new file version its HKDF
        // salt from the kernel's RandomBytes. Without an entropy source the kernel refuses
        // (NotSupported) rather than hand out predictable bytes; check once, up front, so the
        // machine stops with a clear message instead of failing writes later.
        let mut probe = [0u8; 16];
        if let Err(e) = k.random_bytes(&mut probe) {
            klog!(&k, Error, "vfs: RandomBytes: {:?}", e);
            return fail(
                &k,
                "vfs: the kernel has no entropy source (RandomBytes is not supported: the machine needs a virtio-rng device); not serving",
                EXIT_SETUP,
            );
        }
        probe.zeroize();

        // DMA arena for both devices.
        let (virt, phys) = match Syscalls::dma_alloc(ARENA_BYTES) {
            Ok(r) => r,
            Err(e) => {
                klog!(&k, Error, "vfs: dma_alloc: {:?}", e);
                return fail(&k, "vfs: no DMA memory", EXIT_SETUP);
            }
        };
        // SAFETY: the kernel mapped ARENA_BYTES of physically contiguous memory at `virt`
        // (device address `phys`) for this task; only the pool uses it, for the whole run.
        if unsafe { POOL.init(virt, phys, ARENA_BYTES) }.is_err() {
            return fail(&k, "vfs: bad DMA arena", EXIT_SETUP);
        }

        // The crypto engine: the device when present, else software.
        let crypto = transport(&k, Device::VirtioCrypto)
            .map(|(t, irq)| VirtioCrypto::<Hal, Transport>::new(t).map(|d| (d, irq)));
        let mut engine: Engine = match crypto {
            Some(Ok((mut dev, irq))) => {
                wait_on_interrupt(&k, Device::VirtioCrypto, irq, |w| dev.set_waiter(w));
                AnyEngine::hardware(HardwareEngine::new(VirtioCryptoEngine::new(
                    dev,
                    CRYPTO_SESSIONS,
                )))
            }
            Some(Err(e)) => {
                klog!(
                    &k,
                    Warn,
                    "vfs: virtio-crypto failed ({:?}): software engine",
                    e
                );
                AnyEngine::Software(storage_backend::SoftwareEngine::new())
            }
            None => AnyEngine::Software(storage_backend::SoftwareEngine::new()),
        };
        let kind = if engine.is_hardware() {
            "hardware (virtio-crypto)"
        } else {
            "software"
        };
        let report = kat::run(&mut engine);
        klog!(
            &k,
            Info,
            "vfs: crypto engine {}: self-test {} passed, {} failed",
            kind,
            report.passed,
            report.failed
        );
        if !report.ok() {
            return fail(
                &k,
                "vfs: the crypto engine failed its known-answer self-test; not serving",
                EXIT_SELF_TEST,
            );
        }

        // The device master key, from fw_cfg into the engine; then wipe our copy.
        let mut raw = [0u8; MASTER_KEY_LEN];
        let read = match Syscalls::map_mmio(Device::FwCfg) {
            Ok(w) => {
                // SAFETY: the kernel mapped the fw_cfg register window into this task alone.
                let cfg = unsafe { FwCfg::new(w.virt, w.size) };
                cfg.and_then(|c| c.read_file(KEY_FILE, &mut raw))
            }
            Err(_) => Err(fw_cfg::Error::NoWindow),
        };
        if let Err(e) = read {
            raw.zeroize();
            klog!(&k, Error, "vfs: master key: {:?}", e);
            return fail(
                &k,
                "vfs: no device master key in fw_cfg (opt/org.zeroos/master-key); not serving",
                EXIT_SETUP,
            );
        }
        // The image derives its database keys from the master and the store its region keys
        // from those: derived keys keep their bytes until the mount is done.
        engine.keep_derived_raw(true);
        let master = engine.import_key(&raw);
        raw.zeroize();
        let Ok(master) = master else {
            return fail(&k, "vfs: the engine refused the master key", EXIT_SETUP);
        };

        // The disk.
        let Some((blk, blk_irq)) = transport(&k, Device::VirtioBlock) else {
            return fail(&k, "vfs: no virtio-blk disk", EXIT_SETUP);
        };
        let mut disk = match VirtioBlockDevice::<Hal, Transport>::new(
            blk,
            image::BLOCK_SIZE,
            image::BLOCKS_PER_ERASE_UNIT,
            EraseMode::Fill,
        ) {
            Ok(d) => d,
            Err(e) => {
                klog!(&k, Error, "vfs: virtio-blk: {:?}", e);
                return fail(&k, "vfs: the disk did not open", EXIT_SETUP);
            }
        };
        wait_on_interrupt(&k, Device::VirtioBlock, blk_irq, |w| disk.set_waiter(w));
        let blank = match is_blank(&mut disk) {
            Ok(b) => b,
            Err(e) => {
                klog!(&k, Error, "vfs: reading the disk: {:?}", e);
                return fail(&k, "vfs: the disk cannot be read", EXIT_SETUP);
            }
        };
        let store = if blank {
            klog!(&k, Info, "vfs: blank disk: formatting");
            let mut uuids = [[0u8; 16]; 2];
            for u in &mut uuids {
                if k.random_bytes(u).is_err() {
                    return fail(&k, "vfs: no kernel randomness for the image", EXIT_SETUP);
                }
            }
            let identity = ImageIdentity {
                uuids,
                creator: b"zero-os vfs task",
                created_ns: vfs_service::Env::now_ns(&KernelEnv(&k)),
            };
            match image::format(disk, engine, master, &identity) {
                Ok(s) => s,
                Err(e) => {
                    klog!(&k, Error, "vfs: format: {:?}", e);
                    return fail(&k, "vfs: formatting the disk failed", EXIT_SETUP);
                }
            }
        } else {
            match image::mount(disk, engine, master) {
                Ok(s) => s,
                Err(StoreError::Integrity(e)) => {
                    klog!(&k, Error, "vfs: mount: {:?}", e);
                    return fail(
                        &k,
                        "vfs: the disk image does not open with this device's master key (wrong key or tampered image); not serving",
                        EXIT_WRONG_KEY,
                    );
                }
                Err(e) => {
                    klog!(&k, Error, "vfs: mount: {:?}", e);
                    return fail(&k, "vfs: the disk image did not mount", EXIT_SETUP);
                }
            }
        };
        let mut store = store;
        // The region keys live in the device now: wipe the master's and the database keys'
        // raw copies (per-file keys derived later keep none).
        store.engine_mut().forget_raw(master);
        store.engine_mut().forget_all_raw();

        let mut vfs = Vfs::new(store, Limits::default());
        match vfs.boot(&KernelEnv(&k)) {
            Ok(report) => {
                klog!(&k, Info, "vfs: boot count {}", vfs.boot_count());
                // A full store does not stop the machine: boot went on without these steps.
                if report.skipped_writes > 0 {
                    klog!(
                        &k,
                        Warn,
                        "vfs: the store is full: {} boot step(s) skipped (clean-up or machine.json)",
                        report.skipped_writes
                    );
                }
            }
            Err(vfs_service::VfsError::UnsupportedSchema) => {
                klog!(
                    &k,
                    Error,
                    "vfs: the disk's filesystem schema is version {:?}; this VFS reads version {}",
                    vfs.stored_schema().ok().flatten(),
                    vfs_service::inode::SCHEMA_VERSION
                );
                return fail(
                    &k,
                    "vfs: the disk image was written by a newer file system (unknown schema version); not serving",
                    EXIT_SCHEMA,
                );
            }
            Err(e) => {
                klog!(&k, Error, "vfs: boot: {:?}", e);
                return fail(&k, "vfs: the file system did not boot", EXIT_SETUP);
            }
        }
        // The endpoint the system file names after the service (`[[endpoint]] name = "vfs"`).
        let Some(endpoint) = served_endpoint(&k, me, Some(server::SERVICE_NAME)) else {
            return fail(
                &k,
                "vfs: no endpoint named \"vfs\" served by this task",
                EXIT_SETUP,
            );
        };
        if let Err(e) = server::register(&k, endpoint) {
            klog!(&k, Error, "vfs: register: {:?}", e);
            return fail(&k, "vfs: could not register with init", EXIT_SETUP);
        }
        match server::serve(&k, endpoint, &mut vfs) {
            Ok(()) => ExitStatus::SUCCESS,
            Err(e) => {
                klog!(&k, Error, "vfs: serve: {:?}", e);
                ExitStatus(1)
            }
        }
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the VFS is a Zero OS task; boot it with `cargo xtask run`");
}
