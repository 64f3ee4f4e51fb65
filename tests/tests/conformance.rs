//! Host runner of the VFS conformance suite: the VFS server and four caller tasks (two users, a
//! system task, an application without a user) on the kernel-abi host backend, each caller with
//! credentials stamped by the host kernel. The VFS stores into `storage-backend` on a RAM
//! block device, as it would on a disk.

use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use kernel_abi::host::{HostKernel, TaskHandle, TaskSpec};
use kernel_abi::{EndpointId, Kernel, LogLevel, ProcessClass};
use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, DbKeys, FormatOptions, SoftwareEngine, Store};
use system_tests::conformance::{World, run};
use uuid::Uuid;
use vfs_service::backend::BackendStore;
use vfs_service::client::Client;
use vfs_service::server::{KernelEnv, serve};
use vfs_service::{Limits, Vfs};

const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);
const BOB: Uuid = Uuid::from_u128(0x0b0b0000_0000_4000_8000_000000000002);

/// A freshly formatted store on a RAM device of `mib` MiB (4 KiB erase units).
fn ram_store(mib: u64) -> BackendStore<RamDevice, SoftwareEngine> {
    let mut engine = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).expect("kernel key"),
        userspace: engine.import_key(&[0x22; 32]).expect("userspace key"),
    };
    let device = RamDevice::new(512, 8, mib * 256);
    let opts = FormatOptions {
        kernel_units: Some(256),
        ..FormatOptions::default()
    };
    BackendStore::new(Store::format(device, engine, keys, &opts).expect("format"))
}

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
        kernel.spawn(TaskSpec::new("vfs").serves(vfs), move |h: TaskHandle| {
            let mut fs = Vfs::new(ram_store(320), Limits::default());
            match fs.boot(&KernelEnv(&h)) {
                Ok(report) => h.log(
                    LogLevel::Info,
                    &format!("vfs: ready, boot {}", report.boot_count),
                ),
                Err(e) => {
                    h.log(LogLevel::Error, &format!("vfs: boot failed: {e:?}"));
                    return;
                }
            }
            let _ = serve(&h, vfs, &mut fs);
        });
        assert!(
            kernel.wait_for_log("vfs: ready", std::time::Duration::from_secs(10)),
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
