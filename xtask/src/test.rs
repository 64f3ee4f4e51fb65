//! `cargo xtask test`: everything CI checks, in the order that fails fastest.
//!
//! 1. `cargo fmt --check`
//! 2. clippy with `-D warnings` on the host workspace and on the no_std crates for the image target
//! 3. host tests (every crate's unit and integration tests)
//! 4. release builds of the no_std crates for every pinned target (a no_std regression fails here)
//! 5. a short pass of every fuzz target (`cargo xtask fuzz`)
//! 6. the QEMU system tests, against the kernel images built for them (kernel tests, VFS
//!    conformance, the product system)

use std::process::ExitCode;

use xtask::paths::{IMAGE_TARGET, target_dir};
use xtask::provision;

use crate::cmd::{cargo, cargo_command, status};
use crate::image::{
    build_kernel, build_kernel_for, conformance_system_file, flash_check_system_file,
    kernel_tests_system_file,
};

/// The fuzz targets' workspace (its own, see `tests/fuzz/Cargo.toml`).
const FUZZ_MANIFEST: &str = "tests/fuzz/Cargo.toml";

/// The crates that must build without `std` for every board target.
const NO_STD_CRATES: &[&str] = &[
    "kernel-abi",
    "kernel-core",
    "storage-backend",
    "vfs-api",
    "vfs-service",
    "zos-virtio",
    "zos-cfi-flash",
];
/// The crates built for the QEMU image target only: the kernel and the tasks.
const IMAGE_CRATES: &[&str] = &[
    "qemu-kernel",
    "zos-runtime",
    "zos-demo",
    "init",
    "zos-shell",
    "zos-identity",
    "zos-vfs",
    "zos-vfs-bench",
    "vfs-conformance",
    "zos-virtio-qemu-kat",
    "zos-flash-check",
];

/// Runs every check; the first failure stops the run.
pub fn test(args: &[String]) -> Result<ExitCode, String> {
    let mut exhaustive = false;
    for arg in args {
        match arg.as_str() {
            // Power-loss suites read ZOS_EXHAUSTIVE: every cut point of the large workloads too.
            "--exhaustive" => exhaustive = true,
            other => return Err(format!("test: unknown option `{other}`")),
        }
    }

    provision::ensure_rust_targets().map_err(|e| e.to_string())?;

    cargo(
        "formatting (cargo fmt --check)",
        &["fmt", "--all", "--check"],
    )?;
    cargo(
        "formatting of the fuzz targets",
        &["fmt", "--manifest-path", FUZZ_MANIFEST, "--check"],
    )?;
    cargo(
        "clippy on the host workspace",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let mut target_clippy = vec!["clippy", "--target", IMAGE_TARGET];
    for krate in NO_STD_CRATES.iter().chain(IMAGE_CRATES) {
        target_clippy.extend(["--package", krate]);
    }
    target_clippy.extend(["--", "-D", "warnings"]);
    cargo(&format!("clippy for {IMAGE_TARGET}"), &target_clippy)?;

    let fuzz_target_dir = target_dir().join("fuzz");
    let mut fuzz_clippy =
        cargo_command(&["clippy", "--manifest-path", FUZZ_MANIFEST, "--target-dir"]);
    fuzz_clippy
        .arg(&fuzz_target_dir)
        .args(["--all-targets", "--", "-D", "warnings"]);
    status("clippy on the fuzz targets", &mut fuzz_clippy)?;

    let mut host_tests = cargo_command(&["test", "--workspace"]);
    if exhaustive {
        // Power-loss suites read this: every cut point of the large workloads, not a sample.
        host_tests.env("ZOS_EXHAUSTIVE", "1");
    }
    status("host tests", &mut host_tests)?;

    for target in provision::pinned_targets() {
        let mut build = vec!["build", "--release", "--lib", "--target", &target];
        for krate in NO_STD_CRATES {
            build.extend(["--package", krate]);
        }
        cargo(&format!("no_std build for {target}"), &build)?;
    }

    // A short pass of every fuzz target: the committed corpus, then a few thousand new inputs.
    crate::fuzz::short_pass()?;

    // The kernel's test system (demo tasks) for the kernel and boot tests, the conformance
    // system for the suite in QEMU, and the product system (VFS + shell) for the VFS tests.
    let kernel = build_kernel_for(&kernel_tests_system_file())?;
    let conformance_kernel = build_kernel_for(&conformance_system_file())?;
    let flash_kernel = build_kernel_for(&flash_check_system_file())?;
    let system_kernel = build_kernel()?;
    // The bare-metal NIST check of the virtio-crypto driver, built on its own so that its
    // `nist-kat` feature never reaches the VFS task's build.
    cargo(
        "build the virtio-crypto KAT image",
        &[
            "build",
            "--release",
            "--target",
            IMAGE_TARGET,
            "--package",
            "zos-virtio-qemu-kat",
        ],
    )?;
    let kat_image = target_dir()
        .join(IMAGE_TARGET)
        .join("release")
        .join("zos-virtio-qemu-kat");
    provision::ensure_qemu().map_err(|e| e.to_string())?;
    // Every QEMU test target of the system-tests crate; each boots its own machine.
    let mut system_tests = cargo_command(&["test", "--package", "system-tests", "--tests"]);
    system_tests
        .args(["--", "--ignored"])
        .env("ZOS_KERNEL", &kernel)
        .env("ZOS_CONFORMANCE_KERNEL", &conformance_kernel)
        .env("ZOS_FLASH_KERNEL", &flash_kernel)
        .env("ZOS_KAT_IMAGE", &kat_image)
        .env("ZOS_SYSTEM_KERNEL", &system_kernel);
    status("QEMU system tests", &mut system_tests)?;

    eprintln!("xtask: all tests passed");
    Ok(ExitCode::SUCCESS)
}
