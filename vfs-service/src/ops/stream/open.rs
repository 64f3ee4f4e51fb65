//! Opening a file on a handle, and releasing one without committing.

use crate::accounts::{Account, Holding};
use crate::crypto::Hasher;
use crate::error::VfsError;
use crate::inode::Kind;
use crate::path::CanonPath;
use crate::permission::{Access, FilePermissions, default_for, guard};
use crate::protocol::messages::{FileKey, OpenFlags, OpenResponse};
use crate::vfs::{Ctx, Found, Tx, Vfs};

use super::Deferred;
use storage_backend::{BlockDevice, CryptoEngine};

use crate::handles::OpenFile;

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Opens a file for `task`.
    pub fn open(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        flags: OpenFlags,
        key: Option<FileKey>,
        perms: Option<FilePermissions>,
    ) -> Result<OpenResponse, VfsError> {
        // The limits first: a refused OPEN must not have created or truncated anything.
        self.handles.can_insert(ctx.caller.task)?;
        // At most one creation is deferred: an earlier one is committed before this OPEN
        // looks at the tree. This OPEN then owns whatever creation it defers.
        self.settle();
        let of = match self.as_owner(true, |vfs| vfs.open_file(ctx, path, flags, key, perms)) {
            Ok(of) => of,
            Err(e) => {
                // A refused OPEN creates nothing.
                self.drop_deferred();
                return Err(e);
            }
        };
        let size = of.size;
        match self.handles.insert(of) {
            Ok(handle) => {
                if let Some(d) = &mut self.deferred {
                    d.owner = Some((ctx.caller.task, handle));
                }
                Ok(OpenResponse { handle, size })
            }
            Err(rejected) => {
                let (e, of) = *rejected;
                self.drop_deferred();
                self.drop_file(of);
                Err(e)
            }
        }
    }

    pub(crate) fn open_file(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        flags: OpenFlags,
        key: Option<FileKey>,
        perms: Option<FilePermissions>,
    ) -> Result<OpenFile, VfsError> {
        if !flags.read && !flags.write {
            return Err(VfsError::InvalidArgument);
        }
        if (flags.truncate || flags.append || flags.create) && !flags.write {
            return Err(VfsError::InvalidArgument);
        }
        let path = CanonPath::parse(path)?;
        let (found, created) = match self.resolve_for(ctx, &path, true, flags.write) {
            Ok(found) => {
                if flags.create && flags.exclusive {
                    return Err(VfsError::AlreadyExists);
                }
                (found, false)
            }
            Err(VfsError::NotFound) if flags.create => {
                (self.create_empty(ctx, &path, key.is_some(), perms)?, true)
            }
            Err(e) => return Err(e),
        };
        let inode = found.inode;
        if !matches!(inode.kind, Kind::File { .. }) {
            return Err(VfsError::NotAFile);
        }
        if flags.write {
            guard(&ctx.caller, &found.path)?;
        }
        if !created {
            if flags.read {
                Self::check(ctx, &inode, Access::Read)?;
            }
            if flags.write {
                Self::check(ctx, &inode, Access::Write)?;
            }
        }
        let base_cipher = if created {
            None
        } else if flags.truncate {
            if inode.enc.is_some() {
                // Truncating discards the content, but only the key's holder may replace it:
                // without the key the new content would be plaintext, or under another key.
                self.cipher_for(&inode, key.as_ref())?;
            }
            None
        } else {
            self.cipher_for(&inode, key.as_ref())?
        };
        let content = match inode.kind {
            Kind::File { content } => content,
            _ => 0,
        };
        let bound_path = match &inode.enc {
            Some(info) if !flags.truncate => info.bound_path.clone(),
            _ => found.path.to_path_string(),
        };
        let mut of = OpenFile {
            task: ctx.caller.task,
            inode: inode.id,
            read: flags.read,
            write: flags.write,
            append: flags.append,
            pos: 0,
            size: inode.size,
            key,
            bound_path,
            base: 0,
            base_size: inode.size,
            base_valid: inode.size,
            base_hash: inode.sha256,
            base_cipher,
            stage: None,
            verify: Some((Hasher::default(), 0)),
            account: Account::of(&inode),
            staged_charge: 0,
            seen: content,
            overwrite: flags.overwrite,
            appends_from: None,
        };
        if !flags.truncate && content != 0 {
            of.base = content;
            self.pin(content);
        }
        if flags.truncate && inode.size > 0 {
            self.ensure_stage(ctx, &mut of, true)?;
        }
        if created && of.key.is_some() {
            // Give the new file its key binding at once, so a reopen needs the key.
            self.ensure_stage(ctx, &mut of, true)?;
            self.commit_file(ctx, &mut of)?;
        }
        Ok(of)
    }

    /// Creates an empty file: visible to everyone at once, committed with the handle's first
    /// commit ([`super::defer`]); an encrypted one is committed at once with its key binding.
    pub(super) fn create_empty(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        encrypted: bool,
        perms: Option<FilePermissions>,
    ) -> Result<Found, VfsError> {
        let (dir, name) = self.resolve_parent_for(ctx, path, true)?;
        let full = dir.path.child(&name);
        guard(&ctx.caller, &full)?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        if self.child(dir.inode.id, &name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        let make = |fs: &mut Self, tx: &mut Tx| {
            let perms = perms.unwrap_or_else(|| default_for(&ctx.caller, false));
            let inode = fs.new_inode(
                ctx,
                tx,
                dir.inode.id,
                &name,
                Kind::File { content: 0 },
                perms,
            );
            fs.link_new(ctx, tx, inode.clone())?;
            Ok(inode)
        };
        let inode = if encrypted {
            self.tx(make)?
        } else {
            let mut tx = Tx::default();
            let inode = make(self, &mut tx)?;
            self.deferred = Some(Deferred { tx, owner: None });
            // Charged from now on, as if committed (`link_new` checked it).
            self.acct.pending = Some((Account::of(&inode), Holding::of(&inode)));
            inode
        };
        Ok(Found { path: full, inode })
    }

    /// Releases an open file without committing (staging goes to the collector).
    pub(crate) fn drop_file(&mut self, mut of: OpenFile) {
        self.unpin(of.base);
        self.acct.stage(of.account, -(of.staged_charge as i128));
        if let Some(stage) = of.stage.take() {
            // The stage is abandoned: its pieces go now, in delete-only transactions that
            // commit on a full store; whatever an error leaves, the staging record hands to
            // the collector (`ops::gc`), so the space always comes back.
            self.abandon_stage(stage.content);
        }
    }
}
