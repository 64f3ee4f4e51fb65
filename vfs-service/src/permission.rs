//! The owner / system / world permission model.
//!
//! A System or Runtime caller is judged by the `system_*` bits and may always traverse
//! directories; the owner (the caller's kernel-stamped user equals the entry's owner) by the
//! `owner_*` bits; everyone else by the `world_*` bits, where world-read on a directory implies
//! traverse. The caller's class and user come from the kernel, never from a message.

use kernel_abi::{Credentials, ProcessClass};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// What the caller wants to do with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read a file, list a directory.
    Read,
    /// Write a file; create or remove entries in a directory.
    Write,
    /// Pass through a directory during path resolution.
    Traverse,
}

/// Whether the caller counts as "system" for the permission model.
pub fn is_system(caller: &Credentials) -> bool {
    matches!(caller.class, ProcessClass::System | ProcessClass::Runtime)
}

/// Whether `caller` may perform `access` on an entry owned by `owner` with `perms`.
pub fn allowed(
    caller: &Credentials,
    owner: Option<Uuid>,
    perms: FilePermissions,
    is_dir: bool,
    access: Access,
) -> bool {
    if is_system(caller) {
        return match access {
            Access::Read => perms.system_read,
            Access::Write => perms.system_write,
            Access::Traverse => true,
        };
    }
    if caller.user.is_some() && caller.user == owner {
        return match access {
            Access::Read => perms.owner_read,
            Access::Write => perms.owner_write,
            Access::Traverse => perms.owner_execute,
        };
    }
    match access {
        Access::Read => perms.world_read,
        Access::Write => perms.world_write,
        Access::Traverse => is_dir && perms.world_read,
    }
}

/// Default permissions of an entry created by `caller`.
pub fn default_for(caller: &Credentials, is_dir: bool) -> FilePermissions {
    if is_system(caller) {
        FilePermissions::SYSTEM_ONLY
    } else if caller.user.is_some() {
        if is_dir {
            FilePermissions::USER_DIR
        } else {
            FilePermissions::USER_FILE
        }
    } else {
        // An application without a user owns nothing (owner = none), so only the world bits
        // can let it reach what it created.
        FilePermissions::from_bits(0b110_0000)
    }
}

/// Whether `caller` may change the permissions of an entry owned by `owner`.
pub fn may_chmod(caller: &Credentials, owner: Option<Uuid>) -> bool {
    is_system(caller) || (caller.user.is_some() && caller.user == owner)
}

/// Whether `caller` may change owners.
pub fn may_chown(caller: &Credentials) -> bool {
    is_system(caller)
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
    use kernel_abi::TaskId;

    fn creds(class: ProcessClass, user: Option<Uuid>) -> Credentials {
        Credentials {
            task: TaskId {
                index: 1,
                generation: 0,
            },
            user,
            class,
        }
    }

    #[test]
    fn bits_round_trip() {
        for b in 0..128u8 {
            assert_eq!(FilePermissions::from_bits(b).bits(), b);
        }
        assert_eq!(FilePermissions::USER_FILE.bits(), 0b000_1011);
        assert_eq!(FilePermissions::ALL.bits(), 0x7f);
    }

    #[test]
    fn classes_are_judged_by_their_bits() {
        let alice = Uuid::from_u128(1);
        let bob = Uuid::from_u128(2);
        let p = FilePermissions::USER_DIR;
        let sys = creds(ProcessClass::System, None);
        let a = creds(ProcessClass::Application, Some(alice));
        let b = creds(ProcessClass::Application, Some(bob));
        let anon = creds(ProcessClass::Application, None);
        assert!(allowed(&sys, Some(alice), p, true, Access::Read));
        assert!(!allowed(&sys, Some(alice), p, true, Access::Write));
        assert!(allowed(
            &sys,
            Some(alice),
            FilePermissions::default(),
            true,
            Access::Traverse
        ));
        assert!(allowed(&a, Some(alice), p, true, Access::Write));
        assert!(!allowed(&b, Some(alice), p, true, Access::Read));
        assert!(!allowed(&b, Some(alice), p, true, Access::Traverse));
        assert!(allowed(
            &anon,
            None,
            FilePermissions::ALL,
            true,
            Access::Traverse
        ));
        assert!(!allowed(
            &anon,
            None,
            FilePermissions::ALL,
            false,
            Access::Traverse
        ));
        assert!(may_chmod(&a, Some(alice)) && !may_chmod(&b, Some(alice)));
        assert!(!may_chmod(&anon, None) && !may_chown(&a) && may_chown(&sys));
    }
}
