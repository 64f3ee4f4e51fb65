//! The permission bits of an entry, as they travel in messages (the rules that judge them live
//! in the server's `permission` module).

use serde::{Deserialize, Serialize};

/// Permission bits of an entry. Displayed as seven characters: owner `rwx`, system `rw`,
/// world `rw`, `-` for a clear bit (`rw-r---` is a user's file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePermissions {
    /// Owner may read (list, for directories).
    pub owner_read: bool,
    /// Owner may write (create and remove entries, for directories).
    pub owner_write: bool,
    /// Owner may traverse (directories).
    pub owner_execute: bool,
    /// System and Runtime callers may read.
    pub system_read: bool,
    /// System and Runtime callers may write.
    pub system_write: bool,
    /// Everyone may read (and traverse, for directories).
    pub world_read: bool,
    /// Everyone may write.
    pub world_write: bool,
}

impl FilePermissions {
    /// Owner rw + system r: a user's file.
    pub const USER_FILE: Self = Self::from_bits(0b000_1011);
    /// Owner rwx + system r: a user's directory.
    pub const USER_DIR: Self = Self::from_bits(0b000_1111);
    /// System rw only.
    pub const SYSTEM_ONLY: Self = Self::from_bits(0b001_1000);
    /// Owner rw + system r + world r.
    pub const WORLD_READABLE: Self = Self::from_bits(0b010_1011);
    /// System rw + world r: system data that users may read but never change.
    pub const SYSTEM_PUBLIC: Self = Self::from_bits(0b011_1000);
    /// Everything (the `/tmp` directory).
    pub const ALL: Self = Self::from_bits(0b111_1111);

    /// Bit form: owner r/w/x in bits 0-2, system r/w in 3-4, world r/w in 5-6.
    pub const fn bits(self) -> u8 {
        (self.owner_read as u8)
            | (self.owner_write as u8) << 1
            | (self.owner_execute as u8) << 2
            | (self.system_read as u8) << 3
            | (self.system_write as u8) << 4
            | (self.world_read as u8) << 5
            | (self.world_write as u8) << 6
    }

    /// From the bit form of [`FilePermissions::bits`]; bit 7 is ignored.
    pub const fn from_bits(b: u8) -> Self {
        Self {
            owner_read: b & 1 != 0,
            owner_write: b & 2 != 0,
            owner_execute: b & 4 != 0,
            system_read: b & 8 != 0,
            system_write: b & 16 != 0,
            world_read: b & 32 != 0,
            world_write: b & 64 != 0,
        }
    }
}

impl core::fmt::Display for FilePermissions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let bits = [
            (self.owner_read, 'r'),
            (self.owner_write, 'w'),
            (self.owner_execute, 'x'),
            (self.system_read, 'r'),
            (self.system_write, 'w'),
            (self.world_read, 'r'),
            (self.world_write, 'w'),
        ];
        for (on, c) in bits {
            core::fmt::Write::write_char(f, if on { c } else { '-' })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        for b in 0..128u8 {
            assert_eq!(FilePermissions::from_bits(b).bits(), b);
        }
        assert_eq!(FilePermissions::USER_FILE.bits(), 0b000_1011);
        assert_eq!(FilePermissions::ALL.bits(), 0x7f);
    }
}
