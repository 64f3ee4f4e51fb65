//! Links the kernel at the address OpenSBI jumps to, but only for the bare-metal target; on the
//! host the crate builds as a stub so that workspace-wide host commands keep working.
//!
//! The system description (tasks and endpoints) comes from xtask: it builds the tasks, writes a
//! Rust file that embeds them and points `ZOS_SYSTEM_RS` at it. Without it (a plain `cargo
//! build` or clippy) the kernel gets an empty system and only prints its banner.
use std::path::PathBuf;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("riscv64") && target.ends_with("-none-elf") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        println!("cargo:rerun-if-changed=link.ld");
    }
    println!("cargo:rerun-if-env-changed=ZOS_SYSTEM_RS");
    println!("cargo:rerun-if-env-changed=DEFMT_LOG");
    let system = match std::env::var_os("ZOS_SYSTEM_RS") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => {
            let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
            let path = out.join("empty_system.rs");
            std::fs::write(
                &path,
                "/// No tasks: the kernel was built without xtask.\n\
                 pub static SYSTEM: System = System { tasks: &[], endpoints: &[], tick_us: 10_000 };\n",
            )
            .expect("write the empty system description");
            path
        }
    };
    println!("cargo:rustc-env=ZOS_SYSTEM_RS={}", system.display());
}
