//! The reference Zero OS microkernel for the QEMU riscv64 `virt` machine.
//!
//! It runs in S-mode under OpenSBI: reads the platform from the device tree, prints what it
//! found, sets up memory and Sv39 address spaces, loads the tasks of the system description
//! (embedded by xtask) and schedules them. When no task can run any more it powers the machine
//! off through SBI, with a failure status if a task exited with a non-zero status.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod kern;
#[cfg(target_os = "none")]
mod probe;

// The architecture's entry code, wired to the kernel here at the root so that `arch` depends on
// nothing else in the kernel: `_start` calls `boot::kmain`, the trap vector calls the kernel's
// trap handlers.
#[cfg(target_os = "none")]
arch::riscv64::entry::boot_entry!(boot::kmain);
#[cfg(target_os = "none")]
arch::riscv64::trap::trap_vector!(kern::trap_entry, kern::kernel_trap);

/// The system description xtask generated (or an empty one when the kernel is built alone).
#[cfg(target_os = "none")]
mod generated {
    use qemu_kernel::system::*;
    include!(env!("ZOS_SYSTEM_RS"));
}

/// The kernel never allocates; kernel-abi links `alloc` (for its serde derives), which needs a
/// global allocator to exist. Every request fails.
#[cfg(target_os = "none")]
struct NoAllocator;

// SAFETY: `alloc` always returns null, which callers must handle as allocation failure; no
// memory is ever handed out, so `dealloc` has nothing to release.
#[cfg(target_os = "none")]
unsafe impl core::alloc::GlobalAlloc for NoAllocator {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: NoAllocator = NoAllocator;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "the Zero OS kernel runs on riscv64gc-unknown-none-elf; boot it with `cargo xtask run`"
    );
}
