//! stat, exists, chmod, chown, symlinks, path resolution, usage and quotas.
//!
//! STAT shows a file's content hash only to callers who may read the file. Every path-based
//! change resolves its path as a write, so it never follows a symlink someone else planted in
//! a sticky directory ([`crate::permission::may_follow`]).

use alloc::format;
use alloc::string::String;
use uuid::Uuid;

use crate::accounts::Account;
use crate::error::VfsError;
use crate::inode::{Inode, Kind, keys};
use crate::path::{CanonPath, check_name};
use crate::permission::{
    Access, FilePermissions, default_for, guard, is_system, may_chmod, may_chown,
};
use crate::protocol::limits::{MAX_PATH, SOFT_LIMIT_PERCENT};
use crate::protocol::messages::{FileKind, Quota, Stat, Usage};
use crate::vfs::{Ctx, Found, Vfs};
use storage_backend::{BlockDevice, CryptoEngine, Db};

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// [`Vfs::resolve_parent`] for a path-based write (see [`Vfs::resolve_for`]); it lives
    /// here, beside the other path rules of this module.
    pub(crate) fn resolve_parent_for(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        write: bool,
    ) -> Result<(Found, String), VfsError> {
        let (Some(parent), Some(name)) = (path.parent(), path.name()) else {
            return Err(VfsError::InvalidPath);
        };
        let dir = self.resolve_for(ctx, &parent, true, write)?;
        if !dir.inode.is_dir() {
            return Err(VfsError::NotADirectory);
        }
        if !crate::permission::allowed(
            &ctx.caller,
            dir.inode.owner,
            dir.inode.permissions(),
            true,
            Access::Traverse,
        ) {
            return Err(VfsError::PermissionDenied);
        }
        Ok((dir, String::from(name)))
    }

    pub(crate) fn stat_of(path: &CanonPath, inode: &Inode) -> Stat {
        let kind = match &inode.kind {
            Kind::File { .. } => FileKind::File,
            Kind::Dir { .. } => FileKind::Directory,
            Kind::Symlink { target } => FileKind::Symlink(target.clone()),
        };
        Stat {
            path: path.to_path_string(),
            name: String::from(path.name().unwrap_or("")),
            sha256: matches!(inode.kind, Kind::File { .. }).then_some(inode.sha256),
            kind,
            owner: inode.owner,
            permissions: inode.permissions(),
            created_ns: inode.created_ns,
            modified_ns: inode.modified_ns,
            accessed_ns: inode.accessed_ns,
            size: if inode.is_dir() { 0 } else { inode.size },
            encrypted: inode.enc.is_some(),
            inode: inode.id,
        }
    }

    /// [`Vfs::stat_of`] as `ctx`'s caller may see it: the content hash only to a caller who
    /// may read the file, since a hash confirms a guess of the content to anyone who has it.
    pub(crate) fn stat_for(ctx: &Ctx<'_>, path: &CanonPath, inode: &Inode) -> Stat {
        let mut stat = Self::stat_of(path, inode);
        if Self::check(ctx, inode, Access::Read).is_err() {
            stat.sha256 = None;
        }
        stat
    }

    /// Metadata of an entry (of a symlink's target with `follow`).
    pub fn stat(&mut self, ctx: &Ctx<'_>, path: &str, follow: bool) -> Result<Stat, VfsError> {
        let path = CanonPath::parse(path)?;
        let found = self.resolve(ctx, &path, follow)?;
        Ok(Self::stat_for(ctx, &found.path, &found.inode))
    }

    /// Whether an entry exists (a dangling symlink exists).
    pub fn exists(&mut self, ctx: &Ctx<'_>, path: &str) -> Result<bool, VfsError> {
        let path = CanonPath::parse(path)?;
        match self.resolve(ctx, &path, false) {
            Ok(_) => Ok(true),
            Err(VfsError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Changes permissions: the owner or a system caller only.
    pub fn chmod(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        perms: FilePermissions,
    ) -> Result<(), VfsError> {
        let path = CanonPath::parse(path)?;
        let found = self.resolve_for(ctx, &path, true, true)?;
        guard(&ctx.caller, &found.path)?;
        if !may_chmod(&ctx.caller, found.inode.owner) {
            return Err(VfsError::PermissionDenied);
        }
        let mut inode = found.inode;
        inode.perms = perms.bits();
        inode.modified_ns = ctx.env.now_ns();
        self.tx(|_, tx| {
            tx.put_inode(inode);
            Ok(())
        })
    }

    /// Changes the owner: system callers only; recorded in the audit log.
    pub fn chown(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        owner: Option<Uuid>,
    ) -> Result<(), VfsError> {
        if !may_chown(&ctx.caller) {
            return Err(VfsError::PermissionDenied);
        }
        let path = CanonPath::parse(path)?;
        let found = self.resolve_for(ctx, &path, true, true)?;
        let mut inode = found.inode;
        inode.owner = owner;
        inode.modified_ns = ctx.env.now_ns();
        self.tx(|fs, tx| {
            tx.put_inode(inode);
            let action = match owner {
                Some(u) => format!("chown {} {}", found.path.to_path_string(), u),
                None => format!("chown {} system", found.path.to_path_string()),
            };
            fs.audit(ctx, tx, action)?;
            Ok(())
        })
    }

    /// Sets an entry's owner, permissions and timestamps at once, without following a final
    /// symlink: how the host image tool restores entries from a backup. System callers only;
    /// recorded in the audit log.
    pub fn restore_metadata(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        meta: &RestoredMetadata,
    ) -> Result<(), VfsError> {
        if !may_chown(&ctx.caller) {
            return Err(VfsError::PermissionDenied);
        }
        let path = CanonPath::parse(path)?;
        let found = self.resolve_for(ctx, &path, false, true)?;
        let mut inode = found.inode;
        inode.owner = meta.owner;
        inode.perms = meta.permissions.bits();
        inode.created_ns = meta.created_ns;
        inode.modified_ns = meta.modified_ns;
        inode.accessed_ns = meta.accessed_ns;
        self.tx(|fs, tx| {
            tx.put_inode(inode);
            let action = format!("restore {}", found.path.to_path_string());
            fs.audit(ctx, tx, action)?;
            Ok(())
        })
    }

    /// Creates a symlink at `link` pointing at `target`.
    pub fn symlink(&mut self, ctx: &Ctx<'_>, target: &str, link: &str) -> Result<(), VfsError> {
        if target.is_empty() || target.len() > MAX_PATH || target.contains('\0') {
            return Err(VfsError::InvalidPath);
        }
        let link = CanonPath::parse(link)?;
        let (dir, name) = self.resolve_parent_for(ctx, &link, true)?;
        check_name(&name)?;
        let full = dir.path.child(&name);
        guard(&ctx.caller, &full)?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        if self.child(dir.inode.id, &name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        self.tx(|fs, tx| {
            let kind = Kind::Symlink {
                target: String::from(target),
            };
            let perms = default_for(&ctx.caller, false);
            let mut inode = fs.new_inode(ctx, tx, dir.inode.id, &name, kind, perms);
            inode.size = target.len() as u64;
            fs.link_new(ctx, tx, inode)?;
            Ok(())
        })
    }

    /// The target of a symlink.
    pub fn readlink(&mut self, ctx: &Ctx<'_>, path: &str) -> Result<String, VfsError> {
        let path = CanonPath::parse(path)?;
        let found = self.resolve(ctx, &path, false)?;
        match found.inode.kind {
            Kind::Symlink { target } => Ok(target),
            _ => Err(VfsError::InvalidArgument),
        }
    }

    /// The canonical path of an existing entry, symlinks followed.
    pub fn resolve_path(&mut self, ctx: &Ctx<'_>, path: &str) -> Result<String, VfsError> {
        let path = CanonPath::parse(path)?;
        Ok(self.resolve(ctx, &path, true)?.path.to_path_string())
    }

    /// Bytes and entries in a subtree (the caller must be able to read it).
    pub fn usage(&mut self, ctx: &Ctx<'_>, path: &str) -> Result<Usage, VfsError> {
        let path = CanonPath::parse(path)?;
        let found = self.resolve(ctx, &path, true)?;
        Self::check(ctx, &found.inode, Access::Read)?;
        Ok(Usage {
            bytes: found.inode.usage_bytes(),
            entries: found.inode.usage_entries() - 1,
        })
    }

    /// A user's quota: the user themself or a system caller. The nil UUID names the quota the
    /// applications without a user share (asked by one of them, or a system caller). `used` is
    /// what the account holds wherever it lives — content, [`crate::accounts::ENTRY_COST`] per
    /// entry, handles' staged versions.
    pub fn quota(&mut self, ctx: &Ctx<'_>, user: Uuid) -> Result<Quota, VfsError> {
        let own = match ctx.caller.user {
            Some(u) => u == user,
            None => user.is_nil(),
        };
        if !is_system(&ctx.caller) && !own {
            return Err(VfsError::PermissionDenied);
        }
        let account = Account::named(user);
        let limit = self.account_limit(account)?.unwrap_or(u64::MAX);
        let used = self.account_used(account);
        let soft_limit = limit / 100 * SOFT_LIMIT_PERCENT + limit % 100 * SOFT_LIMIT_PERCENT / 100;
        Ok(Quota {
            user,
            limit,
            soft_limit,
            used,
            over_soft_limit: used > soft_limit,
        })
    }

    /// Sets a user's quota limit: system callers only; audited.
    pub fn set_quota(&mut self, ctx: &Ctx<'_>, user: Uuid, limit: u64) -> Result<(), VfsError> {
        if !is_system(&ctx.caller) {
            return Err(VfsError::PermissionDenied);
        }
        self.tx(|fs, tx| {
            tx.put(
                Db::Userspace,
                keys::quota(&user),
                limit.to_be_bytes().to_vec(),
            );
            fs.audit(ctx, tx, format!("set_quota {user} {limit}"))?;
            Ok(())
        })
    }
}

/// The metadata [`Vfs::restore_metadata`] puts back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoredMetadata {
    /// Owner, `None` for the system.
    pub owner: Option<Uuid>,
    /// Permission bits.
    pub permissions: FilePermissions,
    /// Creation time, ns since the epoch.
    pub created_ns: u64,
    /// Modification time.
    pub modified_ns: u64,
    /// Access time.
    pub accessed_ns: u64,
}
