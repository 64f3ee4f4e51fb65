//! Identifies the device in a virtio-mmio slot from its identification registers, at their
//! physical addresses (paging must still be off). Used by the boot banner and by the kernel's
//! device table; depends on nothing else in the kernel.

use kernel_abi::device::virtio::{MAGIC_VALUE, VirtioType, regs};
use qemu_kernel::platform::VirtioSlot;

/// The device type in a virtio-mmio slot, if a device sits there (paging must still be off).
pub fn probe_type(slot: &VirtioSlot) -> Option<VirtioType> {
    probe(slot).map(|(_, kind)| kind)
}

/// Reads a slot's identification registers; `None` for an empty slot or a non-virtio window.
pub fn probe(slot: &VirtioSlot) -> Option<(u32, VirtioType)> {
    let read = |offset: usize| {
        // SAFETY: the device tree names this window as a virtio-mmio transport; the
        // identification registers are read-only 32-bit registers inside it, and reading them
        // has no side effects.
        unsafe { core::ptr::read_volatile((slot.regs.base + offset) as *const u32) }
    };
    if read(regs::MAGIC) != MAGIC_VALUE {
        return None;
    }
    let version = read(regs::VERSION);
    VirtioType::from_device_id(read(regs::DEVICE_ID)).map(|kind| (version, kind))
}
