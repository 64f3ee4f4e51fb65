//! Shared parts of the demo tasks: their little protocol and, on the target, a minimal runtime
//! (entry point and panic handler) so each task is a plain `fn main(me: TaskId)`.
#![cfg_attr(target_os = "none", no_std)]
#![deny(missing_docs)]

use kernel_abi::Tag;

/// `pong`: echo the payload back (response tag + 1).
pub const ECHO: Tag = Tag(0x2000);
/// `pong`: answer with the caller's credentials as the kernel stamped them.
pub const WHOAMI: Tag = Tag(0x2002);
/// `crasher`: answer.
pub const PING: Tag = Tag(0x2010);
/// `crasher`: execute an illegal instruction.
pub const CRASH: Tag = Tag(0x2012);

/// Endpoint numbers of the demo system (their order in `qemu/system.toml`).
pub mod endpoints {
    use kernel_abi::EndpointId;
    /// Served by `pong`.
    pub const PONG: EndpointId = EndpointId(1);
    /// Served by `crasher`.
    pub const CRASHER: EndpointId = EndpointId(2);
    /// Served by `spinner`, which never receives.
    pub const SINK: EndpointId = EndpointId(3);
}

/// Encodes credentials for the `WHOAMI` answer: their three register words, little-endian.
pub fn encode_credentials(c: &kernel_abi::Credentials) -> [u8; 24] {
    let mut out = [0u8; 24];
    for (i, w) in c.to_regs().iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Decodes [`encode_credentials`].
pub fn decode_credentials(b: &[u8]) -> Option<kernel_abi::Credentials> {
    let mut regs = [0u64; 3];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = u64::from_le_bytes(b.get(i * 8..i * 8 + 8)?.try_into().ok()?);
    }
    kernel_abi::Credentials::from_regs(regs)
}

/// The bare-metal runtime: `_start` calls the binary's `task_main(id)` and exits with its
/// status; a panic logs and exits with [`kernel_abi::ExitStatus::PANIC`].
#[cfg(target_os = "none")]
pub mod rt {
    use kernel_abi::{ExitStatus, LogLevel, Syscalls, TaskId};

    core::arch::global_asm!(
        r#"
        .section .text.entry
        .globl _start
    _start:
        call {entry}
    1:  j 1b
        "#,
        entry = sym entry,
    );

    unsafe extern "Rust" {
        /// Provided by each binary through [`crate::task_main!`].
        fn zos_task_main(me: TaskId) -> u32;
    }

    extern "C" fn entry(raw_id: usize) -> ! {
        // SAFETY: every binary of this crate defines `zos_task_main` with this signature
        // through `task_main!`.
        let status = unsafe { zos_task_main(TaskId::from_raw(raw_id as u32)) };
        Syscalls::exit(ExitStatus(status))
    }

    /// The demo tasks never allocate; kernel-abi links `alloc`, which needs an allocator to
    /// exist. Every request fails.
    struct NoAllocator;

    // SAFETY: `alloc` always returns null (allocation failure), so no memory is handed out and
    // `dealloc` has nothing to release.
    unsafe impl core::alloc::GlobalAlloc for NoAllocator {
        unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
            core::ptr::null_mut()
        }
        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: NoAllocator = NoAllocator;

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        kernel_abi::kernel::log_fmt(&Syscalls, LogLevel::Error, format_args!("panic: {info}"));
        Syscalls::exit(ExitStatus::PANIC)
    }
}

/// Declares the task's main function: `task_main!(main)` with `fn main(me: TaskId) -> u32`.
#[macro_export]
macro_rules! task_main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn zos_task_main(me: kernel_abi::TaskId) -> u32 {
            $main(me)
        }
    };
}

/// The `main` of a demo binary built for the host: says where it runs.
pub fn host_main() {
    #[cfg(not(target_os = "none"))]
    eprintln!("this is a Zero OS task; boot it with `cargo xtask run`");
}
