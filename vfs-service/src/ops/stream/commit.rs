//! Committing a handle's staged writes: the inode switches to the staged content atomically.
//!
//! Concurrent writers cannot lose each other's data silently: a handle remembers the content
//! version it builds on (`seen`), and a commit that finds another version in place fails with
//! `Conflict` — unless the handle was opened with `overwrite` (last writer wins), or it only
//! appended, in which case its appended bytes are re-applied at the end of the file as it is
//! now. Encrypted content is never replaced without its key. A commit that fails leaves the
//! handle as it was, stage included, so the client can retry or DISCARD.

use crate::accounts::Holding;
use crate::crypto::Hasher;
use crate::error::VfsError;
use crate::inode::{Kind, keys};
use crate::vfs::{Ctx, Vfs};
use storage_backend::Sha256Hasher as _;
use storage_backend::{BlockDevice, CryptoEngine, Db};

use super::{PIECE, pieces};
use crate::handles::OpenFile;

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Commits a handle's staged writes: the inode switches to the staged content atomically.
    pub(crate) fn commit_file(&mut self, ctx: &Ctx<'_>, of: &mut OpenFile) -> Result<(), VfsError> {
        if of.stage.is_none() {
            return Ok(());
        }
        let inode = self.inode(of.inode)?;
        let Kind::File { content } = inode.kind else {
            return Err(VfsError::NotAFile);
        };
        if content != of.seen {
            if of.append && of.appends_from.is_some() {
                return self.rebase_appends(ctx, of);
            }
            if !of.overwrite {
                return Err(VfsError::Conflict);
            }
            if inode.enc.is_some() {
                // Another writer encrypted it since: only its key's holder may replace it.
                self.cipher_for(&inode, of.key.as_ref())?;
            }
        }
        // On failure the stage stays on the handle as it is (its counter included, so a retry
        // never seals a piece under a nonce already used).
        self.finish_stage(ctx, of)
    }

    /// Commits an append handle's appends over a file another writer changed: a new view of
    /// the file as it is now gets the handle's appended bytes at its end and is committed; on
    /// success it replaces the handle's state (the old stage goes to the collector), on failure
    /// the handle is left as it was.
    fn rebase_appends(&mut self, ctx: &Ctx<'_>, of: &mut OpenFile) -> Result<(), VfsError> {
        let from = of.appends_from.ok_or(VfsError::Conflict)?;
        let inode = self.inode(of.inode)?;
        let Kind::File { content } = inode.kind else {
            return Err(VfsError::NotAFile);
        };
        let base_cipher = self.cipher_for(&inode, of.key.as_ref())?;
        let mut view = OpenFile::placeholder(of.task);
        view.inode = of.inode;
        view.read = of.read;
        view.write = true;
        view.append = true;
        view.pos = inode.size;
        view.size = inode.size;
        view.key = of.key;
        view.bound_path = match &inode.enc {
            Some(info) => info.bound_path.clone(),
            None => of.bound_path.clone(),
        };
        view.base = content;
        view.base_size = inode.size;
        view.base_valid = inode.size;
        view.base_hash = inode.sha256;
        view.base_cipher = base_cipher;
        view.seen = content;
        view.overwrite = of.overwrite;
        view.account = of.account;
        self.pin(content);
        match self.reapply(ctx, of, &mut view, from) {
            Ok(()) => {
                let old = core::mem::replace(of, view);
                self.drop_file(old);
                Ok(())
            }
            Err(e) => {
                self.drop_file(view);
                Err(e)
            }
        }
    }

    /// Copies `of`'s bytes from `from` to its end onto the end of `view`, then commits `view`.
    fn reapply(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
        view: &mut OpenFile,
        from: u64,
    ) -> Result<(), VfsError> {
        let mut pos = from;
        while pos < of.size {
            let i = pos / PIECE;
            let piece = self.logical_piece(of, i)?;
            let start = (pos - i * PIECE) as usize;
            let end = ((of.size - i * PIECE) as usize).min(piece.len());
            let bytes = piece.get(start..end).ok_or(VfsError::IntegrityError)?;
            if bytes.is_empty() {
                return Err(VfsError::IntegrityError);
            }
            self.file_write(ctx, view, bytes)?;
            pos += bytes.len() as u64;
        }
        self.commit_file(ctx, view)
    }

    /// The new version's digest: of the pieces in order. A sequential stage hashed its full
    /// pieces as they were written and adds the last one; after random access every piece of
    /// the new version is materialised into the stage first (from the base where untouched).
    fn stage_digest(&mut self, of: &mut OpenFile) -> Result<[u8; 32], VfsError> {
        let n = pieces(of.size);
        let stage = of.stage.as_ref().ok_or(VfsError::StorageError)?;
        if stage.sequential {
            // A clone: should the commit fail, a retry hashes from the same state.
            let mut hasher = stage.hasher.clone();
            if stage.hashed < n {
                let stored = self
                    .stage_piece(stage, n - 1)?
                    .ok_or(VfsError::IntegrityError)?;
                hasher.update(&stored);
            }
            return Ok(hasher.finalize());
        }
        let mut hasher = Hasher::default();
        for i in 0..n {
            let want = of.size.saturating_sub(i * PIECE).min(PIECE) as usize;
            let stage = of.stage.as_ref().ok_or(VfsError::StorageError)?;
            let encrypted = stage.enc.is_some();
            let stored = match self.stage_piece(stage, i)? {
                Some(s) if Self::decode_len(encrypted, s.len()) == want => s,
                _ => {
                    let plain = self.logical_piece(of, i)?;
                    self.put_piece(of, i, &plain)?;
                    let stage = of.stage.as_ref().ok_or(VfsError::StorageError)?;
                    self.stage_piece(stage, i)?.ok_or(VfsError::StorageError)?
                }
            };
            hasher.update(&stored);
        }
        Ok(hasher.finalize())
    }

    /// Commits the stage: its buffered pieces, the inode switch, the accounting and the old
    /// content's garbage record in one transaction (which also carries a deferred creation of
    /// this handle's file). A small file written through a handle is this one commit.
    pub(super) fn finish_stage(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
    ) -> Result<(), VfsError> {
        let digest = self.stage_digest(of)?;
        let stage = of.stage.as_ref().ok_or(VfsError::StorageError)?;
        let (inode_id, size) = (of.inode, of.size);
        let (account, staged) = (of.account, of.staged_charge);
        let n = pieces(size);
        self.tx(|fs, tx| {
            // Pieces past the end (left in the buffer by a write that failed half-way) are not
            // part of the version.
            for (i, stored) in stage.buffer.range(..n) {
                let index = u32::try_from(*i).map_err(|_| VfsError::ResourceLimitExceeded)?;
                tx.put(
                    Db::Userspace,
                    keys::piece(stage.content, index),
                    stored.clone(),
                );
            }
            let mut inode = fs.inode(inode_id)?;
            let old = match inode.kind {
                Kind::File { content } => content,
                _ => return Err(VfsError::NotAFile),
            };
            let delta = size as i128 - inode.size as i128;
            // The staged version was charged in full; from now on the file holds it instead.
            fs.check_charge(
                &ctx.caller,
                account,
                Holding::bytes(delta),
                -(staged as i128),
            )?;
            fs.grow(tx, inode.parent, delta, 0)?;
            inode.kind = Kind::File {
                content: stage.content,
            };
            inode.size = size;
            inode.sha256 = digest;
            inode.enc = stage.enc.as_ref().map(|e| e.1.clone());
            inode.modified_ns = ctx.env.now_ns();
            tx.put_inode(inode);
            if old != 0 {
                tx.discard(old, 0);
            }
            if stage.spilled {
                tx.delete(Db::Userspace, keys::staging(stage.content));
            }
            Ok(())
        })?;
        let mut stage = of.stage.take().ok_or(VfsError::StorageError)?;
        self.release_buffer(&mut stage);
        self.charge_stage(of);
        // The handle now reads the version it committed.
        self.unpin(of.base);
        of.base = stage.content;
        self.pin(of.base);
        of.base_size = of.size;
        of.base_valid = of.size;
        of.base_hash = digest;
        of.base_cipher = stage.enc.as_ref().map(|e| e.0.clone());
        of.verify = None;
        of.seen = stage.content;
        of.appends_from = None;
        Ok(())
    }
}
