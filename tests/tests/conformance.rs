//! Host runner of the VFS conformance suite: the VFS server and four caller tasks (two users, a
//! system task, an application without a user) on the host backend (kernel-host), each caller with
//! credentials stamped by the host kernel. The VFS stores into `storage-backend` on a RAM
//! block device, as it would on a disk.

use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use kernel_abi::{EndpointId, Kernel, LogLevel, ProcessClass};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};
use storage_backend::block::RamDevice;
use storage_backend::{
    BlockDevice, CryptoEngine, DbKeys, DeviceError, FormatOptions, Geometry, SoftwareEngine, Store,
    StoreError,
};
use uuid::Uuid;
use vfs_api::client::{Client, ClientError};
use vfs_api::error::VfsError;
use vfs_api::protocol::messages::OpenFlags;
use vfs_conformance::{ALICE, BOB, World, run};
use vfs_service::host::{READY, ram_store, spawn_vfs};
use vfs_service::server::{KernelEnv, serve};
use vfs_service::{Limits, Vfs};

/// A running system: the kernel, the VFS endpoint, and a way to stop the caller tasks.
struct System {
    kernel: HostKernel,
    vfs: EndpointId,
    stop: Vec<mpsc::Sender<()>>,
}

impl System {
    fn boot() -> Self {
        let kernel = HostKernel::new();
        let vfs = kernel.endpoint("vfs", 16);
        spawn_vfs(&kernel, vfs, 320, false);
        assert!(
            kernel.wait_for_log(READY, std::time::Duration::from_secs(10)),
            "the VFS did not boot: {:?}",
            kernel.log_lines()
        );
        Self {
            kernel,
            vfs,
            stop: Vec::new(),
        }
    }

    /// Spawns a caller task and hands its kernel handle to the test thread; the task itself
    /// waits until the system is dropped.
    fn caller(&mut self, name: &str, class: ProcessClass, user: Option<Uuid>) -> TaskHandle {
        let (tx, rx) = mpsc::channel::<TaskHandle>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let stop_rx = Arc::new(Mutex::new(stop_rx));
        let mut spec = TaskSpec::new(name).class(class).reaches(self.vfs);
        if let Some(u) = user {
            spec = spec.user(u);
        }
        self.kernel.spawn(spec, move |h| {
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(h.clone());
            }
            if let Ok(rx) = stop_rx.lock() {
                let _ = rx.recv();
            }
        });
        self.stop.push(stop_tx);
        rx.recv().expect("caller task started")
    }
}

#[test]
fn conformance_suite_on_the_host_backend() {
    let mut sys = System::boot();
    let alice = sys.caller("alice", ProcessClass::Application, Some(ALICE));
    let bob = sys.caller("bob", ProcessClass::Application, Some(BOB));
    let system = sys.caller("system", ProcessClass::System, None);
    let anon = sys.caller("anon", ProcessClass::Application, None);
    let ep = sys.vfs;
    let mut world = World {
        alice: Client::new(&alice, ep),
        bob: Client::new(&bob, ep),
        system: Client::new(&system, ep),
        anon: Client::new(&anon, ep),
        alice_id: ALICE,
        bob_id: BOB,
        // The 64 MiB case takes about half a minute in a debug build; ZOS_CONFORMANCE_SMALL=1
        // skips it.
        large: std::env::var_os("ZOS_CONFORMANCE_SMALL").is_none(),
    };
    let filter = std::env::var("ZOS_CONFORMANCE_FILTER").unwrap_or_default();
    let summary = run(&mut world, &filter, &mut |line| println!("{line}"));
    assert!(
        summary.failed.is_empty(),
        "{} conformance case(s) failed: {:?}",
        summary.failed.len(),
        summary.failed
    );
    if filter.is_empty() {
        assert!(summary.passed > 30, "only {} cases ran", summary.passed);
    }
}

#[test]
fn several_callers_at_once() {
    let mut sys = System::boot();
    let system = sys.caller("system", ProcessClass::System, None);
    let ep = sys.vfs;
    {
        let mut c = Client::new(&system, ep);
        c.create_home(ALICE).expect("alice's home");
        c.create_home(BOB).expect("bob's home");
    }
    let callers = [
        sys.caller("alice", ProcessClass::Application, Some(ALICE)),
        sys.caller("bob", ProcessClass::Application, Some(BOB)),
        sys.caller("anon", ProcessClass::Application, None),
        system,
    ];
    let dirs = [
        format!("/home/{ALICE}/Documents"),
        format!("/home/{BOB}/Documents"),
        "/tmp".to_string(),
        "/system/services".to_string(),
    ];
    let threads: Vec<_> = callers
        .into_iter()
        .zip(dirs)
        .enumerate()
        .map(|(i, (h, dir))| {
            thread::spawn(move || {
                let mut c = Client::new(&h, ep);
                for n in 0..60u32 {
                    let path = format!("{dir}/c{i}-{n}");
                    let data: Vec<u8> = (0..(n * 97 % 9000)).map(|b| (b as u8) ^ i as u8).collect();
                    c.write_file(&path, &data).expect("write");
                    assert_eq!(c.read_file(&path).expect("read"), data);
                    if n % 3 == 0 {
                        c.unlink(&path).expect("unlink");
                    }
                }
                c.readdir(&dir).expect("list").len()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().expect("caller thread") >= 40);
    }
}

/// A RAM disk that outlives the VFS task: a restarted VFS mounts it again and finds its data,
/// as the VFS task does on a real disk.
#[derive(Clone)]
struct SharedDisk(Arc<Mutex<RamDevice>>);

impl SharedDisk {
    fn lock(&self) -> std::sync::MutexGuard<'_, RamDevice> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BlockDevice for SharedDisk {
    fn geometry(&self) -> Geometry {
        self.lock().geometry()
    }
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.lock().read(block, buf)
    }
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), DeviceError> {
        self.lock().write(block, buf)
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.lock().flush()
    }
    fn erase(&mut self, unit: u64, count: u64) -> Result<(), DeviceError> {
        self.lock().erase(unit, count)
    }
}

/// Mounts the store on `disk`, formatting it the first time.
fn mount_or_format(disk: &SharedDisk) -> Result<Store<SharedDisk, SoftwareEngine>, StoreError> {
    let mut engine = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).map_err(StoreError::Crypto)?,
        userspace: engine.import_key(&[0x22; 32]).map_err(StoreError::Crypto)?,
    };
    match Store::mount(disk.clone(), engine, keys) {
        Err(StoreError::NotFormatted) => {
            let mut engine = SoftwareEngine::new();
            let keys = DbKeys {
                kernel: engine.import_key(&[0x11; 32]).map_err(StoreError::Crypto)?,
                userspace: engine.import_key(&[0x22; 32]).map_err(StoreError::Crypto)?,
            };
            let opts = FormatOptions {
                kernel_units: Some(256),
                ..FormatOptions::default()
            };
            Store::format(disk.clone(), engine, keys, &opts)
        }
        other => other,
    }
}

#[test]
fn a_service_restart_makes_handles_stale_and_cleans_tmp() {
    let kernel = HostKernel::new();
    let ep = kernel.endpoint("vfs", 16);
    let disk = SharedDisk(Arc::new(Mutex::new(RamDevice::new(512, 8, 64 * 256))));
    let vfs_task = kernel.spawn(TaskSpec::new("vfs").serves(ep), move |h: TaskHandle| {
        let store = match mount_or_format(&disk) {
            Ok(s) => s,
            Err(e) => {
                h.log(LogLevel::Error, &format!("vfs: mount failed: {e:?}"));
                return;
            }
        };
        let mut fs = Vfs::new(store, Limits::default());
        if let Ok(report) = fs.boot(&KernelEnv(&h)) {
            h.log(
                LogLevel::Info,
                &format!("vfs: ready, boot {}", report.boot_count),
            );
            let _ = serve(&h, ep, &mut fs);
        }
    });
    assert!(kernel.wait_for_log("vfs: ready, boot 1", std::time::Duration::from_secs(10)));
    let mut sys = System {
        kernel,
        vfs: ep,
        stop: Vec::new(),
    };
    let handle = sys.caller("system", ProcessClass::System, None);
    let mut c = Client::new(&handle, ep);
    c.write_file("/tmp/scratch", b"temporary")
        .expect("tmp write");
    c.write_file("/system/services/demo.json", b"{}")
        .expect("write");
    let flags = OpenFlags {
        read: true,
        ..OpenFlags::default()
    };
    let h = c
        .open("/system/services/demo.json", flags)
        .expect("open")
        .handle;
    sys.kernel.restart(vfs_task.index).expect("restart the VFS");
    assert!(
        sys.kernel
            .wait_for_log("vfs: ready, boot 2", std::time::Duration::from_secs(10))
    );
    assert_eq!(c.read(h, 10), Err(ClientError::Vfs(VfsError::StaleHandle)));
    assert_eq!(c.exists("/tmp/scratch"), Ok(false));
    assert_eq!(
        c.read_file("/system/services/demo.json").expect("kept"),
        b"{}"
    );
    let machine = c
        .read_file("/system/config/machine.json")
        .expect("machine.json");
    assert!(String::from_utf8_lossy(&machine).contains("\"boot_count\":2"));
}

#[test]
fn clients_find_the_vfs_through_init() {
    let kernel = HostKernel::new();
    let init = init::host::spawn_init(&kernel);
    let ep = kernel.endpoint("vfs", 16);
    kernel.spawn(
        TaskSpec::new("vfs").serves(ep).start_now(false),
        move |h: TaskHandle| {
            let mut fs = Vfs::new(ram_store(16).expect("format"), Limits::default());
            if fs.boot(&KernelEnv(&h)).is_err() {
                return;
            }
            // Init may already have seeded the registry from the endpoint's name.
            let registered = vfs_service::server::register(&h, ep);
            h.log(LogLevel::Info, &format!("vfs: registered {registered:?}"));
            let _ = serve(&h, ep, &mut fs);
        },
    );
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    kernel.spawn(
        TaskSpec::new("app")
            .class(ProcessClass::Application)
            .start_now(false),
        move |h: TaskHandle| {
            // Retry while the VFS boots.
            let mut outcome = Err("never connected".to_string());
            for _ in 0..200 {
                match Client::connect(&h) {
                    Ok(mut c) => {
                        outcome = c.exists("/tmp").map_err(|e| format!("{e:?}"));
                        if outcome.is_ok() {
                            break;
                        }
                    }
                    Err(e) => outcome = Err(format!("{e:?}")),
                }
                h.sleep_ns(20_000_000);
            }
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(outcome);
            }
            h.sleep_ns(u64::MAX / 2);
        },
    );
    kernel.restart(init.index).expect("start init");
    let outcome = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the app reported");
    assert_eq!(outcome, Ok(true), "{:#?}", kernel.log_lines());
}
