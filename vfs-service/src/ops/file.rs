//! Whole-file write and ranged read, unlink, rename and copy.
//!
//! Rules kept here: a path-based write never follows a symlink someone else planted in a
//! sticky directory (every path is resolved as a write); unlink and rename in a sticky
//! directory need [`crate::permission::may_remove`] on top of write on the directory; a whole-file
//! write of an encrypted file needs its key (`EncryptionError` otherwise, and nothing changes),
//! so encrypted content is never replaced by plaintext or by content under another key.

use alloc::vec::Vec;

use crate::accounts::{Account, Holding};
use crate::crypto::Hasher;
use crate::error::VfsError;
use crate::inode::{Inode, Kind, keys};
use crate::path::CanonPath;
use crate::permission::{Access, FilePermissions, default_for, guard, may_remove};
use crate::protocol::limits::{MAX_IO, PIECE_SIZE};
use crate::protocol::messages::{FileKey, ReadResponse};
use crate::vfs::{Ctx, Tx, Vfs, store_err};
use storage_backend::Sha256Hasher as _;
use storage_backend::{BlockDevice, CryptoEngine, Db};

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Replaces a whole file with `data` (creating it if needed), in one transaction: the new
    /// content, the inode and the accounting change together or not at all.
    pub fn write_file(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        data: &[u8],
        key: Option<FileKey>,
        perms: Option<FilePermissions>,
    ) -> Result<(), VfsError> {
        self.tx(|fs, tx| fs.write_file_in(ctx, tx, path, data, key, perms))
    }

    /// [`Vfs::write_file`] as part of `tx` (CREATE_HOME writes `registry.json` with the home).
    /// Resolves against the store, not against `tx`: the file's directory must not be one
    /// `tx` creates.
    pub(crate) fn write_file_in(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        path: &str,
        data: &[u8],
        key: Option<FileKey>,
        perms: Option<FilePermissions>,
    ) -> Result<(), VfsError> {
        let path = CanonPath::parse(path)?;
        let existing = match self.resolve_for(ctx, &path, true, true) {
            Ok(found) => Some(found),
            Err(VfsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if data.len() as u64 > self.limits.max_file_size {
            return Err(VfsError::ResourceLimitExceeded);
        }
        match existing {
            Some(found) => {
                let mut inode = found.inode;
                let Kind::File { content: old } = inode.kind else {
                    return Err(VfsError::NotAFile);
                };
                guard(&ctx.caller, &found.path)?;
                Self::check(ctx, &inode, Access::Write)?;
                if inode.enc.is_some() {
                    // Only the key's holder may replace encrypted content.
                    self.cipher_for(&inode, key.as_ref())?;
                }
                let bound = found.path.to_path_string();
                let (content, enc, hash) = self.put_content(ctx, tx, data, key, &bound)?;
                let delta = data.len() as i128 - inode.size as i128;
                self.check_charge(&ctx.caller, Account::of(&inode), Holding::bytes(delta), 0)?;
                self.grow(tx, inode.parent, delta, 0)?;
                inode.kind = Kind::File { content };
                inode.size = data.len() as u64;
                inode.enc = enc;
                inode.sha256 = hash;
                inode.modified_ns = ctx.env.now_ns();
                tx.put_inode(inode);
                if old != 0 {
                    tx.discard(old, 0);
                }
            }
            None => {
                let (dir, name) = self.resolve_parent_for(ctx, &path, true)?;
                let full = dir.path.child(&name);
                guard(&ctx.caller, &full)?;
                Self::check(ctx, &dir.inode, Access::Write)?;
                if self.child(dir.inode.id, &name)?.is_some() {
                    // A dangling symlink: never replaced by a file.
                    return Err(VfsError::AlreadyExists);
                }
                let bound = full.to_path_string();
                let (content, enc, hash) = self.put_content(ctx, tx, data, key, &bound)?;
                let perms = perms.unwrap_or_else(|| default_for(&ctx.caller, false));
                let mut inode =
                    self.new_inode(ctx, tx, dir.inode.id, &name, Kind::File { content }, perms);
                inode.size = data.len() as u64;
                inode.enc = enc;
                inode.sha256 = hash;
                self.link_new(ctx, tx, inode)?;
            }
        }
        Ok(())
    }

    /// Stages `data` as a new content object in `tx`.
    fn put_content(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        data: &[u8],
        key: Option<FileKey>,
        bound: &str,
    ) -> Result<(u64, Option<crate::inode::EncInfo>, [u8; 32]), VfsError> {
        let enc = match &key {
            Some(k) => Some(self.new_enc(ctx, k, bound)?),
            None => None,
        };
        if data.is_empty() && enc.is_none() {
            return Ok((0, None, crate::crypto::empty_hash()));
        }
        let content = self.alloc_id(tx);
        let mut hasher = Hasher::default();
        for (i, chunk) in data.chunks(PIECE_SIZE).enumerate() {
            let stored = match &enc {
                None => chunk.to_vec(),
                Some((c, _)) => c.seal(&mut self.cx(), i as u32, 1, chunk)?,
            };
            hasher.update(&stored);
            tx.put(Db::Userspace, keys::piece(content, i as u32), stored);
        }
        Ok((content, enc.map(|e| e.1), hasher.finalize()))
    }

    /// Reads up to `length` (at most [`MAX_IO`]) bytes at `offset`.
    ///
    /// Integrity: every piece comes from the store, which authenticates each record it returns
    /// (AES-GCM under the region key, bound to its place in the log by the nonce, and found
    /// through the authenticated index) or fails with an error that maps to `IntegrityError`;
    /// a missing or short piece is an `IntegrityError` here. The whole-file SHA-256 is not
    /// recomputed for a read: it is maintained when content is written, returned as the
    /// response's version token, and checked in full by a sequential handle read of the whole
    /// file and by the store check (`zvfs fsck`), where it adds what the records' tags cannot
    /// (that the pieces are the complete, ordered content the inode names).
    pub fn read_file(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        offset: u64,
        length: Option<u32>,
        key: Option<FileKey>,
    ) -> Result<ReadResponse, VfsError> {
        let path = CanonPath::parse(path)?;
        let found = self.resolve(ctx, &path, true)?;
        let mut inode = found.inode;
        let Kind::File { content } = inode.kind else {
            return Err(VfsError::NotAFile);
        };
        Self::check(ctx, &inode, Access::Read)?;
        let cipher = self.cipher_for(&inode, key.as_ref())?;
        let want = length.map_or(MAX_IO, |l| (l as usize).min(MAX_IO)) as u64;
        let end = inode.size.min(offset.saturating_add(want));
        let piece = PIECE_SIZE as u64;
        let mut data = Vec::new();
        let mut pos = offset;
        while pos < end {
            let i = pos / piece;
            let stored = self
                .stored_piece(content, i)?
                .ok_or(VfsError::IntegrityError)?;
            let plain = self.decode_piece(cipher.as_ref(), i, stored)?;
            let from = (pos - i * piece) as usize;
            let to = ((end - i * piece) as usize).min(plain.len());
            data.extend_from_slice(plain.get(from..to).ok_or(VfsError::IntegrityError)?);
            pos = i * piece + to as u64;
            if to <= from {
                return Err(VfsError::IntegrityError);
            }
        }
        // Access time, updated lazily (once a day or after a modification) to spare writes.
        // Best effort: a read never fails because its access time cannot be written (a full
        // store, a halted database); the update is skipped and the next read tries again.
        let now = ctx.env.now_ns();
        if inode.accessed_ns < inode.modified_ns
            || now.saturating_sub(inode.accessed_ns) > 86_400_000_000_000
        {
            inode.accessed_ns = now;
            let (size, sha256) = (inode.size, inode.sha256);
            let _skipped = self.tx(|_, tx| {
                tx.put_inode(inode);
                Ok(())
            });
            return Ok(ReadResponse { data, size, sha256 });
        }
        Ok(ReadResponse {
            data,
            size: inode.size,
            sha256: inode.sha256,
        })
    }

    /// Removes a file or symlink.
    pub fn unlink(&mut self, ctx: &Ctx<'_>, path: &str) -> Result<(), VfsError> {
        let path = CanonPath::parse(path)?;
        let (dir, name) = self.resolve_parent_for(ctx, &path, true)?;
        let id = self.child(dir.inode.id, &name)?.ok_or(VfsError::NotFound)?;
        let inode = self.inode(id)?;
        if inode.is_dir() {
            return Err(VfsError::NotAFile);
        }
        guard(&ctx.caller, &dir.path.child(&name))?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        Self::check_remove(ctx, &dir.inode, &inode)?;
        self.tx(|fs, tx| {
            fs.unlink_entry(ctx, tx, &inode)?;
            Ok(())
        })
    }

    /// Renames an entry. The destination must not exist. A directory moves with its whole
    /// subtree at the cost of a handful of records, whatever the subtree holds.
    pub fn rename(&mut self, ctx: &Ctx<'_>, from: &str, to: &str) -> Result<(), VfsError> {
        let from = CanonPath::parse(from)?;
        let to = CanonPath::parse(to)?;
        let (src_dir, src_name) = self.resolve_parent_for(ctx, &from, true)?;
        let id = self
            .child(src_dir.inode.id, &src_name)?
            .ok_or(VfsError::NotFound)?;
        let mut inode = self.inode(id)?;
        let (dst_dir, dst_name) = self.resolve_parent_for(ctx, &to, true)?;
        guard(&ctx.caller, &src_dir.path.child(&src_name))?;
        guard(&ctx.caller, &dst_dir.path.child(&dst_name))?;
        Self::check(ctx, &src_dir.inode, Access::Write)?;
        Self::check(ctx, &dst_dir.inode, Access::Write)?;
        Self::check_remove(ctx, &src_dir.inode, &inode)?;
        if dst_dir.inode.id == src_dir.inode.id && dst_name == src_name {
            return Ok(());
        }
        if self.child(dst_dir.inode.id, &dst_name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        self.tx(|fs, tx| {
            let dst_chain = fs.chain(&*tx, dst_dir.inode.id)?;
            if inode.is_dir() && dst_chain.iter().any(|n| n.id == id) {
                return Err(VfsError::InvalidMove);
            }
            let bytes = inode.usage_bytes() as i128;
            let entries = inode.usage_entries() as i128;
            let src_chain = fs.chain(&*tx, src_dir.inode.id)?;
            // The depth limit holds for the moved entry and everything below it.
            fs.check_move_depth(&inode, src_chain.len(), dst_chain.len())?;
            Self::apply_growth(tx, src_chain, -bytes, -entries);
            fs.grow(tx, dst_dir.inode.id, bytes, entries)?;
            let now = ctx.env.now_ns();
            for dir in [src_dir.inode.id, dst_dir.inode.id] {
                let mut d = fs.tx_inode(&*tx, dir)?;
                d.modified_ns = now;
                tx.put_inode(d);
            }
            tx.delete(Db::Userspace, keys::dirent(src_dir.inode.id, &src_name));
            tx.put(
                Db::Userspace,
                keys::dirent(dst_dir.inode.id, &dst_name),
                id.to_be_bytes().to_vec(),
            );
            inode.parent = dst_dir.inode.id;
            inode.name = dst_name;
            tx.put_inode(inode);
            Ok(())
        })
    }

    /// Copies a file (its content as stored, so an encrypted copy opens with the same key).
    /// The destination must not exist.
    pub fn copy(&mut self, ctx: &Ctx<'_>, from: &str, to: &str) -> Result<(), VfsError> {
        let from = CanonPath::parse(from)?;
        let to = CanonPath::parse(to)?;
        let src = self.resolve(ctx, &from, true)?;
        let Kind::File {
            content: src_content,
        } = src.inode.kind
        else {
            return Err(VfsError::NotAFile);
        };
        Self::check(ctx, &src.inode, Access::Read)?;
        let (dir, name) = self.resolve_parent_for(ctx, &to, true)?;
        let full = dir.path.child(&name);
        guard(&ctx.caller, &full)?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        if self.child(dir.inode.id, &name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        let size = src.inode.size;
        {
            let tx = Tx::default();
            let chain = self.chain(&tx, dir.inode.id)?;
            self.check_growth(&chain, size as i128, 1)?;
        }
        // Copy the pieces into an unreferenced staging object, then link it in one commit.
        let mut content = 0;
        if src_content != 0 {
            self.tx(|fs, tx| {
                content = fs.alloc_id(tx);
                tx.put(Db::Userspace, keys::staging(content), Vec::new());
                Ok(())
            })?;
            self.pin(src_content);
            let copied = self.copy_pieces(src_content, content);
            self.unpin(src_content);
            if let Err(e) = copied {
                let _ = self.tx(|_, tx| {
                    tx.discard(content, 0);
                    tx.delete(Db::Userspace, keys::staging(content));
                    Ok(())
                });
                return Err(e);
            }
        }
        let linked = self.tx(|fs, tx| {
            let perms = default_for(&ctx.caller, false);
            let mut inode =
                fs.new_inode(ctx, tx, dir.inode.id, &name, Kind::File { content }, perms);
            inode.size = size;
            inode.enc = src.inode.enc.clone();
            inode.sha256 = src.inode.sha256;
            if content != 0 {
                tx.delete(Db::Userspace, keys::staging(content));
            }
            fs.link_new(ctx, tx, inode)
        });
        if let Err(e) = linked {
            if content != 0 {
                let _ = self.tx(|_, tx| {
                    tx.discard(content, 0);
                    tx.delete(Db::Userspace, keys::staging(content));
                    Ok(())
                });
            }
            return Err(e);
        }
        Ok(())
    }

    /// The sticky rule: removing `entry` from `dir` (unlink, rename away; RMDIR should ask it
    /// too) needs [`may_remove`] on top of write on the directory.
    pub(crate) fn check_remove(ctx: &Ctx<'_>, dir: &Inode, entry: &Inode) -> Result<(), VfsError> {
        if may_remove(
            &ctx.caller,
            dir.owner,
            dir.permissions(),
            entry.owner,
            entry.permissions(),
        ) {
            Ok(())
        } else {
            Err(VfsError::PermissionDenied)
        }
    }

    fn copy_pieces(&mut self, from: u64, to: u64) -> Result<(), VfsError> {
        let prefix = keys::content_prefix(from);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self
                .store
                .scan(Db::Userspace, &prefix, after.as_deref(), 16)
                .map_err(store_err)?;
            if rows.is_empty() {
                return Ok(());
            }
            self.tx(|_, tx| {
                for (k, v) in rows {
                    let mut key = keys::content_prefix(to);
                    key.extend_from_slice(k.get(prefix.len()..).ok_or(VfsError::IntegrityError)?);
                    tx.put(Db::Userspace, key, v);
                    after = Some(k);
                }
                Ok(())
            })?;
        }
    }
}
