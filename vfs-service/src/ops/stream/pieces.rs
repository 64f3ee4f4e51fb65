//! Pieces of a handle's file: ciphers, reading a stored piece, the logical piece a handle
//! sees (stage over base, verified as it goes), writing into the stage.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{FileCipher, Hasher};
use crate::error::VfsError;
use crate::inode::{EncInfo, Inode, keys};
use crate::protocol::limits::PIECE_SIZE;
use crate::protocol::messages::FileKey;
use crate::vfs::{Ctx, Vfs};
use storage_backend::Sha256Hasher as _;
use storage_backend::{BlockDevice, CryptoEngine, Db};

use super::PIECE;
use crate::handles::{OpenFile, Stage};

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// The cipher of an encrypted inode under `key`; `None` for a plain one.
    pub(crate) fn cipher_for(
        &mut self,
        inode: &Inode,
        key: Option<&FileKey>,
    ) -> Result<Option<FileCipher>, VfsError> {
        match (&inode.enc, key) {
            (None, None) => Ok(None),
            (Some(info), Some(k)) => {
                let c = FileCipher::derive(k, &info.salt, &info.bound_path);
                if c.verify_check(&mut self.cx(), &info.check)? {
                    Ok(Some(c))
                } else {
                    Err(VfsError::EncryptionError)
                }
            }
            _ => Err(VfsError::EncryptionError),
        }
    }

    pub(crate) fn new_enc(
        &mut self,
        ctx: &Ctx<'_>,
        key: &FileKey,
        bound_path: &str,
    ) -> Result<(FileCipher, EncInfo), VfsError> {
        let mut salt = [0u8; 16];
        ctx.env.random(&mut salt)?;
        let cipher = FileCipher::derive(key, &salt, bound_path);
        let info = EncInfo {
            salt,
            bound_path: String::from(bound_path),
            check: cipher.check(&mut self.cx())?,
        };
        Ok((cipher, info))
    }

    /// Reads a stored piece.
    pub(crate) fn stored_piece(
        &mut self,
        content: u64,
        index: u64,
    ) -> Result<Option<Vec<u8>>, VfsError> {
        let index = u32::try_from(index).map_err(|_| VfsError::InvalidArgument)?;
        self.sget(Db::Userspace, &keys::piece(content, index))
    }

    pub(crate) fn decode_piece(
        &mut self,
        cipher: Option<&FileCipher>,
        index: u64,
        stored: Vec<u8>,
    ) -> Result<Vec<u8>, VfsError> {
        match cipher {
            None => Ok(stored),
            Some(c) => c.open(&mut self.cx(), index as u32, &stored),
        }
    }

    /// Piece `i` of the file as the handle sees it, `want` bytes long.
    pub(super) fn logical_piece(&mut self, of: &mut OpenFile, i: u64) -> Result<Vec<u8>, VfsError> {
        let want = of.size.saturating_sub(i * PIECE).min(PIECE) as usize;
        let mut data = Vec::new();
        let mut found = false;
        if let Some(stage) = &of.stage
            && let Some(stored) = self.stage_piece(stage, i)?
        {
            data = self.decode_piece(stage.enc.as_ref().map(|e| &e.0), i, stored)?;
            found = true;
        }
        if !found && of.base != 0 && i * PIECE < of.base_valid {
            let stored = self
                .stored_piece(of.base, i)?
                .ok_or(VfsError::IntegrityError)?;
            if let Some((h, next)) = &mut of.verify {
                if *next == i {
                    h.update(&stored);
                    *next += 1;
                } else if *next < i {
                    of.verify = None;
                }
            }
            data = self.decode_piece(of.base_cipher.as_ref(), i, stored)?;
            data.truncate((of.base_valid - i * PIECE) as usize);
        }
        data.resize(want, 0);
        Ok(data)
    }

    /// Piece `i` of a stage as stored: from its RAM buffer, else from the store if it spilled.
    pub(super) fn stage_piece(
        &mut self,
        stage: &Stage,
        i: u64,
    ) -> Result<Option<Vec<u8>>, VfsError> {
        if let Some(stored) = stage.buffer.get(&i) {
            return Ok(Some(stored.clone()));
        }
        if stage.spilled {
            return self.stored_piece(stage.content, i);
        }
        Ok(None)
    }

    /// Writes piece `i` (plaintext) into the handle's stage buffer; spills the buffer to the
    /// store when that makes it overfull (see [`Vfs::spill`] and [`crate::vfs::WriteBuffer`]).
    pub(super) fn put_piece(
        &mut self,
        of: &mut OpenFile,
        i: u64,
        plain: &[u8],
    ) -> Result<(), VfsError> {
        let stage = of.stage.as_mut().ok_or(VfsError::StorageError)?;
        let index = u32::try_from(i).map_err(|_| VfsError::ResourceLimitExceeded)?;
        let stored = match &stage.enc {
            None => plain.to_vec(),
            Some((c, _)) => {
                stage.counter += 1;
                c.seal(&mut self.cx(), index, stage.counter, plain)?
            }
        };
        if stage.sequential && plain.len() == PIECE_SIZE && i == stage.hashed {
            stage.hasher.update(&stored);
            stage.hashed += 1;
        }
        stage.extent = stage.extent.max(i + 1);
        let len = stored.len();
        if let Some(old) = stage.buffer.insert(i, stored) {
            stage.buffered -= old.len();
            self.staged_ram = self.staged_ram.saturating_sub(old.len());
        }
        stage.buffered += len;
        self.staged_ram += len;
        if stage.buffer.len() > self.buffer.pieces || self.staged_ram > self.buffer.total_bytes {
            self.spill(stage)?;
        }
        Ok(())
    }

    /// Moves a stage's buffered pieces into the store in one transaction, under the staging
    /// record (written with the first spill) that hands them to the collector should the
    /// handle never commit. The pieces stay unreferenced by any inode until the handle's
    /// commit, so a crash after a spill changes nothing visible. On failure the buffer is kept.
    pub(super) fn spill(&mut self, stage: &mut Stage) -> Result<(), VfsError> {
        if stage.buffer.is_empty() {
            return Ok(());
        }
        self.tx(|_, tx| {
            if !stage.spilled {
                tx.put(Db::Userspace, keys::staging(stage.content), Vec::new());
            }
            for (i, stored) in &stage.buffer {
                let index = u32::try_from(*i).map_err(|_| VfsError::ResourceLimitExceeded)?;
                tx.put(
                    Db::Userspace,
                    keys::piece(stage.content, index),
                    stored.clone(),
                );
            }
            Ok(())
        })?;
        stage.spilled = true;
        self.release_buffer(stage);
        Ok(())
    }

    /// Forgets a stage's buffer (spilled or committed) and gives back its RAM.
    pub(super) fn release_buffer(&mut self, stage: &mut Stage) {
        stage.buffer.clear();
        self.staged_ram = self.staged_ram.saturating_sub(stage.buffered);
        stage.buffered = 0;
    }

    pub(super) fn ensure_stage(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
        empty: bool,
    ) -> Result<(), VfsError> {
        if of.stage.is_some() {
            return Ok(());
        }
        // No transaction: the id becomes durable with the first commit that uses it.
        let content = self.take_id();
        let enc = match &of.key {
            Some(k) => Some(self.new_enc(ctx, k, &of.bound_path)?),
            None => None,
        };
        if empty {
            of.base_valid = 0;
            of.size = 0;
        }
        // An append handle's stage starts as the base: what it adds lies past today's end.
        of.appends_from = (of.append && !empty).then_some(of.size);
        of.stage = Some(Stage {
            content,
            enc,
            counter: 0,
            sequential: of.size == 0,
            hasher: Hasher::default(),
            hashed: 0,
            extent: 0,
            buffer: alloc::collections::BTreeMap::new(),
            buffered: 0,
            spilled: false,
        });
        Ok(())
    }

    pub(super) fn decode_len(encrypted: bool, stored: usize) -> usize {
        if encrypted {
            stored.saturating_sub(crate::crypto::SEAL_OVERHEAD)
        } else {
            stored
        }
    }
}
