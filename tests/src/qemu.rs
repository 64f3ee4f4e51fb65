//! Booting the image in QEMU from a test: a private copy of the machine's images, the console
//! captured, a deadline after which QEMU is killed and the test fails.

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use xtask::machine::Machine;

/// What a finished boot left behind.
#[derive(Debug)]
pub struct Boot {
    /// Everything the guest printed on its console.
    pub console: String,
    /// QEMU's exit status, or `None` if it was killed at the deadline.
    pub status: Option<i32>,
}

/// The kernel image the test boots, from `ZOS_KERNEL` (set by `cargo xtask test`).
pub fn kernel() -> PathBuf {
    match std::env::var_os("ZOS_KERNEL") {
        Some(path) => PathBuf::from(path),
        None => panic!("ZOS_KERNEL is not set: QEMU tests run through `cargo xtask test`"),
    }
}

/// The image of the product system (`qemu/system.toml`: init, the VFS, the shell), from
/// `ZOS_SYSTEM_KERNEL` (set by `cargo xtask test`).
pub fn system_kernel() -> PathBuf {
    match std::env::var_os("ZOS_SYSTEM_KERNEL") {
        Some(path) => PathBuf::from(path),
        None => panic!("ZOS_SYSTEM_KERNEL is not set: QEMU tests run through `cargo xtask test`"),
    }
}

/// The image of the VFS conformance system (`qemu/conformance.toml`), from
/// `ZOS_CONFORMANCE_KERNEL` (set by `cargo xtask test`).
pub fn conformance_kernel() -> PathBuf {
    match std::env::var_os("ZOS_CONFORMANCE_KERNEL") {
        Some(path) => PathBuf::from(path),
        None => {
            panic!("ZOS_CONFORMANCE_KERNEL is not set: QEMU tests run through `cargo xtask test`")
        }
    }
}

/// A machine of the product system with fresh images (a blank disk and a new key), named
/// after the test.
pub fn fresh_system_machine(test_name: &str) -> Machine {
    fresh_machine_with(system_kernel(), test_name)
}

/// A machine of the conformance system with fresh images, named after the test.
pub fn fresh_conformance_machine(test_name: &str) -> Machine {
    fresh_machine_with(conformance_kernel(), test_name)
}

/// A machine with fresh images in a new directory under the target directory, named after the
/// test so that concurrent tests never share a disk.
pub fn fresh_machine(test_name: &str) -> Machine {
    fresh_machine_with(kernel(), test_name)
}

/// A machine booting `kernel` (any image OpenSBI can start) with fresh images, named after the
/// test.
pub fn fresh_machine_with(kernel: PathBuf, test_name: &str) -> Machine {
    let dir = xtask::paths::target_dir().join("zos-tests").join(test_name);
    // A leftover from an earlier run would make this boot depend on it.
    let _ = std::fs::remove_dir_all(&dir);
    Machine::new(kernel, &dir).expect("create the test machine's images")
}

/// A product-image machine whose new disk was baked from `qemu/rootfs/`, as `cargo xtask run`
/// makes it.
pub fn baked_system_machine(test_name: &str) -> Machine {
    let dir = xtask::paths::target_dir().join("zos-tests").join(test_name);
    let _ = std::fs::remove_dir_all(&dir);
    let machine = Machine::at(system_kernel(), &dir).expect("create the test machine's directory");
    xtask::bake::bake_disk(
        &machine.disk,
        &machine.key,
        xtask::machine::DISK_BYTES,
        &xtask::paths::rootfs_dir(),
    )
    .expect("bake qemu/rootfs into the disk");
    machine.create_images().expect("create the flash image");
    machine
}

/// Boots `machine`, feeding `input` to its console, and waits for QEMU to exit or `deadline` to
/// pass.
pub fn boot(machine: &Machine, input: &[u8], deadline: Duration) -> Boot {
    let mut child = machine
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-system-riscv64");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        // The guest may exit before reading its input; that is the guest's verdict, not ours.
        let _ = stdin.write_all(input);
    }
    let (tx, rx) = mpsc::channel();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err);
        out.extend_from_slice(&err);
        let _ = tx.send(out);
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("poll qemu") {
            Some(status) => break status.code(),
            None if start.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    let console = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let _ = reader.join();
    Boot {
        console: String::from_utf8_lossy(&console).replace('\r', ""),
        status,
    }
}
