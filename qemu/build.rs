//! Links the kernel at the address OpenSBI jumps to, but only for the bare-metal target; on the
//! host the crate builds as a stub so that workspace-wide host commands keep working.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("riscv64") && target.ends_with("-none-elf") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        println!("cargo:rerun-if-changed=link.ld");
    }
}
