//! Locations in the workspace and its build output.

use std::path::PathBuf;

/// The target triple of the QEMU image.
pub const IMAGE_TARGET: &str = "riscv64gc-unknown-none-elf";

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

/// Where xtask keeps run-time state: disk images, flash images.
pub fn state_dir() -> PathBuf {
    target_dir().join("zos")
}

/// Where cargo writes the kernel ELF: the last system built. Each system's image is copied to
/// `state_dir()/kernel-system-<name>` (see the image builder), which is what gets booted.
pub fn kernel_elf() -> PathBuf {
    target_dir()
        .join(IMAGE_TARGET)
        .join("release")
        .join("kernel")
}

/// The tree `cargo xtask run` bakes into a new disk image.
pub fn rootfs_dir() -> PathBuf {
    workspace_root().join("qemu").join("rootfs")
}
