//! Build-script support for task crates: one place that knows how a task binary is linked.
//!
//! A task crate's `build.rs` is `fn main() { zos_runtime::task_link::link_task_binaries(); }`
//! with `zos-runtime = { workspace = true, features = ["std"] }` under `[build-dependencies]`.

/// On a bare-metal riscv64 target, links the crate's binaries with `runtime/task.ld`, the
/// layout the task runtime ([`crate::task_entry!`]) and the kernel's loader agree on; on any
/// other target (host builds: the stub binaries and the tests) it does nothing.
pub fn link_task_binaries() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("riscv64") && target.ends_with("-none-elf") {
        let layout = concat!(env!("CARGO_MANIFEST_DIR"), "/task.ld");
        println!("cargo:rustc-link-arg-bins=-T{layout}");
        println!("cargo:rerun-if-changed={layout}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
