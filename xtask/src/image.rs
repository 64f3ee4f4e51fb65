//! Building the bootable image: the kernel for the QEMU target, in release mode.

use std::path::PathBuf;

use xtask::paths::{IMAGE_TARGET, kernel_elf};
use xtask::provision;

use crate::cmd::cargo;

/// Builds the kernel ELF and returns its path.
pub fn build_kernel() -> Result<PathBuf, String> {
    provision::ensure_rust_targets().map_err(|e| e.to_string())?;
    cargo(
        "build the kernel",
        &[
            "build",
            "--release",
            "--package",
            "qemu-kernel",
            "--bin",
            "kernel",
            "--target",
            IMAGE_TARGET,
        ],
    )?;
    Ok(kernel_elf())
}
