//! The streaming file API: open, read, write, seek, truncate, flush and close on handles.
//!
//! A handle reads from a committed content version (`base`, pinned against collection while the
//! handle lives). Writes go copy-on-write into a fresh staging content object that no inode
//! references, in pieces of at most [`PIECE_SIZE`] bytes, each committed on its own; flush and
//! close switch the inode to the staged content in one small transaction (inode, accounting,
//! garbage record of the old content). A crash before that leaves the old file intact and the
//! staging area to the collector. Nothing proportional to the file's size is kept in memory.

use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::TaskId;

use crate::crypto::{FileCipher, Hasher};
use crate::error::VfsError;
use crate::inode::{EncInfo, Inode, Kind, keys};
use crate::path::CanonPath;
use crate::permission::{Access, FilePermissions, default_for};
use crate::protocol::limits::{MAX_IO, PIECE_SIZE};
use crate::protocol::messages::{FileKey, Handle, OpenFlags, OpenResponse, SeekFrom, Stat};
use crate::store::{Batch, Db, Storage};
use crate::vfs::{Ctx, Found, Tx, Vfs, store_err};

const PIECE: u64 = PIECE_SIZE as u64;

fn pieces(size: u64) -> u64 {
    size.div_ceil(PIECE)
}

/// The staging area of a handle with uncommitted writes.
pub(crate) struct Stage {
    content: u64,
    enc: Option<(FileCipher, EncInfo)>,
    counter: u64,
    /// Every piece so far was written in order from an empty file.
    sequential: bool,
    hasher: Hasher,
    hashed: u64,
    /// Highest piece index + 1 ever written to the stage.
    extent: u64,
}

/// An open file.
pub(crate) struct OpenFile {
    pub task: TaskId,
    pub inode: u64,
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub pos: u64,
    pub size: u64,
    key: Option<FileKey>,
    bound_path: String,
    base: u64,
    base_size: u64,
    base_valid: u64,
    base_hash: [u8; 32],
    base_cipher: Option<FileCipher>,
    stage: Option<Stage>,
    /// Verification of a sequential read of the base: hasher and next piece.
    verify: Option<(Hasher, u64)>,
}

impl<S: Storage> Vfs<S> {
    pub(crate) fn pin(&mut self, content: u64) {
        if content != 0 {
            *self.pins.entry(content).or_insert(0) += 1;
        }
    }

    pub(crate) fn unpin(&mut self, content: u64) {
        if let Some(n) = self.pins.get_mut(&content) {
            *n -= 1;
            if *n == 0 {
                self.pins.remove(&content);
            }
        }
    }

    /// The cipher of an encrypted inode under `key`; `None` for a plain one.
    pub(crate) fn cipher_for(
        inode: &Inode,
        key: Option<&FileKey>,
    ) -> Result<Option<FileCipher>, VfsError> {
        match (&inode.enc, key) {
            (None, None) => Ok(None),
            (Some(info), Some(k)) => {
                let c = FileCipher::derive(k, &info.salt, &info.bound_path);
                if c.verify_check(&info.check) {
                    Ok(Some(c))
                } else {
                    Err(VfsError::EncryptionError)
                }
            }
            _ => Err(VfsError::EncryptionError),
        }
    }

    pub(crate) fn new_enc(
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
            check: cipher.check(),
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
        cipher: Option<&FileCipher>,
        index: u64,
        stored: Vec<u8>,
    ) -> Result<Vec<u8>, VfsError> {
        match cipher {
            None => Ok(stored),
            Some(c) => c.open(index as u32, &stored),
        }
    }

    /// Piece `i` of the file as the handle sees it, `want` bytes long.
    fn logical_piece(&mut self, of: &mut OpenFile, i: u64) -> Result<Vec<u8>, VfsError> {
        let want = of.size.saturating_sub(i * PIECE).min(PIECE) as usize;
        let mut data = Vec::new();
        let mut found = false;
        if let Some(stage) = &of.stage
            && let Some(stored) = self.stored_piece(stage.content, i)?
        {
            data = Self::decode_piece(stage.enc.as_ref().map(|e| &e.0), i, stored)?;
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
            data = Self::decode_piece(of.base_cipher.as_ref(), i, stored)?;
            data.truncate((of.base_valid - i * PIECE) as usize);
        }
        data.resize(want, 0);
        Ok(data)
    }

    /// Writes piece `i` (plaintext) into the handle's stage.
    fn put_piece(
        &mut self,
        of: &mut OpenFile,
        i: u64,
        plain: &[u8],
        batch: &mut Batch,
    ) -> Result<(), VfsError> {
        let stage = of.stage.as_mut().ok_or(VfsError::StorageError)?;
        let index = u32::try_from(i).map_err(|_| VfsError::ResourceLimitExceeded)?;
        let stored = match &stage.enc {
            None => plain.to_vec(),
            Some((c, _)) => {
                stage.counter += 1;
                c.seal(index, stage.counter, plain)?
            }
        };
        if stage.sequential && plain.len() == PIECE_SIZE && i == stage.hashed {
            stage.hasher.update(&stored);
            stage.hashed += 1;
        }
        stage.extent = stage.extent.max(i + 1);
        batch.put(Db::Userspace, keys::piece(stage.content, index), stored);
        Ok(())
    }

    fn ensure_stage(
        &mut self,
        ctx: &Ctx<'_>,
        of: &mut OpenFile,
        empty: bool,
    ) -> Result<(), VfsError> {
        if of.stage.is_some() {
            return Ok(());
        }
        let mut tx = Tx::default();
        let content = self.alloc_id(&mut tx);
        tx.batch
            .put(Db::Userspace, keys::staging(content), Vec::new());
        self.commit(tx)?;
        let enc = match &of.key {
            Some(k) => Some(Self::new_enc(ctx, k, &of.bound_path)?),
            None => None,
        };
        if empty {
            of.base_valid = 0;
            of.size = 0;
        }
        of.stage = Some(Stage {
            content,
            enc,
            counter: 0,
            sequential: of.size == 0,
            hasher: Hasher::new(),
            hashed: 0,
            extent: 0,
        });
        Ok(())
    }

    /// Opens a file for `task`.
    pub fn open(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        flags: OpenFlags,
        key: Option<FileKey>,
        perms: Option<FilePermissions>,
    ) -> Result<OpenResponse, VfsError> {
        let of = self.open_file(ctx, path, flags, key, perms)?;
        let size = of.size;
        match self.handles.insert(of) {
            Ok(handle) => Ok(OpenResponse { handle, size }),
            Err(rejected) => {
                let (e, of) = *rejected;
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
        let (found, created) = match self.resolve(ctx, &path, true) {
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
            Self::guard(ctx, &found.path)?;
        }
        if !created {
            if flags.read {
                Self::check(ctx, &inode, Access::Read)?;
            }
            if flags.write {
                Self::check(ctx, &inode, Access::Write)?;
            }
        }
        let base_cipher = if flags.truncate || created {
            None
        } else {
            Self::cipher_for(&inode, key.as_ref())?
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
            verify: Some((Hasher::new(), 0)),
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

    /// Creates an empty file (committed at once, as `open` with `create` promises).
    fn create_empty(
        &mut self,
        ctx: &Ctx<'_>,
        path: &CanonPath,
        _encrypted: bool,
        perms: Option<FilePermissions>,
    ) -> Result<Found, VfsError> {
        let (dir, name) = self.resolve_parent(ctx, path)?;
        let full = dir.path.child(&name);
        Self::guard(ctx, &full)?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        if self.child(dir.inode.id, &name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        let mut tx = Tx::default();
        let perms = perms.unwrap_or_else(|| default_for(&ctx.caller, false));
        let inode = self.new_inode(
            ctx,
            &mut tx,
            dir.inode.id,
            &name,
            Kind::File { content: 0 },
            perms,
        );
        self.link_new(ctx, &mut tx, inode.clone())?;
        self.commit(tx)?;
        Ok(Found { path: full, inode })
    }

    /// Releases an open file without committing (staging goes to the collector).
    pub(crate) fn drop_file(&mut self, mut of: OpenFile) {
        self.unpin(of.base);
        if let Some(stage) = of.stage.take() {
            let mut tx = Tx::default();
            crate::ops::gc::discard(&mut tx, stage.content, 0);
            tx.batch.delete(Db::Userspace, keys::staging(stage.content));
            // Best effort: if this fails the staging record makes the next boot collect it.
            let _ = self.commit(tx);
        }
    }

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
            let digest = h.clone().finish();
            of.verify = None;
            if digest != of.base_hash {
                return Err(VfsError::IntegrityError);
            }
        }
        of.pos = end;
        Ok(out)
    }

    /// Checks that growing the file to `new_size` fits the quota and limits.
    fn check_size(&mut self, of: &OpenFile, new_size: u64) -> Result<(), VfsError> {
        if new_size > self.limits.max_file_size {
            return Err(VfsError::ResourceLimitExceeded);
        }
        let inode = self.inode(of.inode)?;
        let delta = new_size as i128 - inode.size as i128;
        if delta > 0 {
            let tx = Tx::default();
            let chain = self.chain(&tx, inode.parent)?;
            self.check_growth(&chain, delta, 0)?;
        }
        Ok(())
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
        if of.append {
            of.pos = of.size;
        }
        let end = of
            .pos
            .checked_add(data.len() as u64)
            .ok_or(VfsError::InvalidArgument)?;
        let new_size = of.size.max(end);
        self.check_size(of, new_size)?;
        self.ensure_stage(ctx, of, false)?;
        if let Some(stage) = &mut of.stage
            && of.pos != of.size
        {
            stage.sequential = false;
        }
        let old_size = of.size;
        let mut batch = Batch::new();
        let mut pos = of.pos;
        let mut src = data;
        while !src.is_empty() {
            let i = pos / PIECE;
            of.size = old_size; // logical view before this write, for the read-modify-write
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
            self.put_piece(of, i, &piece, &mut batch)?;
            pos += n as u64;
            src = &src[n..];
            if batch.changes.len() >= 16 {
                self.store
                    .commit(core::mem::take(&mut batch))
                    .map_err(store_err)?;
            }
        }
        self.store.commit(batch).map_err(store_err)?;
        of.size = new_size;
        of.pos = end;
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
        self.check_size(of, size)?;
        if size == 0 && of.stage.is_none() {
            self.ensure_stage(ctx, of, true)?;
            return Ok(());
        }
        self.ensure_stage(ctx, of, false)?;
        if size < of.size {
            let mut batch = Batch::new();
            let keep = pieces(size);
            if !size.is_multiple_of(PIECE) {
                let i = size / PIECE;
                let mut piece = self.logical_piece(of, i)?;
                piece.truncate((size - i * PIECE) as usize);
                self.put_piece(of, i, &piece, &mut batch)?;
            }
            if let Some(stage) = &mut of.stage {
                for i in keep..stage.extent {
                    batch.delete(Db::Userspace, keys::piece(stage.content, i as u32));
                    if batch.changes.len() >= 64 {
                        self.store
                            .commit(core::mem::take(&mut batch))
                            .map_err(store_err)?;
                    }
                }
                stage.extent = stage.extent.min(keep);
                stage.sequential = false;
            }
            self.store.commit(batch).map_err(store_err)?;
            of.base_valid = of.base_valid.min(size);
        } else if let Some(stage) = &mut of.stage {
            stage.sequential = false;
        }
        of.size = size;
        Ok(())
    }

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

    fn finish_stage(
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
            stage.hasher = Hasher::new();
            let mut batch = Batch::new();
            let view_stage = core::mem::replace(
                stage,
                Stage {
                    content: stage.content,
                    enc: stage.enc.clone(),
                    counter: stage.counter,
                    sequential: false,
                    hasher: Hasher::new(),
                    hashed: 0,
                    extent: stage.extent,
                },
            );
            of.stage = Some(view_stage);
            for i in 0..n {
                let want = of.size.saturating_sub(i * PIECE).min(PIECE) as usize;
                let staged = self.stored_piece(stage.content, i)?;
                let stored = match staged {
                    Some(s) if Self::decode_len(stage.enc.is_some(), s.len()) == want => s,
                    _ => {
                        let plain = self.logical_piece(of, i)?;
                        let stored = match &stage.enc {
                            None => plain,
                            Some((c, _)) => {
                                stage.counter += 1;
                                c.seal(i as u32, stage.counter, &plain)?
                            }
                        };
                        batch.put(
                            Db::Userspace,
                            keys::piece(stage.content, i as u32),
                            stored.clone(),
                        );
                        stored
                    }
                };
                stage.hasher.update(&stored);
                if batch.changes.len() >= 16 {
                    self.store
                        .commit(core::mem::take(&mut batch))
                        .map_err(store_err)?;
                }
            }
            self.store.commit(batch).map_err(store_err)?;
            if let Some(v) = of.stage.take() {
                stage.counter = stage.counter.max(v.counter);
            }
            stage.hashed = n;
        }
        let digest = core::mem::take(&mut stage.hasher).finish();
        let mut tx = Tx::default();
        let mut inode = self.inode(of.inode)?;
        let old = match inode.kind {
            Kind::File { content } => content,
            _ => return Err(VfsError::NotAFile),
        };
        let delta = of.size as i128 - inode.size as i128;
        self.grow(&mut tx, inode.parent, delta, 0)?;
        inode.kind = Kind::File {
            content: stage.content,
        };
        inode.size = of.size;
        inode.sha256 = digest;
        inode.enc = stage.enc.as_ref().map(|e| e.1.clone());
        inode.modified_ns = ctx.env.now_ns();
        tx.put_inode(inode);
        if old != 0 {
            crate::ops::gc::discard(&mut tx, old, 0);
        }
        tx.batch.delete(Db::Userspace, keys::staging(stage.content));
        self.commit(tx)?;
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

    fn decode_len(encrypted: bool, stored: usize) -> usize {
        if encrypted {
            stored.saturating_sub(crate::crypto::SEAL_OVERHEAD)
        } else {
            stored
        }
    }

    // ---- handle requests ----------------------------------------------------------------

    fn with_handle<T>(
        &mut self,
        ctx: &Ctx<'_>,
        handle: Handle,
        f: impl FnOnce(&mut Self, &mut OpenFile) -> Result<T, VfsError>,
    ) -> Result<T, VfsError> {
        // Take the file out of the table while working on it, then put it back.
        let task = ctx.caller.task;
        let mut of = {
            let slot = self.handles.get_mut(task, handle)?;
            core::mem::replace(slot, OpenFile::placeholder(task))
        };
        let result = f(self, &mut of);
        if let Ok(slot) = self.handles.get_mut(task, handle) {
            *slot = of;
        }
        result
    }

    /// Reads through a handle.
    pub fn handle_read(
        &mut self,
        ctx: &Ctx<'_>,
        handle: Handle,
        len: u32,
    ) -> Result<Vec<u8>, VfsError> {
        if len as usize > MAX_IO {
            return Err(VfsError::InvalidArgument);
        }
        self.with_handle(ctx, handle, |vfs, of| vfs.file_read(of, len))
    }

    /// Writes through a handle.
    pub fn handle_write(
        &mut self,
        ctx: &Ctx<'_>,
        handle: Handle,
        data: &[u8],
    ) -> Result<u32, VfsError> {
        if data.len() > MAX_IO {
            return Err(VfsError::InvalidArgument);
        }
        self.with_handle(ctx, handle, |vfs, of| vfs.file_write(ctx, of, data))
    }

    /// Seeks a handle.
    pub fn handle_seek(
        &mut self,
        ctx: &Ctx<'_>,
        handle: Handle,
        from: SeekFrom,
    ) -> Result<u64, VfsError> {
        self.with_handle(ctx, handle, |_, of| Self::file_seek(of, from))
    }

    /// Truncates through a handle.
    pub fn handle_truncate(
        &mut self,
        ctx: &Ctx<'_>,
        handle: Handle,
        size: u64,
    ) -> Result<(), VfsError> {
        self.with_handle(ctx, handle, |vfs, of| vfs.file_truncate(ctx, of, size))
    }

    /// Commits a handle's writes.
    pub fn handle_flush(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<(), VfsError> {
        self.with_handle(ctx, handle, |vfs, of| vfs.commit_file(ctx, of))
    }

    /// Commits and releases a handle. The handle is released even if the commit fails.
    pub fn handle_close(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<(), VfsError> {
        let mut of = self.handles.remove(ctx.caller.task, handle)?;
        let result = self.commit_file(ctx, &mut of);
        self.drop_file(of);
        result
    }

    /// Releases a handle and drops its uncommitted writes.
    pub fn handle_discard(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<(), VfsError> {
        let of = self.handles.remove(ctx.caller.task, handle)?;
        self.drop_file(of);
        Ok(())
    }

    /// Metadata of the file behind a handle; size and position as the handle sees them.
    pub fn handle_stat(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<Stat, VfsError> {
        let (id, size) = self.with_handle(ctx, handle, |_, of| Ok((of.inode, of.size)))?;
        let inode = self.inode(id)?;
        let path = self.path_of(id)?;
        let mut stat = Self::stat_of(&path, &inode);
        stat.size = size;
        Ok(stat)
    }

    /// Releases the handles of earlier incarnations of `task`.
    pub fn reap_task(&mut self, task: TaskId) {
        for of in self.handles.reap_older(task) {
            self.drop_file(of);
        }
    }
}

impl OpenFile {
    fn placeholder(task: TaskId) -> Self {
        Self {
            task,
            inode: 0,
            read: false,
            write: false,
            append: false,
            pos: 0,
            size: 0,
            key: None,
            bound_path: String::new(),
            base: 0,
            base_size: 0,
            base_valid: 0,
            base_hash: [0; 32],
            base_cipher: None,
            stage: None,
            verify: None,
        }
    }
}
