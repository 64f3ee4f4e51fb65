//! The supervisor CSRs the kernel uses (RISC-V privileged spec, chapter "Supervisor-Level ISA").

/// `sstatus.SPP`: the privilege the trap came from (1 = S).
pub const SSTATUS_SPP: usize = 1 << 8;
/// `sstatus.SUM`: S-mode may touch U pages. The kernel keeps it clear.
pub const SSTATUS_SUM: usize = 1 << 18;
/// `sie.STIE`: supervisor timer interrupt enable.
pub const SIE_STIE: usize = 1 << 5;
/// `sie.SEIE` / `sip.SEIP`: supervisor external interrupt.
pub const SIE_SEIE: usize = 1 << 9;
/// `scause` code: supervisor external interrupt.
pub const IRQ_S_EXTERNAL: usize = 9;
/// The interrupt bit of `scause`.
pub const SCAUSE_INTERRUPT: usize = 1 << 63;
/// `scause` code: supervisor timer interrupt.
pub const IRQ_S_TIMER: usize = 5;

macro_rules! read_csr {
    ($name:literal) => {{
        let value: usize;
        // SAFETY: reading this CSR has no side effects.
        unsafe { core::arch::asm!(concat!("csrr {0}, ", $name), out(reg) value) };
        value
    }};
}

/// `scause`.
pub fn scause() -> usize {
    read_csr!("scause")
}
/// `stval`.
pub fn stval() -> usize {
    read_csr!("stval")
}
/// `sepc`.
pub fn sepc() -> usize {
    read_csr!("sepc")
}
/// The `time` counter.
pub fn time() -> u64 {
    read_csr!("time") as u64
}

/// Clears `sstatus.SPP` and `SUM`: `sret` goes to U-mode, and the kernel cannot touch user pages
/// by accident (it reaches them only through translated physical addresses).
pub fn prepare_user_return() {
    // SAFETY: clearing these bits affects only where `sret` returns and S-mode's access to U
    // pages; the kernel does neither by plain loads and stores.
    unsafe { core::arch::asm!("csrc sstatus, {0}", in(reg) SSTATUS_SPP | SSTATUS_SUM) };
}

/// Enables the supervisor timer interrupt source (still masked in S-mode by `sstatus.SIE`).
pub fn enable_timer_interrupt() {
    // SAFETY: this only unmasks the timer interrupt source; the trap vector is installed first.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) SIE_STIE) };
}

/// Switches to the address space `satp` and flushes every cached translation (global ones
/// included): at boot, and on a hart whose ASIDs are too few to give each task its own.
pub fn switch_address_space(satp: u64) {
    // SAFETY: every address space maps the kernel identically (global gigapages), so the code,
    // stack and data in use stay mapped across the switch.
    unsafe { core::arch::asm!("csrw satp, {0}", "sfence.vma", in(reg) satp) };
}

/// Switches to the address space `satp`, whose ASID names it alone, keeping what the TLB
/// caches for it and for every other ASID. With `flush`, first drops the non-global
/// translations cached under that ASID: its tables changed, or the ASID names a new address
/// space (a task slot started again), since they were cached. The kernel's global mappings
/// never change after boot, so they are never flushed here.
pub fn switch_address_space_asid(satp: u64, flush: bool) {
    let asid = (satp >> 44) & 0xffff;
    if flush {
        // SAFETY: as above; the order (new satp, then the fence) makes the fence order the
        // earlier page-table writes before any translation under the ASID that follows.
        unsafe {
            core::arch::asm!("csrw satp, {0}", "sfence.vma zero, {1}", in(reg) satp, in(reg) asid)
        };
    } else {
        // SAFETY: as above; the translations cached under this ASID are those of its tables as
        // they are now (every change to them sets the task's flush flag).
        unsafe { core::arch::asm!("csrw satp, {0}", in(reg) satp) };
    }
}

/// How many ASID bits the hart implements (0 to 16): the privileged spec's probe, writing ones
/// to `satp.ASID` and reading back what sticks, in the address space `satp` (which stays).
pub fn asid_bits(satp: u64) -> u32 {
    let probe = satp | (0xffff << 44);
    let back: u64;
    // SAFETY: `satp` with another ASID maps the same tables; the full fence afterwards drops
    // anything cached under the probed ASID before the original value is restored.
    unsafe {
        core::arch::asm!(
            "csrw satp, {probe}",
            "csrr {back}, satp",
            "csrw satp, {orig}",
            "sfence.vma",
            probe = in(reg) probe,
            back = out(reg) back,
            orig = in(reg) satp,
        )
    };
    ((back >> 44) & 0xffff).count_ones()
}

/// Waits for an interrupt to become pending (it is taken only if enabled; we poll afterwards).
pub fn wait_for_interrupt() {
    // SAFETY: `wfi` only pauses the hart.
    unsafe { core::arch::asm!("wfi") };
}

/// Lets U-mode read the `cycle`, `time` and `instret` counters (`scounteren` CY, TM, IR): tasks
/// read time cheaply and the IPC benchmark counts instructions.
pub fn enable_user_counters() {
    // SAFETY: this only makes read-only counters visible to U-mode.
    unsafe { core::arch::asm!("csrw scounteren, {0}", in(reg) 0b111usize) };
}

/// Enables the supervisor external interrupt source (the PLIC; masked in S-mode by
/// `sstatus.SIE`).
pub fn enable_external_interrupts() {
    // SAFETY: this only unmasks the external interrupt source; the trap vector handles it.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) SIE_SEIE) };
}

/// Whether an external interrupt is pending (`sip.SEIP`).
pub fn external_pending() -> bool {
    read_csr!("sip") & SIE_SEIE != 0
}
