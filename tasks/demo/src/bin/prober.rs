//! `prober`: reads memory it must not reach. Its first incarnation reads the kernel's image,
//! the second reads where another task (`ping`) has its heap, the third passes a kernel address
//! to a syscall; each must fault, be reported to init and be restarted. The fourth incarnation
//! says so and exits cleanly.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{TaskId, klog};
    use zos_runtime::Syscalls;

    /// The kernel's load address (mapped in every address space, without the U bit).
    const KERNEL_IMAGE: usize = 0x8020_0000;
    /// Where the kernel maps a task's heap; `ping` has one, this task has none.
    const OTHER_TASK_HEAP: usize = 0x10_0000_0000;

    fn read(addr: usize) -> u64 {
        // SAFETY: not safe at all on purpose: this address is outside the task's memory and
        // the kernel must stop the task on this load.
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }

    fn main(me: TaskId) -> u32 {
        let k = Syscalls;
        match me.generation {
            0 => {
                klog!(&k, Info, "reading kernel memory at {KERNEL_IMAGE:#x}");
                let v = read(KERNEL_IMAGE);
                klog!(&k, Error, "read kernel memory: {v:#x}");
                1
            }
            1 => {
                klog!(
                    &k,
                    Info,
                    "reading another task's memory at {OTHER_TASK_HEAP:#x}"
                );
                let v = read(OTHER_TASK_HEAP);
                klog!(&k, Error, "read another task's memory: {v:#x}");
                1
            }
            2 => {
                klog!(
                    &k,
                    Info,
                    "asking the kernel to log kernel memory at {KERNEL_IMAGE:#x}"
                );
                // SAFETY: the pointer is deliberately not ours: the kernel must refuse to read
                // it and stop this task (a bad syscall argument), never dereference it.
                unsafe {
                    zos_runtime::riscv64::raw_syscall(
                        kernel_abi::Sysno::DebugWrite,
                        [
                            KERNEL_IMAGE,
                            16,
                            kernel_abi::LogLevel::Info as usize,
                            0,
                            0,
                            0,
                        ],
                    )
                };
                klog!(&k, Error, "the kernel wrote out its own memory");
                1
            }
            _ => {
                klog!(
                    &k,
                    Info,
                    "test memory-isolation ... ok (two reads and a syscall faulted)"
                );
                0
            }
        }
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
