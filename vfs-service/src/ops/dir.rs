//! mkdir and readdir (removal is in [`super::remove`]).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::VfsError;
use crate::inode::{Kind, be_u64, keys};
use crate::path::CanonPath;
use crate::permission::{Access, FilePermissions, default_for, guard};
use crate::protocol::limits::{MAX_NAME, MAX_PAYLOAD};
use crate::protocol::messages::{DirEntry, ReaddirResponse};
use crate::vfs::{Ctx, Found, Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db};

/// Entries examined per readdir page at most.
const PAGE_SCAN: usize = 64;

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Creates a directory (and, with `recursive`, its missing parents, all in one
    /// transaction: after a crash either every missing level exists or none).
    pub fn mkdir(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        recursive: bool,
        perms: Option<FilePermissions>,
    ) -> Result<(), VfsError> {
        let path = CanonPath::parse(path)?;
        if recursive {
            let parts: Vec<&str> = path.parts().iter().map(String::as_str).collect();
            let mut prefix = CanonPath::root();
            for (i, name) in parts.iter().enumerate() {
                prefix = prefix.child(name);
                match self.resolve(ctx, &prefix, true) {
                    Ok(found) if found.inode.is_dir() => continue,
                    Ok(_) => return Err(VfsError::NotADirectory),
                    Err(VfsError::NotFound) => {
                        return self.mkdir_chain(ctx, &prefix, &parts[i + 1..], perms);
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        } else {
            if path.is_root() {
                return Err(VfsError::AlreadyExists);
            }
            self.mkdir_one(ctx, &path, perms)
        }
    }

    pub(crate) fn mkdir_one(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        perms: Option<FilePermissions>,
    ) -> Result<(), VfsError> {
        self.mkdir_chain(ctx, path, &[], perms)
    }

    /// Creates `path` (whose parent exists) and then `below`, each in the one before, in one
    /// transaction. Write permission is needed on the existing parent only: the caller owns
    /// every directory it creates.
    fn mkdir_chain(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        below: &[&str],
        perms: Option<FilePermissions>,
    ) -> Result<(), VfsError> {
        let (dir, name) = self.resolve_parent(ctx, path)?;
        if self.child(dir.inode.id, &name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        let mut full = dir.path.child(&name);
        guard(&ctx.caller, &full)?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        self.tx(|fs, tx| {
            let perms = perms.unwrap_or_else(|| default_for(&ctx.caller, true));
            let mut parent = dir.inode.id;
            for name in core::iter::once(name.as_str()).chain(below.iter().copied()) {
                if parent != dir.inode.id {
                    full = full.child(name);
                    guard(&ctx.caller, &full)?;
                }
                let kind = Kind::Dir {
                    tree_bytes: 0,
                    tree_entries: 0,
                };
                let inode = fs.new_inode(ctx, tx, parent, name, kind, perms);
                parent = inode.id;
                fs.link_new(ctx, tx, inode)?;
            }
            Ok(())
        })
    }

    /// One page of a directory listing after `cursor`.
    pub fn readdir(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        cursor: Option<&str>,
    ) -> Result<ReaddirResponse, VfsError> {
        let path = CanonPath::parse(path)?;
        let Found { path, inode } = self.resolve(ctx, &path, true)?;
        if !inode.is_dir() {
            return Err(VfsError::NotADirectory);
        }
        Self::check(ctx, &inode, Access::Read)?;
        if cursor.is_some_and(|c| c.len() > MAX_NAME) {
            return Err(VfsError::InvalidArgument);
        }
        let prefix = keys::dir_prefix(inode.id);
        let after = cursor.map(|c| keys::dirent(inode.id, c));
        let rows = self
            .store
            .scan(Db::Userspace, &prefix, after.as_deref(), PAGE_SCAN)
            .map_err(store_err)?;
        let full_page = rows.len() == PAGE_SCAN;
        // Result tag, vector length, the cursor option and its longest value.
        let mut budget = MAX_PAYLOAD - 8 - (3 + MAX_NAME);
        let mut entries = Vec::new();
        let mut cut = false;
        for (k, v) in rows {
            let raw = k.get(prefix.len()..).ok_or(VfsError::IntegrityError)?;
            let name = String::from_utf8(raw.to_vec()).map_err(|_| VfsError::IntegrityError)?;
            let child = self.inode(be_u64(&v).ok_or(VfsError::IntegrityError)?)?;
            let mut entry = DirEntry {
                path: path.child(&name).to_path_string(),
                name,
                is_directory: child.is_dir(),
                is_symlink: child.is_symlink(),
                size: if child.is_dir() { 0 } else { child.size },
                modified_ns: child.modified_ns,
            };
            let mut len = postcard::to_allocvec(&entry)
                .map_err(|_| VfsError::StorageError)?
                .len();
            if len > budget && entries.is_empty() {
                // A path made longer than a message by renames above it: the entry goes out
                // without its path (the name is always short enough) so the listing moves on.
                len -= entry.path.len();
                entry.path = String::new();
            }
            if len > budget {
                cut = true;
                break;
            }
            budget -= len;
            entries.push(entry);
        }
        let next = if cut || full_page {
            entries.last().map(|e| e.name.clone())
        } else {
            None
        };
        Ok(ReaddirResponse { entries, next })
    }
}
