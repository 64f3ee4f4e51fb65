//! `cargo xtask run`: build the image and boot it in QEMU with the console on this terminal.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use xtask::bake::bake_disk;
use xtask::machine::{DISK_BYTES, Machine};
use xtask::paths::{rootfs_dir, state_dir};
use xtask::provision;

use crate::image::{build_kernel, build_kernel_for};

/// Boots the system; returns QEMU's (that is, the guest's) exit status.
pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut crypto_device = true;
    let mut rng_device = true;
    let mut icount = false;
    let mut gdb = false;
    let mut plain = false;
    let mut system_file = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--system" => {
                let file = args.next().ok_or("run: --system needs a system file")?;
                system_file = Some(std::path::PathBuf::from(file));
            }
            "--plain-log" => plain = true,
            "--no-crypto-device" => crypto_device = false,
            "--no-rng-device" => rng_device = false,
            "--icount" => icount = true,
            "--gdb" => gdb = true,
            other => return Err(format!("run: unknown option `{other}`")),
        }
    }
    let kernel = match &system_file {
        Some(file) => build_kernel_for(file)?,
        None => build_kernel()?,
    };
    provision::ensure_qemu().map_err(|e| e.to_string())?;
    // Another system (a test or benchmark system) boots a new blank disk of its own each time,
    // so it neither depends on nor changes the product's disk.
    let dir = match &system_file {
        Some(file) => {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dir = state_dir().join(format!("system-{stem}"));
            let _ = std::fs::remove_dir_all(&dir);
            dir
        }
        None => state_dir(),
    };
    let mut machine = Machine::at(kernel, &dir).map_err(|e| format!("images: {e}"))?;
    if system_file.is_none() && !machine.disk.exists() {
        // A new disk starts with the repository's tree in it, baked with zvfs.
        let files = bake_disk(&machine.disk, &machine.key, DISK_BYTES, &rootfs_dir())?;
        eprintln!(
            "xtask: baked {files} files from qemu/rootfs into {}",
            machine.disk.display()
        );
    }
    machine
        .create_images()
        .map_err(|e| format!("images: {e}"))?;
    machine.crypto_device = crypto_device;
    machine.rng_device = rng_device;
    machine.icount = icount;
    machine.gdb = gdb;
    if gdb {
        eprintln!("xtask: QEMU waits for gdb on localhost:1234 (target remote :1234)");
    }
    // Kernel log records come as defmt frames on their own channel, decoded here; the console
    // (stdio) carries only the text console. `--plain-log` keeps everything on the console.
    let follower = if plain {
        None
    } else {
        let log = dir.join("defmt.log");
        let _ = std::fs::remove_file(&log);
        let table = crate::defmt_log::table(&machine.kernel)?;
        machine.defmt_log = Some(log.clone());
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || crate::defmt_log::follow(&table, &log, &flag));
        Some((done, thread))
    };
    let status = machine
        .command()
        .status()
        .map_err(|e| format!("could not start QEMU: {e}"));
    if let Some((done, thread)) = follower {
        done.store(true, Ordering::Relaxed);
        let _ = thread.join();
    }
    let status = status?;
    let code = status.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
