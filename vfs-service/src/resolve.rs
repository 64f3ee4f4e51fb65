//! Path resolution against the inode table, and the access check on what it finds.
//!
//! A path is walked from the root one name at a time; every directory passed needs traverse
//! permission for the caller; symlinks are followed (at most `SYMLINK_DEPTH` of them, then
//! `SymlinkLoop`) by restarting from the root with the link's target spliced in, so `..` in a
//! target is resolved against the link's directory as the canonical path says. A path-based
//! write follows a link in a sticky directory only when [`crate::permission::may_follow`] allows
//! it. Nothing here writes.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::VfsError;
use crate::inode::{Inode, Kind, ROOT_ID};
use crate::path::CanonPath;
use crate::permission::{Access, allowed};
use crate::protocol::limits::SYMLINK_DEPTH;
use crate::vfs::{Ctx, Found, Vfs};
use storage_backend::{BlockDevice, CryptoEngine};

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Resolves a path; symlinks are followed (the last one only if `follow_last`).
    pub(crate) fn resolve(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        follow_last: bool,
    ) -> Result<Found, VfsError> {
        self.resolve_for(ctx, path, follow_last, false)
    }

    /// [`Vfs::resolve`] for a path-based write: a symlink in a sticky directory is followed
    /// only if [`crate::permission::may_follow`] allows it (`PermissionDenied` otherwise).
    pub(crate) fn resolve_for(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        follow_last: bool,
        write: bool,
    ) -> Result<Found, VfsError> {
        let mut depth = 0u32;
        let mut pending: Vec<String> = path.parts().iter().rev().cloned().collect();
        let mut cur = self.inode(ROOT_ID)?;
        let mut cur_path = CanonPath::root();
        while let Some(name) = pending.pop() {
            if !cur.is_dir() {
                return Err(VfsError::NotADirectory);
            }
            if !allowed(
                &ctx.caller,
                cur.owner,
                cur.permissions(),
                true,
                Access::Traverse,
            ) {
                return Err(VfsError::PermissionDenied);
            }
            let id = self.child(cur.id, &name)?.ok_or(VfsError::NotFound)?;
            let next = self.inode(id)?;
            if let Kind::Symlink { target } = &next.kind
                && (!pending.is_empty() || follow_last)
            {
                if write
                    && !crate::permission::may_follow(
                        &ctx.caller,
                        cur.owner,
                        cur.permissions(),
                        next.owner,
                        next.permissions(),
                    )
                {
                    return Err(VfsError::PermissionDenied);
                }
                depth += 1;
                if depth > SYMLINK_DEPTH {
                    return Err(VfsError::SymlinkLoop);
                }
                let dest = cur_path.join(target)?;
                pending.extend(dest.parts().iter().rev().cloned());
                cur = self.inode(ROOT_ID)?;
                cur_path = CanonPath::root();
                continue;
            }
            cur_path = cur_path.child(&name);
            cur = next;
        }
        Ok(Found {
            path: cur_path,
            inode: cur,
        })
    }

    /// Resolves the parent directory of `path` (following symlinks) and checks that the caller
    /// may look inside it. Returns the parent and the final name.
    pub(crate) fn resolve_parent(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
    ) -> Result<(Found, String), VfsError> {
        self.resolve_parent_for(ctx, path, false)
    }

    /// Checks an access on a found entry.
    pub(crate) fn check(ctx: &Ctx<'_>, inode: &Inode, access: Access) -> Result<(), VfsError> {
        if allowed(
            &ctx.caller,
            inode.owner,
            inode.permissions(),
            inode.is_dir(),
            access,
        ) {
            Ok(())
        } else {
            Err(VfsError::PermissionDenied)
        }
    }
}
