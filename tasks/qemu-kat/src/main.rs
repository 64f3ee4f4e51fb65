//! Bare-metal riscv64 image (S-mode under OpenSBI, no paging) that runs zos-virtio against the
//! real QEMU devices: virtio-crypto on `cryptodev-backend-builtin` and virtio-blk. It prints
//! each check (among them the 375 NIST AES-256-GCM vectors through the device engine) and exits
//! QEMU through the `sifive_test` device: pass = status 0. `cargo xtask test` builds it and
//! `tests/tests/qemu_kat.rs` boots it on the QEMU machine of `cargo xtask run`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod image;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the KAT image boots bare-metal in QEMU; `cargo xtask test` runs it");
}
