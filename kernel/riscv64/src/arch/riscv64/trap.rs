//! Trap entry and exit (RISC-V privileged spec, "Supervisor Trap Vector Base Address Register"
//! and "Supervisor Scratch Register").
//!
//! While a task runs, `sscratch` holds the address of its [`TrapFrame`]; while the kernel runs it
//! holds zero. The vector swaps `t6` with `sscratch`: a non-zero value means the trap came from
//! U-mode, and every register is saved into the frame before the kernel's stack is loaded. A zero
//! means the kernel itself trapped, which is a kernel bug: it is reported and the machine stops.
//! The kernel runs with interrupts masked (`sstatus.SIE` = 0) and is never re-entered.

/// A task's saved user context.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// `x0`..`x31`; the `x0` slot is unused.
    pub regs: [usize; 32],
    /// The user `pc` to resume at (`sepc`).
    pub pc: usize,
    /// The kernel stack pointer to switch to on a trap.
    pub kernel_sp: usize,
}

/// Register numbers in [`TrapFrame::regs`].
pub mod reg {
    /// Stack pointer.
    pub const SP: usize = 2;
    /// First argument / return value.
    pub const A0: usize = 10;
    /// Second argument / return value.
    pub const A1: usize = 11;
    /// Argument 3.
    pub const A2: usize = 12;
    /// Argument 4.
    pub const A3: usize = 13;
    /// Argument 5.
    pub const A4: usize = 14;
    /// Argument 6.
    pub const A5: usize = 15;
    /// The syscall number.
    pub const A7: usize = 17;
}

/// Emits the trap vector (`zos_trap_vector`) and the return to U-mode (`zos_resume_user`).
/// The vector calls `$handler`, an `extern "C" fn(*mut TrapFrame) -> *mut TrapFrame` that
/// returns the frame to resume, for a trap from U-mode, and `$kernel_trap`, an
/// `extern "C" fn() -> !`, for a trap in the kernel. The crate root instantiates it with the
/// kernel's handlers, so this module depends on nothing else in the kernel.
macro_rules! trap_vector {
    ($handler:path, $kernel_trap:path) => {
        core::arch::global_asm!(
            r#"
    .section .text
    .balign 4
    .globl zos_trap_vector
zos_trap_vector:
    csrrw t6, sscratch, t6
    beqz t6, 9f
    sd x1, 8(t6)
    sd x2, 16(t6)
    sd x3, 24(t6)
    sd x4, 32(t6)
    sd x5, 40(t6)
    sd x6, 48(t6)
    sd x7, 56(t6)
    sd x8, 64(t6)
    sd x9, 72(t6)
    sd x10, 80(t6)
    sd x11, 88(t6)
    sd x12, 96(t6)
    sd x13, 104(t6)
    sd x14, 112(t6)
    sd x15, 120(t6)
    sd x16, 128(t6)
    sd x17, 136(t6)
    sd x18, 144(t6)
    sd x19, 152(t6)
    sd x20, 160(t6)
    sd x21, 168(t6)
    sd x22, 176(t6)
    sd x23, 184(t6)
    sd x24, 192(t6)
    sd x25, 200(t6)
    sd x26, 208(t6)
    sd x27, 216(t6)
    sd x28, 224(t6)
    sd x29, 232(t6)
    sd x30, 240(t6)
    csrr t5, sscratch
    sd t5, 248(t6)
    csrr t5, sepc
    sd t5, 256(t6)
    csrw sscratch, zero
    ld sp, 264(t6)
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    mv a0, t6
    call {handler}
    // a0: the frame of the task to resume.
    .globl zos_resume_user
zos_resume_user:
    ld t5, 256(a0)
    csrw sepc, t5
    csrw sscratch, a0
    mv t6, a0
    ld x1, 8(t6)
    ld x2, 16(t6)
    ld x3, 24(t6)
    ld x4, 32(t6)
    ld x5, 40(t6)
    ld x6, 48(t6)
    ld x7, 56(t6)
    ld x8, 64(t6)
    ld x9, 72(t6)
    ld x10, 80(t6)
    ld x11, 88(t6)
    ld x12, 96(t6)
    ld x13, 104(t6)
    ld x14, 112(t6)
    ld x15, 120(t6)
    ld x16, 128(t6)
    ld x17, 136(t6)
    ld x18, 144(t6)
    ld x19, 152(t6)
    ld x20, 160(t6)
    ld x21, 168(t6)
    ld x22, 176(t6)
    ld x23, 184(t6)
    ld x24, 192(t6)
    ld x25, 200(t6)
    ld x26, 208(t6)
    ld x27, 216(t6)
    ld x28, 224(t6)
    ld x29, 232(t6)
    ld x30, 240(t6)
    ld x31, 248(t6)
    sret
9:
    // A trap in the kernel: put t6 back, keep sscratch zero, report and stop.
    csrrw t6, sscratch, t6
    call {kernel_trap}
1:
    j 1b
    "#,
            handler = sym $handler,
            kernel_trap = sym $kernel_trap,
        );
    };
}
pub(crate) use trap_vector;

unsafe extern "C" {
    fn zos_trap_vector();
    fn zos_resume_user(frame: *mut TrapFrame) -> !;
}

/// Points `stvec` at the trap vector (direct mode).
pub fn install_vector() {
    let vector = zos_trap_vector as *const () as usize;
    // SAFETY: writing stvec only changes where traps go; the vector is 4-byte aligned code.
    unsafe { core::arch::asm!("csrw stvec, {0}", in(reg) vector) };
}

/// Enters U-mode with the context in `frame`.
///
/// # Safety
/// `frame` must point to a frame that stays valid while its task runs, whose `kernel_sp` is the
/// top of the kernel stack, and the task's address space must be the active one.
pub unsafe fn resume(frame: *mut TrapFrame) -> ! {
    // SAFETY: the caller's promises are those of the assembly routine.
    unsafe { zos_resume_user(frame) }
}
