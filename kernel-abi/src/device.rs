//! Devices a task may be granted, by their number in the `MapMmio`, `IrqAck` syscalls and in
//! notification bits. The system file grants devices by [`Device::name`]; the kernel finds each
//! device's window and interrupt in the device tree.
//!
//! [`virtio`] holds the numbers of the virtio-mmio transport and of the device types, shared by
//! the kernel (which identifies the slots and drives virtio-rng) and the user-space drivers.

pub mod virtio;

/// A device of the QEMU virt machine that a user-space driver may map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Device {
    /// The virtio-mmio slot holding the block device.
    VirtioBlock = 0,
    /// The virtio-mmio slot holding the entropy device.
    VirtioRng = 1,
    /// The virtio-mmio slot holding the crypto device.
    VirtioCrypto = 2,
    /// The goldfish RTC.
    Rtc = 3,
    /// The fw_cfg interface.
    FwCfg = 4,
    /// The second CFI flash bank.
    Flash1 = 5,
}

impl Device {
    /// Every device, in number order.
    pub const ALL: [Device; 6] = [
        Device::VirtioBlock,
        Device::VirtioRng,
        Device::VirtioCrypto,
        Device::Rtc,
        Device::FwCfg,
        Device::Flash1,
    ];

    /// The name used in the system file.
    pub const fn name(self) -> &'static str {
        match self {
            Device::VirtioBlock => "virtio-blk",
            Device::VirtioRng => "virtio-rng",
            Device::VirtioCrypto => "virtio-crypto",
            Device::Rtc => "rtc",
            Device::FwCfg => "fw-cfg",
            Device::Flash1 => "flash1",
        }
    }

    /// The device with this system-file name.
    pub fn from_name(name: &str) -> Option<Device> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The device's number in syscalls (`a0` of `MapMmio` and `IrqAck`).
    pub const fn number(self) -> usize {
        self as usize
    }

    /// The device with this syscall number.
    pub const fn from_number(raw: usize) -> Option<Device> {
        if raw < Self::ALL.len() {
            Some(Self::ALL[raw])
        } else {
            None
        }
    }

    /// The notification bit its interrupt sets (`WaitNotification`).
    pub const fn notification_bit(self) -> u32 {
        1 << (self as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_round_trip() {
        for (n, d) in Device::ALL.into_iter().enumerate() {
            assert_eq!(d.number(), n);
            assert_eq!(Device::from_number(n), Some(d));
            assert_eq!(Device::from_name(d.name()), Some(d));
            assert_eq!(d.notification_bit(), 1 << n);
        }
        assert_eq!(Device::from_number(6), None);
        assert_eq!(Device::from_name("uart"), None);
    }
}
