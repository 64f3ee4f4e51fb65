//! The owner / system / world permission model.
//!
//! A System or Runtime caller is judged by the `system_*` bits and may always traverse
//! directories; the owner (the caller's kernel-stamped user equals the entry's owner) by the
//! `owner_*` bits; everyone else by the `world_*` bits, where world-read on a directory implies
//! traverse. On top of the bits, [`guard`] keeps `/system/**` and `/users/registry.json`
//! read-only to everyone but System and Runtime callers. The caller's class and user come from
//! the kernel, never from a message.
//!
//! Shared directories: every world-writable directory (`/tmp` above all) is *sticky*. In it,
//! write on the directory is not enough to remove or rename an entry: [`may_remove`] also asks
//! that the caller own the entry or the directory, or be System. And a path-based write
//! follows a symlink found in such a directory only if the link is the caller's own or the
//! directory owner's ([`may_follow`], Linux's `protected_symlinks`), so nobody can plant a link
//! where someone else will write.

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

/// Whether a directory with `perms` is sticky: every world-writable directory is.
pub fn is_sticky(perms: FilePermissions) -> bool {
    perms.world_write
}

/// Whether `caller` is the identity an entry with `owner` and `perms` belongs to.
///
/// A user's entries belong to that user. Entries without an owner belong either to the system
/// or to the applications without a user, which share one identity today (they carry no
/// application id yet): such an application creates world-writable entries and System
/// creates entries without world write, so the world-write bit tells the two apart. System
/// never counts as owning an entry that any application could rewrite anyway, and an
/// application without a user never owns what System made.
pub fn owns(caller: &Credentials, owner: Option<Uuid>, perms: FilePermissions) -> bool {
    match (caller.user, owner) {
        (Some(user), Some(owner)) => user == owner,
        (None, None) => is_system(caller) != perms.world_write,
        _ => false,
    }
}

/// Whether `caller` may remove (unlink, rmdir, rename away) an entry with `entry_owner` and
/// `entry_perms` from a directory with `dir_owner` and `dir_perms`, write on the directory
/// granted. In a sticky directory only System, the entry's owner and the directory's owner
/// (a user) may; elsewhere write on the directory suffices.
pub fn may_remove(
    caller: &Credentials,
    dir_owner: Option<Uuid>,
    dir_perms: FilePermissions,
    entry_owner: Option<Uuid>,
    entry_perms: FilePermissions,
) -> bool {
    !is_sticky(dir_perms)
        || is_system(caller)
        || owns(caller, entry_owner, entry_perms)
        || (caller.user.is_some() && caller.user == dir_owner)
}

/// Whether a path-based write by `caller` may follow a symlink with `link_owner` and
/// `link_perms` found in a directory with `dir_owner` and `dir_perms`. Outside sticky
/// directories always; in one only the caller's own links and those of the directory's owner,
/// so a link planted in `/tmp` by someone else never redirects a write.
pub fn may_follow(
    caller: &Credentials,
    dir_owner: Option<Uuid>,
    dir_perms: FilePermissions,
    link_owner: Option<Uuid>,
    link_perms: FilePermissions,
) -> bool {
    !is_sticky(dir_perms)
        || owns(caller, link_owner, link_perms)
        || (link_owner.is_some() && link_owner == dir_owner)
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

    #[test]
    fn sticky_directories_protect_their_entries_and_links() {
        let alice = Uuid::from_u128(1);
        let bob = Uuid::from_u128(2);
        let sys = creds(ProcessClass::System, None);
        let a = creds(ProcessClass::Application, Some(alice));
        let b = creds(ProcessClass::Application, Some(bob));
        let anon = creds(ProcessClass::Application, None);
        let tmp = FilePermissions::ALL;
        let file = FilePermissions::USER_FILE;
        let anon_file = default_for(&anon, false);
        let sys_file = default_for(&sys, false);
        // /tmp: System-owned and world-writable, so sticky.
        assert!(is_sticky(tmp) && !is_sticky(FilePermissions::USER_DIR));
        assert!(may_remove(&a, None, tmp, Some(alice), file));
        assert!(!may_remove(&b, None, tmp, Some(alice), file));
        assert!(may_remove(&sys, None, tmp, Some(alice), file));
        assert!(!may_remove(&anon, None, tmp, Some(alice), file));
        assert!(may_remove(&anon, None, tmp, None, anon_file));
        assert!(!may_remove(&anon, None, tmp, None, sys_file));
        assert!(!may_remove(&a, None, tmp, None, anon_file));
        // A user's own world-writable directory: she may clean it, others only their entries.
        assert!(may_remove(&a, Some(alice), tmp, Some(bob), file));
        assert!(!may_remove(&b, Some(alice), tmp, Some(alice), file));
        // Not sticky: write on the directory is enough.
        assert!(may_remove(
            &b,
            Some(alice),
            FilePermissions::USER_DIR,
            Some(alice),
            file
        ));
        // Links in /tmp: followed for writes only when the caller's or the directory owner's.
        assert!(may_follow(&a, None, tmp, Some(alice), file));
        assert!(!may_follow(&a, None, tmp, Some(bob), file));
        assert!(!may_follow(&sys, None, tmp, Some(bob), file));
        assert!(!may_follow(&a, None, tmp, None, anon_file));
        assert!(!may_follow(&sys, None, tmp, None, anon_file));
        assert!(may_follow(&sys, None, tmp, None, sys_file));
        assert!(may_follow(&anon, None, tmp, None, anon_file));
        assert!(may_follow(&b, Some(alice), tmp, Some(alice), file));
        assert!(may_follow(
            &b,
            Some(alice),
            FilePermissions::USER_DIR,
            Some(alice),
            file
        ));
    }
}
