//! `spinner`: a low-priority task that spins without ever blocking for a while, then exits. It
//! serves the `sink` endpoint but never receives, so that endpoint's queue fills up.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{Kernel, TaskId, klog};
    use zos_runtime::Syscalls;

    /// How long it spins, in `time` ticks (QEMU virt counts at 10 MHz): 400 ms.
    const SPIN_TICKS: u64 = 4_000_000;

    fn rdtime() -> u64 {
        let t: u64;
        // SAFETY: reading the `time` counter (which the kernel lets U-mode read) has no
        // side effects.
        unsafe { core::arch::asm!("rdtime {0}", out(reg) t) };
        t
    }

    fn main(_me: TaskId) -> u32 {
        let k = Syscalls;
        klog!(&k, Info, "spinning for 400 ms without a syscall");
        let start = rdtime();
        let mut turns = 0u64;
        // No syscall in the loop: only the timer interrupt can take the CPU away.
        while rdtime() - start < SPIN_TICKS {
            turns = turns.wrapping_add(1);
        }
        let _ = k.monotonic_ns();
        klog!(&k, Info, "spinner done after {turns} turns");
        0
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
