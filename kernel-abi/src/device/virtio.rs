//! Virtio device type numbers (virtio 1.2, section 5 "Device Types") and their names.

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
            2 => Some(Self::Block),
            4 => Some(Self::Entropy),
            20 => Some(Self::Crypto),
            other => Some(Self::Other(other)),
        }
    }

    /// The device ID register value of this type.
    pub const fn device_id(self) -> u32 {
        match self {
            Self::Block => 2,
            Self::Entropy => 4,
            Self::Crypto => 20,
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
