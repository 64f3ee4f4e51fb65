//! virtio over MMIO, defined once for the kernel and the user-space drivers: the register
//! offsets of the virtio-mmio transport (virtio 1.2 section 4.2.2), its magic value and
//! version, the device status bits (section 2.1) and the device type numbers (section 5
//! "Device Types") with their names.

/// virtio-mmio register offsets (virtio 1.2, section 4.2.2 "MMIO Device Register Layout").
pub mod regs {
    /// `MagicValue`: [`MAGIC_VALUE`](super::MAGIC_VALUE).
    pub const MAGIC: usize = 0x000;
    /// `Version`: 2 for the modern layout.
    pub const VERSION: usize = 0x004;
    /// `DeviceID`: the device type ([`super::id`]); 0 for an empty slot.
    pub const DEVICE_ID: usize = 0x008;
    /// `DeviceFeatures`: the feature word picked by `DeviceFeaturesSel`.
    pub const DEVICE_FEATURES: usize = 0x010;
    /// `DeviceFeaturesSel`.
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    /// `DriverFeatures`: the feature word picked by `DriverFeaturesSel`.
    pub const DRIVER_FEATURES: usize = 0x020;
    /// `DriverFeaturesSel`.
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    /// `QueueSel`: the queue the queue registers below refer to.
    pub const QUEUE_SEL: usize = 0x030;
    /// `QueueNumMax`.
    pub const QUEUE_NUM_MAX: usize = 0x034;
    /// `QueueNum`.
    pub const QUEUE_NUM: usize = 0x038;
    /// `QueueReady`.
    pub const QUEUE_READY: usize = 0x044;
    /// `QueueNotify`.
    pub const QUEUE_NOTIFY: usize = 0x050;
    /// `InterruptStatus`.
    pub const INTERRUPT_STATUS: usize = 0x060;
    /// `InterruptACK`.
    pub const INTERRUPT_ACK: usize = 0x064;
    /// `Status`: the device status bits ([`super::status`]).
    pub const STATUS: usize = 0x070;
    /// `QueueDescLow`.
    pub const QUEUE_DESC_LOW: usize = 0x080;
    /// `QueueDescHigh`.
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    /// `QueueDriverLow` (the available ring).
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    /// `QueueDriverHigh`.
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    /// `QueueDeviceLow` (the used ring).
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    /// `QueueDeviceHigh`.
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
}

/// The `MagicValue` register's content: "virt" in little-endian ASCII.
pub const MAGIC_VALUE: u32 = 0x7472_6976;
/// The `Version` register of the modern (virtio 1.x) virtio-mmio layout.
pub const VERSION_MODERN: u32 = 2;

/// Device status bits (virtio 1.2, section 2.1).
pub mod status {
    /// The driver noticed the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The driver knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error it cannot recover from.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 128;
}

/// Device type numbers (the `DeviceID` register; virtio 1.2, section 5).
pub mod id {
    /// Block device (section 5.2).
    pub const BLOCK: u32 = 2;
    /// Entropy source (section 5.4).
    pub const ENTROPY: u32 = 4;
    /// Crypto device (section 5.9).
    pub const CRYPTO: u32 = 20;
}

/// The device types the Zero OS image uses, plus a catch-all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioType {
    /// Device ID 2: block device (section 5.2).
    Block,
    /// Device ID 4: entropy source (section 5.4).
    Entropy,
    /// Device ID 20: crypto device (section 5.9).
    Crypto,
    /// Any other device ID.
    Other(u32),
}

impl VirtioType {
    /// Classifies a device ID register value. ID 0 marks an empty slot and is not a device.
    pub const fn from_device_id(id: u32) -> Option<Self> {
        match id {
            0 => None,
            id::BLOCK => Some(Self::Block),
            id::ENTROPY => Some(Self::Entropy),
            id::CRYPTO => Some(Self::Crypto),
            other => Some(Self::Other(other)),
        }
    }

    /// The device ID register value of this type.
    pub const fn device_id(self) -> u32 {
        match self {
            Self::Block => id::BLOCK,
            Self::Entropy => id::ENTROPY,
            Self::Crypto => id::CRYPTO,
            Self::Other(id) => id,
        }
    }

    /// The name printed in the boot banner; tests match on these.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Entropy => "entropy",
            Self::Crypto => "crypto",
            Self::Other(_) => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_devices_of_the_image() {
        assert_eq!(VirtioType::from_device_id(0), None);
        assert_eq!(VirtioType::from_device_id(2), Some(VirtioType::Block));
        assert_eq!(VirtioType::from_device_id(4), Some(VirtioType::Entropy));
        assert_eq!(VirtioType::from_device_id(20), Some(VirtioType::Crypto));
        assert_eq!(VirtioType::from_device_id(1), Some(VirtioType::Other(1)));
        assert_eq!(VirtioType::Crypto.name(), "crypto");
        for id in 1..64 {
            assert_eq!(
                VirtioType::from_device_id(id).map(VirtioType::device_id),
                Some(id)
            );
        }
    }
}
