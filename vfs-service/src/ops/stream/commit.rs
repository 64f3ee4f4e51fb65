//! Committing a handle's staged writes: the inode switches to the staged content atomically.

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
        let Some(mut stage) = of.stage.take() else {
            return Ok(());
        };
        match self.finish_stage(ctx, of, &mut stage) {
            Ok(()) => Ok(()),
            Err(e) => {
                of.stage = Some(stage);
                Err(e)
            }
        }
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
        let digest = core::mem::take(&mut stage.hasher).finalize();
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
        Ok(())
    }
}
