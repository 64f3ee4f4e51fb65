//! Deferred creation: OPEN with `create` of a new file commits nothing by itself.
//!
//! The creation (inode, directory entry, the ancestors' totals, the id counter) is staged in a
//! [`Deferred`] transaction held by the VFS, owned by the handle OPEN returns. It is committed
//! *with* that handle's first commit (a spill of its buffer, FLUSH or CLOSE), so a small file
//! written through a handle costs one store commit in all; or *before* anything else touches
//! the store: any other request's read or commit settles it first ([`Vfs::settle`], called from
//! `Vfs::sget` and `Vfs::tx`). So every other client sees the new file from the moment OPEN
//! answered, exactly as if OPEN had committed it; only durability moves: a crash before the
//! handle's first commit (and before any other request) loses the empty file, as if the OPEN
//! had not happened. The owner's own requests read through the deferred changes.
//!
//! At most one creation is deferred at a time: the next OPEN resolves a path, which is a read
//! and settles the previous one. A settle that fails (a full store) drops the creation; the
//! owner's commit then finds no file (`NotFound`) and its writes stay on the handle.

use kernel_abi::TaskId;

use crate::error::VfsError;
use crate::protocol::messages::Handle;
use crate::vfs::{Tx, Vfs};
use storage_backend::{BlockDevice, CryptoEngine};

/// A creation staged but not committed, and the handle it belongs to.
pub struct Deferred {
    /// The creation's changes.
    pub(crate) tx: Tx,
    /// The handle whose commit carries it (`None` while OPEN has not inserted it yet).
    pub(crate) owner: Option<(TaskId, Handle)>,
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Commits a deferred creation now, on its own. A failure drops it (see the module docs).
    pub(crate) fn settle(&mut self) {
        if let Some(d) = self.deferred.take() {
            let owner = core::mem::replace(&mut self.owner_ctx, false);
            let _dropped = self.tx(|_, tx| {
                *tx = d.tx;
                Ok(())
            });
            self.owner_ctx = owner;
            self.acct.pending = None;
        }
    }

    /// Forgets a deferred creation without committing it (a refused OPEN).
    pub(crate) fn drop_deferred(&mut self) {
        self.deferred = None;
        self.acct.pending = None;
    }

    /// Whether the deferred creation belongs to `handle` of `task`.
    pub(crate) fn owns_deferred(&self, task: TaskId, handle: Handle) -> bool {
        self.deferred
            .as_ref()
            .is_some_and(|d| d.owner == Some((task, handle)))
    }

    /// Runs `f` acting for the deferred creation's owner when `owner` holds, restoring the
    /// previous mode afterwards whatever `f` returns.
    pub(crate) fn as_owner<T>(
        &mut self,
        owner: bool,
        f: impl FnOnce(&mut Self) -> Result<T, VfsError>,
    ) -> Result<T, VfsError> {
        let before = core::mem::replace(&mut self.owner_ctx, owner);
        let r = f(self);
        self.owner_ctx = before;
        r
    }

    /// Commits the deferred creation of `handle` (its FLUSH or CLOSE had nothing else to
    /// commit); an error is returned, and the creation stays deferred.
    pub(crate) fn settle_owned(&mut self, task: TaskId, handle: Handle) -> Result<(), VfsError> {
        if !self.owns_deferred(task, handle) {
            return Ok(());
        }
        self.as_owner(true, |vfs| vfs.tx(|_, _| Ok(())))
    }
}
