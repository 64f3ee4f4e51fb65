//! Calls into the SBI firmware (OpenSBI): system reset.
//!
//! See the RISC-V Supervisor Binary Interface specification, chapter "System Reset Extension".

/// The System Reset extension ("SRST").
const EID_SRST: usize = 0x5352_5354;
const SRST_SHUTDOWN: usize = 0;
const SRST_REASON_NONE: usize = 0;
const SRST_REASON_SYSTEM_FAILURE: usize = 1;

/// Powers the machine off. `success` picks the reset reason, which QEMU turns into its exit
/// status (0 for no reason, non-zero for a system failure).
pub fn shutdown(success: bool) -> ! {
    let reason = if success {
        SRST_REASON_NONE
    } else {
        SRST_REASON_SYSTEM_FAILURE
    };
    // SAFETY: the SRST call takes its arguments in registers and touches no memory of ours; if it
    // returns (no SRST support), we fall through to the loop below.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") SRST_SHUTDOWN => _,
            inlateout("a1") reason => _,
            in("a6") 0usize,
            in("a7") EID_SRST,
        );
    }
    loop {
        // SAFETY: `wfi` only pauses the hart until an interrupt; it has no memory effects.
        unsafe { core::arch::asm!("wfi") };
    }
}

/// The Timer extension ("TIME").
const EID_TIME: usize = 0x5449_4D45;

/// Asks for a supervisor timer interrupt when `time` reaches `deadline` (which also clears a
/// pending one).
pub fn set_timer(deadline: u64) {
    // SAFETY: the TIME call takes its argument in a0 and touches no memory of ours.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") deadline as usize => _,
            lateout("a1") _,
            in("a6") 0usize,
            in("a7") EID_TIME,
        );
    }
}
