//! The bare-metal task runtime (riscv64 target only): what every Zero OS task needs besides
//! its own code — the `_start` entry point, a panic handler, and a global allocator over the
//! heap the kernel maps. One macro, [`task_entry!`](crate::task_entry), puts all three into the
//! task binary.
//!
//! Why a macro and not a cargo feature: xtask builds every task of the system file in one
//! cargo invocation, and cargo unifies a crate's features across those packages, so a feature
//! that adds a panic handler to `zos-runtime` would add it to every task, also to one with its
//! own. The macro adds the runtime only to binaries that ask for it.
//!
//! # Using it
//!
//! ```text
//! #![cfg_attr(target_os = "none", no_std, no_main)]
//! #[cfg(target_os = "none")]
//! fn main(me: kernel_abi::TaskId) -> kernel_abi::ExitStatus { ... }
//! #[cfg(target_os = "none")]
//! zos_runtime::task_entry!(main);
//! ```
//!
//! and a `build.rs` that links the task with the task layout on the target (see
//! `init/build.rs` and [`task_link`](crate)):
//!
//! ```text
//! fn main() { zos_runtime::task_link::link_task_binaries(); }
//! ```
//!
//! # The contract with the kernel
//!
//! - **Layout:** `runtime/task.ld` links a task as one static image at 0x10000 with each
//!   section on its own pages and `_start` (section `.text.entry`) first. The QEMU kernel
//!   (`kernel/riscv64/`) loads ELF segments where they are linked; change the base there and here
//!   together.
//! - **Entry registers:** `sp` = top of the stack (16-byte aligned), `a0` = the task's
//!   [`TaskId`] register form, `a1` = heap base, `a2` = heap size in bytes (both 0 when the
//!   system file gives the task no heap; allocations then fail). `.bss` is zeroed by the kernel.
//! - **Exit:** when `main` returns, the runtime calls `Exit` with its status. A panic logs
//!   `panic: <message>` at [`LogLevel::Error`] and exits with [`ExitStatus::PANIC`]; init sees a
//!   fault report and applies the task's restart policy. An allocation failure panics.
//!
//! Logging: [`klog!`](kernel_abi::klog) with [`Syscalls`] (`klog!(&Syscalls, Info, "x = {}", x)`)
//! formats on the stack and writes one line through `DebugWrite`.

use core::{
    alloc::{GlobalAlloc, Layout},
    cell::UnsafeCell,
    sync::atomic::{AtomicBool, Ordering},
};

use crate::{Syscalls, heap::FreeList};
use kernel_abi::{ExitStatus, LogLevel, TaskId};

/// The entry sequence: `_start` in `.text.entry`, calling `$entry(a0, a1, a2)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __task_start_asm {
    ($entry:path) => {
        ::core::arch::global_asm!(
            ".section .text.entry, \"ax\"",
            ".globl _start",
            "_start:",
            // a0 = task id, a1 = heap base, a2 = heap size: passed through unchanged.
            "call {entry}",
            "1: j 1b",
            entry = sym $entry,
        );
    };
}

/// Puts the task runtime into this binary with `main` as the task's main function:
/// `task_entry!(main)` with `fn main(me: TaskId) -> ExitStatus` (a `-> !` body coerces).
/// Use it once, at the crate root of a `no_std`, `no_main` task binary.
#[macro_export]
macro_rules! task_entry {
    ($main:path) => {
        #[global_allocator]
        static __ZERO_TASK_HEAP: $crate::task_rt::Heap = $crate::task_rt::Heap::new();

        extern "C" fn __zero_task_entry(raw_id: usize, heap_base: usize, heap_size: usize) -> ! {
            // SAFETY: `_start` passes the kernel's entry registers unchanged (the task
            // runtime's entry contract), and this runs once, before anything allocates.
            unsafe {
                $crate::task_rt::start(&__ZERO_TASK_HEAP, raw_id, heap_base, heap_size, $main)
            }
        }

        $crate::__task_start_asm!(__zero_task_entry);

        #[panic_handler]
        fn __zero_task_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::task_rt::panic(info)
        }
    };
}

/// Runs the task: hands the kernel's heap to `heap`, calls `main`, exits with its status.
///
/// # Safety
///
/// `heap_base`/`heap_size` are the kernel's entry registers `a1`/`a2`: zero, or a region the
/// kernel mapped read-write for this task only that nothing else in the task uses. Called once.
#[doc(hidden)]
pub unsafe fn start(
    heap: &Heap,
    raw_id: usize,
    heap_base: usize,
    heap_size: usize,
    main: fn(TaskId) -> ExitStatus,
) -> ! {
    if heap_size > 0 {
        // SAFETY: forwarded from this function's contract.
        unsafe { heap.add(heap_base, heap_size) };
    }
    let status = main(TaskId::from_raw(raw_id as u32));
    Syscalls::exit(status)
}

/// The runtime's panic handler body: log, then exit with [`ExitStatus::PANIC`].
#[doc(hidden)]
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kernel_abi::kernel::log_fmt(&Syscalls, LogLevel::Error, format_args!("panic: {info}"));
    Syscalls::exit(ExitStatus::PANIC)
}

/// The task's heap: a [`FreeList`] behind a spin flag (a task is single-threaded, so the flag
/// only guards against re-entry).
pub struct Heap {
    busy: AtomicBool,
    list: UnsafeCell<FreeList>,
}

// SAFETY: every access to `list` happens while `busy` is held (see `with`), so no two
// accesses overlap.
unsafe impl Sync for Heap {}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// An empty heap.
    pub const fn new() -> Self {
        Self {
            busy: AtomicBool::new(false),
            list: UnsafeCell::new(FreeList::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut FreeList) -> R) -> R {
        while self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: `busy` is held, so this is the only reference to the list.
        let r = f(unsafe { &mut *self.list.get() });
        self.busy.store(false, Ordering::Release);
        r
    }

    /// Adds memory to the heap.
    ///
    /// # Safety
    ///
    /// As [`FreeList::add`].
    pub unsafe fn add(&self, base: usize, size: usize) {
        // SAFETY: forwarded from the caller.
        self.with(|l| unsafe { l.add(base, size) })
    }
}

// SAFETY: `alloc` returns blocks carved from the heap's own memory, each fitting its layout
// and disjoint from every other live block (FreeList's guarantees); `dealloc` returns them.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with(|l| l.alloc(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with this layout.
        self.with(|l| unsafe { l.dealloc(ptr, layout) })
    }
}
