//! Building the bootable image: the tasks of the system file for the QEMU target, then the kernel
//! with a generated description that embeds them, in release mode.

use std::path::{Path, PathBuf};

use xtask::paths::{IMAGE_TARGET, kernel_elf, state_dir, target_dir, workspace_root};
use xtask::provision;
use xtask::system::{System, generate};

use crate::cmd::{cargo, cargo_command, status};

/// The system file `cargo xtask run` and the QEMU tests boot.
pub fn default_system_file() -> PathBuf {
    workspace_root().join("qemu").join("system.toml")
}

/// The kernel's test system (init and the demo tasks) the QEMU kernel and boot tests boot.
pub fn kernel_tests_system_file() -> PathBuf {
    workspace_root().join("qemu").join("kernel-tests.toml")
}

/// The VFS conformance system (init, the VFS, identity tasks and the conformance task) the QEMU
/// conformance test boots.
pub fn conformance_system_file() -> PathBuf {
    workspace_root().join("qemu").join("conformance.toml")
}

/// The flash check system (init and the task that runs the store on the CFI flash bank) the
/// QEMU flash test boots.
pub fn flash_check_system_file() -> PathBuf {
    workspace_root().join("qemu").join("flash-check.toml")
}

/// Where a task binary lands.
fn task_elf(bin: &str) -> PathBuf {
    target_dir().join(IMAGE_TARGET).join("release").join(bin)
}

/// Builds the kernel ELF for the default system file and returns its path.
pub fn build_kernel() -> Result<PathBuf, String> {
    build_kernel_for(&default_system_file())
}

/// Builds the tasks of `system_file`, then the kernel embedding them; returns the kernel ELF.
pub fn build_kernel_for(system_file: &Path) -> Result<PathBuf, String> {
    provision::ensure_rust_targets().map_err(|e| e.to_string())?;
    let system = System::load(system_file)?;
    let mut args = vec![
        "build".to_string(),
        "--release".into(),
        "--target".into(),
        IMAGE_TARGET.into(),
    ];
    for (package, bin) in system.binaries() {
        args.extend(["--package".into(), package, "--bin".into(), bin]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cargo("build the tasks", &args)?;
    let generated = state_dir().join(format!(
        "system-{}.rs",
        system_file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(state_dir()).map_err(|e| format!("{}: {e}", state_dir().display()))?;
    let code = generate(&system, task_elf);
    // Rewriting an unchanged file would make cargo rebuild the kernel for nothing.
    if std::fs::read_to_string(&generated).ok().as_deref() != Some(code.as_str()) {
        std::fs::write(&generated, code).map_err(|e| format!("{}: {e}", generated.display()))?;
    }
    let mut kernel = cargo_command(&[
        "build",
        "--release",
        "--package",
        "qemu-kernel",
        "--bin",
        "kernel",
        "--target",
        IMAGE_TARGET,
    ]);
    kernel.env("ZOS_SYSTEM_RS", &generated);
    // Which defmt log records are compiled in (defmt's compile-time filter).
    kernel.env("DEFMT_LOG", "debug");
    status("build the kernel", &mut kernel)?;
    // Cargo writes every system's kernel to the same path: each system's image gets a copy of
    // its own, so that building one system never changes the image another one boots.
    let copy = state_dir().join(format!(
        "kernel-{}",
        generated
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::copy(kernel_elf(), &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    Ok(copy)
}
