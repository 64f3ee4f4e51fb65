//! The first instructions: OpenSBI enters here in S-mode with `a0` = hart id and `a1` = the
//! device tree's physical address, with paging off and interrupts masked.
//!
//! The Rust function `_start` calls is not named here: the crate root instantiates
//! [`boot_entry!`] with it, so this module depends on nothing else in the kernel.

/// Emits `_start`, which zeroes `.bss`, loads the boot stack and calls `$kmain`, an
/// `extern "C" fn(hart_id: usize, dtb: usize) -> !`.
macro_rules! boot_entry {
    ($kmain:path) => {
        core::arch::global_asm!(
            r#"
    .section .text.entry
    .globl _start
_start:
    // The global pointer is used by the compiler for small-data relocations.
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __boot_stack_top
    // Zero .bss; a0/a1 (hart id, device tree) survive in a0/a1.
    la t0, __bss_start
    la t1, __bss_end
1:
    bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:
    call {kmain}
3:
    wfi
    j 3b
    "#,
            kmain = sym $kmain,
        );
    };
}
pub(crate) use boot_entry;
