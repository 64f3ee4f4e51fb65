//! The reference Zero OS microkernel for the QEMU riscv64 `virt` machine.
//!
//! It runs in S-mode under OpenSBI. At this stage it reads the platform from the device tree,
//! prints what it found, and powers the machine off through SBI.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod console;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "the Zero OS kernel runs on riscv64gc-unknown-none-elf; boot it with `cargo xtask run`"
    );
}
