//! Reads, writes, seeks and truncation at a handle's position, within quota and limits.

use alloc::vec::Vec;

use crate::accounts::Holding;
use crate::error::VfsError;
use crate::inode::keys;
use crate::protocol::limits::{MAX_IO, PIECE_SIZE};
use crate::protocol::messages::SeekFrom;
use crate::vfs::{Ctx, Vfs};
use storage_backend::Sha256Hasher as _;
use storage_backend::{BlockDevice, CryptoEngine, Db};

use super::{PIECE, pieces};
use crate::handles::OpenFile;

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Reads up to `len` bytes at the position.
    pub(crate) fn file_read(&mut self, of: &mut OpenFile, len: u32) -> Result<Vec<u8>, VfsError> {
        if !of.read {
            return Err(VfsError::BadHandleMode);
        }
        let len = (len as usize).min(MAX_IO) as u64;
        if of.pos >= of.size {
            return Ok(Vec::new());
        }
        let end = of.size.min(of.pos.saturating_add(len));
        let mut out = Vec::with_capacity(end.saturating_sub(of.pos) as usize);
        let mut pos = of.pos;
        while pos < end {
            let i = pos / PIECE;
            let piece = self.logical_piece(of, i)?;
            let from = (pos - i * PIECE) as usize;
            let to = ((end - i * PIECE) as usize).min(piece.len());
            out.extend_from_slice(piece.get(from..to).ok_or(VfsError::IntegrityError)?);
            pos = i * PIECE + to as u64;
        }
        if end == of.size
            && of.stage.is_none()
            && of.base_valid == of.base_size
            && of.size == of.base_size
            && let Some((h, next)) = &of.verify
            && *next == pieces(of.base_size)
        {
            let digest = h.clone().finalize();
            of.verify = None;
            if digest != of.base_hash {
                return Err(VfsError::IntegrityError);
            }
        }
        of.pos = end;
        Ok(out)
    }

    /// Checks that the handle's staged version may have `new_size` bytes: the file size limit,
    /// then the account's quota and the filesystem limits with the staged version charged in
    /// full ([`crate::accounts`]). Nothing is charged yet: see [`Vfs::charge_stage`].
    pub(super) fn check_size(
        &mut self,
        ctx: &Ctx<'_>,
        of: &OpenFile,
        new_size: u64,
    ) -> Result<(), VfsError> {
        if new_size > self.limits.max_file_size {
            return Err(VfsError::ResourceLimitExceeded);
        }
        let delta = new_size as i128 - of.staged_charge as i128;
        self.check_charge(&ctx.caller, of.account, Holding::default(), delta)
    }

    /// Charges the handle's staged version at its size now (after a write or truncation).
    pub(super) fn charge_stage(&mut self, of: &mut OpenFile) {
        let size = if of.stage.is_some() { of.size } else { 0 };
        self.acct
            .stage(of.account, size as i128 - of.staged_charge as i128);
        of.staged_charge = size;
    }

    /// Writes `data` at the position (at the end with append).
    pub(crate) fn file_write(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
        data: &[u8],
    ) -> Result<u32, VfsError> {
        if !of.write {
            return Err(VfsError::BadHandleMode);
        }
        if data.is_empty() {
            // Nothing to write changes nothing: no growth to a position past the end, no stage
            // (so no quota charge and no new modification time at the commit), no move.
            return Ok(0);
        }
        if of.append {
            of.pos = of.size;
        }
        let end = of
            .pos
            .checked_add(data.len() as u64)
            .ok_or(VfsError::InvalidArgument)?;
        let new_size = of.size.max(end);
        self.check_size(ctx, of, new_size)?;
        self.ensure_stage(ctx, of, false)?;
        if let Some(stage) = &mut of.stage
            && of.pos != of.size
        {
            stage.sequential = false;
        }
        let old_size = of.size;
        let mut pos = of.pos;
        let mut src = data;
        // Into the stage's RAM buffer, which spills to the unreferenced staging content in
        // one transaction whenever it fills (`put_piece`).
        while !src.is_empty() {
            let i = pos / PIECE;
            // The logical view before this write, for the read-modify-write.
            of.size = old_size;
            let mut piece = if pos == i * PIECE && src.len() as u64 >= PIECE {
                Vec::new()
            } else {
                self.logical_piece(of, i)?
            };
            let from = (pos - i * PIECE) as usize;
            let n = (PIECE_SIZE - from).min(src.len());
            if piece.len() < from + n {
                piece.resize(from + n, 0);
            }
            piece[from..from + n].copy_from_slice(&src[..n]);
            self.put_piece(of, i, &piece)?;
            pos += n as u64;
            src = &src[n..];
        }
        of.size = new_size;
        of.pos = end;
        self.charge_stage(of);
        Ok(data.len() as u32)
    }

    /// Moves the position.
    pub(crate) fn file_seek(of: &mut OpenFile, from: SeekFrom) -> Result<u64, VfsError> {
        let target = match from {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => of.pos.checked_add_signed(d),
            SeekFrom::End(d) => of.size.checked_add_signed(d),
        };
        of.pos = target.ok_or(VfsError::InvalidArgument)?;
        Ok(of.pos)
    }

    /// Sets the size (shrinking, or extending with zeros).
    pub(crate) fn file_truncate(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
        size: u64,
    ) -> Result<(), VfsError> {
        if !of.write {
            return Err(VfsError::BadHandleMode);
        }
        if size == of.size {
            return Ok(());
        }
        self.check_size(ctx, of, size)?;
        if size == 0 && of.stage.is_none() {
            self.ensure_stage(ctx, of, true)?;
            self.charge_stage(of);
            return Ok(());
        }
        self.ensure_stage(ctx, of, false)?;
        // No longer appends only: a commit over another writer's change would lose data.
        of.appends_from = None;
        if size < of.size {
            let keep = pieces(size);
            if !size.is_multiple_of(PIECE) {
                let i = size / PIECE;
                let mut piece = self.logical_piece(of, i)?;
                piece.truncate((size - i * PIECE) as usize);
                self.put_piece(of, i, &piece)?;
            }
            if let Some(stage) = &mut of.stage {
                // Drop the stage's pieces past the end: from the buffer, and from the store
                // (at most 64 per transaction) if it spilled.
                let dropped: usize = stage.buffer.split_off(&keep).values().map(Vec::len).sum();
                stage.buffered -= dropped;
                self.staged_ram = self.staged_ram.saturating_sub(dropped);
                let content = stage.content;
                let mut i = keep;
                while stage.spilled && i < stage.extent {
                    let to = stage.extent.min(i + 64);
                    self.tx(|_, tx| {
                        for j in i..to {
                            tx.delete(Db::Userspace, keys::piece(content, j as u32));
                        }
                        Ok(())
                    })?;
                    i = to;
                }
                stage.extent = stage.extent.min(keep);
                stage.sequential = false;
            }
            of.base_valid = of.base_valid.min(size);
        } else if let Some(stage) = &mut of.stage {
            stage.sequential = false;
        }
        of.size = size;
        self.charge_stage(of);
        Ok(())
    }
}
