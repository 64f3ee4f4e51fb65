//! Committing a handle's staged writes: the inode switches to the staged content atomically.
//!
//! Concurrent writers cannot lose each other's data silently: a handle remembers the content
//! version it builds on (`seen`), and a commit that finds another version in place fails with
//! `Conflict` — unless the handle was opened with `overwrite` (last writer wins), or it only
//! appended, in which case its appended bytes are re-applied at the end of the file as it is
//! now. Encrypted content is never replaced without its key. A commit that fails leaves the
//! handle as it was, stage included, so the client can retry or DISCARD.

use crate::crypto::Hasher;
use crate::error::VfsError;
use crate::inode::{Kind, keys};
use crate::vfs::{Ctx, Vfs};
use storage_backend::Sha256Hasher as _;
use storage_backend::{BlockDevice, CryptoEngine, Db};

use super::{PIECE, pieces};
use crate::handles::{OpenFile, Stage};

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
        let Some(mut stage) = of.stage.take() else {
            return Ok(());
        };
        match self.finish_stage(ctx, of, &mut stage) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Keep the highest counter sealed under the version key, so a retry never
                // seals a piece under a nonce already used.
                if let Some(view) = of.stage.take() {
                    stage.counter = stage.counter.max(view.counter);
                }
                of.stage = Some(stage);
                Err(e)
            }
        }
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

    pub(super) fn finish_stage(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
        stage: &mut Stage,
    ) -> Result<(), VfsError> {
        let n = pieces(of.size);
        // Hash (and, after random access, materialise) every piece of the new version.
        if stage.sequential {
            if stage.hashed < n {
                let i = n - 1;
                let stored = self
                    .stored_piece(stage.content, i)?
                    .ok_or(VfsError::IntegrityError)?;
                stage.hasher.update(&stored);
                stage.hashed = n;
            }
        } else {
            stage.hasher = Hasher::default();
            let view_stage = core::mem::replace(
                stage,
                Stage {
                    content: stage.content,
                    enc: stage.enc.clone(),
                    counter: stage.counter,
                    sequential: false,
                    hasher: Hasher::default(),
                    hashed: 0,
                    extent: stage.extent,
                },
            );
            of.stage = Some(view_stage);
            // Materialise, in bounded transactions of at most 16 pieces.
            let mut i = 0;
            while i < n {
                self.tx(|fs, tx| {
                    while i < n && tx.len() < 16 {
                        let want = of.size.saturating_sub(i * PIECE).min(PIECE) as usize;
                        let staged = fs.stored_piece(stage.content, i)?;
                        let stored = match staged {
                            Some(s) if Self::decode_len(stage.enc.is_some(), s.len()) == want => s,
                            _ => {
                                let plain = fs.logical_piece(of, i)?;
                                let stored = match &stage.enc {
                                    None => plain,
                                    Some((c, _)) => {
                                        stage.counter += 1;
                                        c.seal(&mut fs.cx(), i as u32, stage.counter, &plain)?
                                    }
                                };
                                tx.put(
                                    Db::Userspace,
                                    keys::piece(stage.content, i as u32),
                                    stored.clone(),
                                );
                                stored
                            }
                        };
                        stage.hasher.update(&stored);
                        i += 1;
                    }
                    Ok(())
                })?;
            }
            if let Some(v) = of.stage.take() {
                stage.counter = stage.counter.max(v.counter);
            }
            stage.hashed = n;
        }
        // A clone: should the commit below fail, a retry hashes from the same state.
        let digest = stage.hasher.clone().finalize();
        self.tx(|fs, tx| {
            let mut inode = fs.inode(of.inode)?;
            let old = match inode.kind {
                Kind::File { content } => content,
                _ => return Err(VfsError::NotAFile),
            };
            let delta = of.size as i128 - inode.size as i128;
            fs.grow(tx, inode.parent, delta, 0)?;
            inode.kind = Kind::File {
                content: stage.content,
            };
            inode.size = of.size;
            inode.sha256 = digest;
            inode.enc = stage.enc.as_ref().map(|e| e.1.clone());
            inode.modified_ns = ctx.env.now_ns();
            tx.put_inode(inode);
            if old != 0 {
                tx.discard(old, 0);
            }
            tx.delete(Db::Userspace, keys::staging(stage.content));
            Ok(())
        })?;
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
