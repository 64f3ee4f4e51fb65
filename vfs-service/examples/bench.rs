//! `cargo xtask bench vfs`: the VFS on the host backend (`kernel-host`), over `storage-backend` on a
//! RAM block device, driven through the client library by a separate task; the host's own
//! filesystem (std::fs in a temporary directory) runs the same workload as the peer.
//!
//! Prints `vfs.<figure>: <value> <unit>` and `vfs.peer.<figure>: <value> <unit>` lines.

use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use kernel_abi::{EndpointId, Kernel, LogLevel, ProcessClass};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};
use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, DbKeys, FormatOptions, SoftwareEngine, Store};
use uuid::Uuid;
use vfs_api::client::Client;
use vfs_service::server::{KernelEnv, serve};
use vfs_service::{Limits, Vfs};

const USER: Uuid = Uuid::from_u128(0x0be0c400_0000_4000_8000_000000000001);

fn ram_store(mib: u64) -> Store<RamDevice, SoftwareEngine> {
    let mut engine = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).expect("key"),
        userspace: engine.import_key(&[0x22; 32]).expect("key"),
    };
    let opts = FormatOptions {
        kernel_units: Some(256),
        ..FormatOptions::default()
    };
    let dev = RamDevice::new(512, 8, mib * 256);
    Store::format(dev, engine, keys, &opts).expect("format")
}

/// Runs `f` repeatedly for about `budget`; returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn print(name: &str, value: f64, unit: &str) {
    println!("vfs.{name}: {value:.1} {unit}");
}

fn vfs_figures(k: &TaskHandle, ep: EndpointId, budget: Duration) {
    let mut c = Client::new(k, ep);
    c.create_home(USER).expect("home");
    // The benchmark is a System task; it works in a directory of its own under /tmp.
    let root = "/tmp/bench";
    c.mkdir(root).expect("mkdir");
    let f4k = format!("{root}/f4k");
    let data4k = vec![0x5a; 4096];
    c.write_file(&f4k, &data4k).expect("write");
    print(
        "stat",
        rate(budget, |_| drop(c.stat(&f4k).expect("stat"))),
        "ops/s",
    );
    print(
        "read_4k",
        rate(budget, |_| drop(c.read_file(&f4k).expect("read"))),
        "ops/s",
    );
    print(
        "write_4k",
        rate(budget, |_| c.write_file(&f4k, &data4k).expect("write")),
        "ops/s",
    );
    print(
        "mkdir",
        rate(budget, |i| c.mkdir(&format!("{root}/d{i}")).expect("mkdir")),
        "ops/s",
    );
    let list = format!("{root}/list");
    c.mkdir(&list).expect("mkdir");
    for i in 0..100 {
        c.write_file(&format!("{list}/entry-{i:03}"), b"x")
            .expect("write");
    }
    print(
        "readdir_100",
        rate(budget, |_| {
            assert_eq!(c.readdir(&list).expect("readdir").len(), 100)
        }),
        "ops/s",
    );
    let big = vec![0xa5u8; 64 << 20];
    let t = Instant::now();
    c.write_file(&format!("{root}/big"), &big)
        .expect("64 MiB write");
    print("write_64mib", 64.0 / t.elapsed().as_secs_f64(), "MiB/s");
    let t = Instant::now();
    let back = c.read_file(&format!("{root}/big")).expect("64 MiB read");
    print("read_64mib", 64.0 / t.elapsed().as_secs_f64(), "MiB/s");
    assert_eq!(back.len(), big.len());
    c.unlink(&format!("{root}/big")).expect("unlink");
    // Rename of a directory holding 10,000 entries versus one holding 1.
    for (name, n) in [("small", 1), ("large", 10_000)] {
        let d = format!("{root}/{name}");
        c.mkdir(&d).expect("mkdir");
        for i in 0..n {
            c.write_file(&format!("{d}/e{i}"), b"").expect("entry");
        }
    }
    let mut per = Vec::new();
    for name in ["small", "large"] {
        let mut a = format!("{root}/{name}");
        let r = rate(budget, |i| {
            let b = format!("{root}/{name}-{i}");
            c.rename(&a, &b).expect("rename");
            a = b;
        });
        print(&format!("rename_dir_{name}"), r, "ops/s");
        per.push(r);
    }
    print("rename_dir_ratio_small_over_large", per[0] / per[1], "x");
}

/// Clock and entropy of the in-process counting run.
struct CountEnv(std::cell::Cell<u64>);

impl vfs_service::Env for CountEnv {
    fn now_ns(&self) -> u64 {
        self.0.set(self.0.get() + 1000);
        self.0.get()
    }
    fn random(&self, out: &mut [u8]) -> Result<(), vfs_service::VfsError> {
        for b in out {
            self.0.set(
                self.0
                    .get()
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1),
            );
            *b = (self.0.get() >> 33) as u8;
        }
        Ok(())
    }
}

/// Store commits and device traffic per operation, counted in-process (the VFS's commit
/// counter and the RAM device's counters): deterministic, unlike the timings.
fn count_figures() {
    use vfs_service::Ctx;
    use vfs_service::protocol::messages::OpenFlags;
    let env = CountEnv(std::cell::Cell::new(1_700_000_000_000_000_000));
    let mut fs = Vfs::new(ram_store(64), Limits::default());
    fs.boot(&env).expect("boot");
    let ctx = Ctx::service(&env);
    fs.mkdir(&ctx, "/tmp/count", false, None).expect("mkdir");
    let create = OpenFlags {
        write: true,
        create: true,
        ..OpenFlags::default()
    };
    let measure = |name: &str,
                   fs: &mut Vfs<RamDevice, SoftwareEngine>,
                   op: &dyn Fn(&mut Vfs<RamDevice, SoftwareEngine>, u32)| {
        // Warm up once, then average over a few runs.
        op(fs, 0);
        while fs.collect_garbage(64).expect("collect") {}
        let runs = 8u32;
        let c0 = fs.write_stats().store_commits;
        let d0 = fs.store_mut().device().counters();
        for i in 1..=runs {
            op(fs, i);
        }
        let c1 = fs.write_stats().store_commits;
        let d1 = fs.store_mut().device().counters();
        let n = f64::from(runs);
        print(&format!("commits.{name}"), (c1 - c0) as f64 / n, "commits");
        print(
            &format!("device_written.{name}"),
            (d1.bytes_written - d0.bytes_written) as f64 / n / 1024.0,
            "KiB",
        );
        print(
            &format!("device_flushes.{name}"),
            (d1.flushes - d0.flushes) as f64 / n,
            "flushes",
        );
    };
    measure("write_4k_handle", &mut fs, &|fs, i| {
        let h = fs
            .open(&ctx, &format!("/tmp/count/h{i}"), create, None, None)
            .expect("open")
            .handle;
        fs.handle_write(&ctx, h, &[1; 3968]).expect("write");
        fs.handle_write(&ctx, h, &[2; 128]).expect("write");
        fs.handle_close(&ctx, h).expect("close");
    });
    measure("write_4k_message", &mut fs, &|fs, i| {
        fs.write_file(&ctx, &format!("/tmp/count/w{i}"), &[3; 4096], None, None)
            .expect("write");
    });
    measure("stream_1mib", &mut fs, &|fs, i| {
        let h = fs
            .open(&ctx, &format!("/tmp/count/s{i}"), create, None, None)
            .expect("open")
            .handle;
        let mut left = 1usize << 20;
        while left > 0 {
            let n = left.min(3968);
            fs.handle_write(&ctx, h, &vec![4; n]).expect("write");
            left -= n;
        }
        fs.handle_close(&ctx, h).expect("close");
    });
    measure("collect_idle", &mut fs, &|fs, _| {
        assert!(!fs.collect_garbage(64).expect("collect"));
    });
    // The same 64 MiB stream as `write_64mib`, in-process (no IPC, no client): what the VFS and
    // the store cost on their own; and once more with the handle buffer off (a transaction
    // per message, as before buffering), under the same load, for a fair comparison.
    let piece = vec![0xa5u8; 3968];
    let write_through = vfs_service::WriteBuffer {
        pieces: 0,
        total_bytes: 0,
    };
    let mut last = None;
    for (name, buffer) in [
        ("inproc.write_64mib_writethrough", write_through),
        ("inproc.write_64mib", vfs_service::WriteBuffer::default()),
    ] {
        drop(last.take());
        let mut fs = Vfs::new(ram_store(512), Limits::default());
        fs.boot(&env).expect("boot");
        fs.set_write_buffer(buffer);
        let t = Instant::now();
        let h = fs
            .open(&ctx, "/tmp/inproc", create, None, None)
            .expect("open")
            .handle;
        let mut left = 64usize << 20;
        while left > 0 {
            let n = left.min(piece.len());
            fs.handle_write(&ctx, h, &piece[..n]).expect("write");
            left -= n;
        }
        fs.handle_close(&ctx, h).expect("close");
        print(name, 64.0 / t.elapsed().as_secs_f64(), "MiB/s");
        last = Some(fs);
    }
    let mut fs = last.expect("the stream ran");
    let read = OpenFlags {
        read: true,
        ..OpenFlags::default()
    };
    let t = Instant::now();
    let h = fs
        .open(&ctx, "/tmp/inproc", read, None, None)
        .expect("open")
        .handle;
    let mut total = 0usize;
    loop {
        let got = fs.handle_read(&ctx, h, 3968).expect("read");
        if got.is_empty() {
            break;
        }
        total += got.len();
    }
    fs.handle_close(&ctx, h).expect("close");
    assert_eq!(total, 64 << 20);
    print(
        "inproc.read_64mib",
        64.0 / t.elapsed().as_secs_f64(),
        "MiB/s",
    );
}

fn peer_figures(budget: Duration) {
    let root = std::env::temp_dir().join(format!("zos-vfs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("peer dir");
    let f4k = root.join("f4k");
    let data4k = vec![0x5a; 4096];
    std::fs::write(&f4k, &data4k).expect("write");
    let p = |name: &str, v: f64, unit: &str| println!("vfs.peer.{name}: {v:.1} {unit}");
    p(
        "stat",
        rate(budget, |_| {
            let _ = std::fs::metadata(&f4k).expect("stat");
        }),
        "ops/s",
    );
    p(
        "read_4k",
        rate(budget, |_| drop(std::fs::read(&f4k).expect("read"))),
        "ops/s",
    );
    p(
        "write_4k",
        rate(budget, |_| std::fs::write(&f4k, &data4k).expect("write")),
        "ops/s",
    );
    p(
        "mkdir",
        rate(budget, |i| {
            std::fs::create_dir(root.join(format!("d{i}"))).expect("mkdir")
        }),
        "ops/s",
    );
    let list = root.join("list");
    std::fs::create_dir(&list).expect("mkdir");
    for i in 0..100 {
        std::fs::write(list.join(format!("entry-{i:03}")), b"x").expect("write");
    }
    p(
        "readdir_100",
        rate(budget, |_| {
            assert_eq!(std::fs::read_dir(&list).expect("ls").count(), 100)
        }),
        "ops/s",
    );
    let big = vec![0xa5u8; 64 << 20];
    let t = Instant::now();
    std::fs::write(root.join("big"), &big).expect("write");
    p("write_64mib", 64.0 / t.elapsed().as_secs_f64(), "MiB/s");
    let t = Instant::now();
    let back = std::fs::read(root.join("big")).expect("read");
    p("read_64mib", 64.0 / t.elapsed().as_secs_f64(), "MiB/s");
    assert_eq!(back.len(), big.len());
    let _ = std::fs::remove_dir_all(&root);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 200 } else { 1000 });
    let kernel = HostKernel::new();
    let ep = kernel.endpoint("vfs", 16);
    kernel.spawn(TaskSpec::new("vfs").serves(ep), move |h| {
        let mut fs = Vfs::new(ram_store(512), Limits::default());
        if fs.boot(&KernelEnv(&h)).is_ok() {
            h.log(LogLevel::Info, "vfs: ready");
            let _ = serve(&h, ep, &mut fs);
        }
    });
    assert!(
        kernel.wait_for_log("vfs: ready", Duration::from_secs(30)),
        "vfs did not boot"
    );
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    kernel.spawn(
        TaskSpec::new("bench")
            .class(ProcessClass::System)
            .reaches(ep),
        move |h| {
            vfs_figures(&h, ep, budget);
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(());
            }
        },
    );
    rx.recv_timeout(Duration::from_secs(1800))
        .expect("benchmark finished");
    peer_figures(budget);
    count_figures();
    // Leave without dropping the host kernel: its shutdown unwinds the task threads, which a
    // release build (panic = abort) turns into an abort.
    std::process::exit(0);
}
