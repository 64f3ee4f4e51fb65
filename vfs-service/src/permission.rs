//! The owner / system / world permission model.
//!
//! A System or Runtime caller is judged by the `system_*` bits and may always traverse
//! directories; the owner (the caller's kernel-stamped user equals the entry's owner) by the
//! `owner_*` bits; everyone else by the `world_*` bits, where world-read on a directory implies
//! traverse. On top of the bits, [`guard`] keeps `/system/**` and `/users/registry.json`
//! read-only to everyone but System and Runtime callers. The caller's class and user come from
//! the kernel, never from a message.

use kernel_abi::{Credentials, ProcessClass};
use uuid::Uuid;

use crate::error::VfsError;
use crate::path::CanonPath;

pub use vfs_api::FilePermissions;

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

/// The path rule, above the bits: `/system/**` and `/users/registry.json` are read-only to
/// every caller that is not System or Runtime, whatever their permission bits. Checked before
/// any change at `path`.
pub fn guard(caller: &Credentials, path: &CanonPath) -> Result<(), VfsError> {
    if is_system(caller) {
        return Ok(());
    }
    let parts = path.parts();
    let protected = parts.first().is_some_and(|p| p == "system")
        || (parts.len() == 2 && parts[0] == "users" && parts[1] == "registry.json");
    if protected {
        Err(VfsError::PermissionDenied)
    } else {
        Ok(())
    }
}

/// Whether `caller` may change owners.
pub fn may_chown(caller: &Credentials) -> bool {
    is_system(caller)
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
