//! Links the image at the address OpenSBI jumps to, on the bare-metal target only (host builds
//! are the stub binary).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("riscv64") && target.ends_with("-none-elf") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        println!("cargo:rerun-if-changed=link.ld");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
