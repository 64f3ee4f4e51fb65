//! The handle requests: look the handle up in the table, act on its open file, put it back.

use alloc::vec::Vec;
use kernel_abi::TaskId;

use crate::error::VfsError;
use crate::protocol::limits::MAX_IO;
use crate::protocol::messages::{Handle, SeekFrom, Stat};
use crate::vfs::{Ctx, Vfs};
use storage_backend::{BlockDevice, CryptoEngine};

use crate::handles::OpenFile;

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    pub(super) fn with_handle<T>(
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
        // The handle that owns a deferred creation reads through it and commits it with its
        // own first commit; any other handle's request settles it first (`Vfs::sget`, `tx`).
        let owner = self.owns_deferred(task, handle);
        let result = self.as_owner(owner, |vfs| f(vfs, &mut of));
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
        self.with_handle(ctx, handle, |vfs, of| {
            vfs.commit_file(ctx, of)?;
            // A created file with nothing written: the creation is what there is to commit.
            vfs.settle_owned(ctx.caller.task, handle)
        })
    }

    /// Commits and releases a handle. If the commit fails the handle stays open with its
    /// writes, so the client can retry (after making room, say) or DISCARD them: a failed
    /// CLOSE never drops data on its own.
    pub fn handle_close(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<(), VfsError> {
        self.with_handle(ctx, handle, |vfs, of| {
            vfs.commit_file(ctx, of)?;
            vfs.settle_owned(ctx.caller.task, handle)
        })?;
        let of = self.handles.remove(ctx.caller.task, handle)?;
        self.drop_file(of);
        Ok(())
    }

    /// Releases a handle and drops its uncommitted writes.
    pub fn handle_discard(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<(), VfsError> {
        // The created (empty) file stays, as OPEN promised: only the writes are dropped.
        self.settle();
        let of = self.handles.remove(ctx.caller.task, handle)?;
        self.drop_file(of);
        Ok(())
    }

    /// Metadata of the file behind a handle; size and position as the handle sees them.
    pub fn handle_stat(&mut self, ctx: &Ctx<'_>, handle: Handle) -> Result<Stat, VfsError> {
        let (id, size) = self.with_handle(ctx, handle, |_, of| Ok((of.inode, of.size)))?;
        let inode = self.inode(id)?;
        let path = self.path_of(id)?;
        let mut stat = Self::stat_for(ctx, &path, &inode);
        stat.size = size;
        Ok(stat)
    }

    /// Releases every handle of the incarnation `task`, which has stopped (init's
    /// `TASK_STOPPED` notice): uncommitted writes are discarded and their space given back,
    /// and the slots count against no limit any more. Returns how many were released.
    pub fn task_stopped(&mut self, task: TaskId) -> usize {
        self.settle();
        let files = self.handles.reap_exact(task);
        let n = files.len();
        for of in files {
            self.drop_file(of);
        }
        n
    }

    /// Releases the handles of earlier incarnations of `task`.
    pub fn reap_task(&mut self, task: TaskId) {
        let files = self.handles.reap_older(task);
        if !files.is_empty() {
            self.settle();
        }
        for of in files {
            self.drop_file(of);
        }
    }
}
