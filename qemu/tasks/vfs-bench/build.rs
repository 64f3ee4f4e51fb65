//! Links the VFS benchmark task with kernel-abi's task layout, on the bare-metal target only.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("riscv64") && target.ends_with("-none-elf") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        // kernel-abi's task layout, which its task runtime and the kernel agree on.
        println!("cargo:rustc-link-arg-bins=-T{dir}/../../../kernel-abi/task.ld");
        println!("cargo:rerun-if-changed=../../../kernel-abi/task.ld");
    }
}
