//! Operations that change both databases — an administrative change and its audit entry,
//! CREATE_HOME's home and its registration, boot's count and `machine.json` — made atomic.
//!
//! The store commits each database on its own, so such an operation is two commits, kernel
//! database first. In between a power cut or a refused userspace commit (a full medium, a
//! limit) would leave the kernel part — an audit entry for a change that never happened, a
//! registered user without a home — so the kernel commit carries an **undo record**: the
//! values its keys had before (absent ones as absent), under a number `id`. The userspace
//! commit carries the same `id` as its **done marker**. Then:
//!
//! * userspace commit refused: the undo record is applied at once (one kernel transaction that
//!   restores the old values and deletes the record), and the client gets the error with
//!   nothing changed. If that transaction fails too (a dead device), every later commit first
//!   retries it and fails while it cannot, so nothing builds on the half-done operation;
//! * power cut between the commits: at the next boot, before anything else is written, an undo
//!   record whose `id` is above the done marker is applied ([`Vfs::repair_cross_db`]); a
//!   tool that attaches without booting (`zvfs`) writes nothing on its own but takes it back
//!   before its first commit ([`Vfs::load_cross_db`]);
//! * both landed: the undo record stays until the next such operation replaces it (boot
//!   compares the numbers), so a successful operation costs no third commit.
//!
//! The undo record holds only kernel-database values (a few hundred bytes: audit sequence,
//! quota or user records); it is bounded by the store's value limit, and an operation whose
//! undo record would not fit is refused before anything is written. Format: FORMAT.md,
//! "Operations on both databases".

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::error::VfsError;
use crate::inode::{be_u64, keys};
use crate::vfs::{Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db, MAX_VALUE};

/// The kernel database's record of how to take back the kernel part of operation `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Undo {
    /// The operation's number; its userspace commit stores it as the done marker.
    pub id: u64,
    /// Every kernel key the operation writes, with the value it had before (`None`: absent).
    pub before: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// The undo record of an operation about to write `kernel_keys`, numbered after every
    /// operation before it, and its encoding (checked against the store's value limit).
    pub(crate) fn prepare_undo<'k>(
        &mut self,
        kernel_keys: impl Iterator<Item = &'k [u8]>,
    ) -> Result<(Undo, Vec<u8>), VfsError> {
        let mut before = Vec::new();
        for key in kernel_keys {
            before.push((key.to_vec(), self.sget(Db::Kernel, key)?));
        }
        let undo = Undo {
            id: self.cross_db_next,
            before,
        };
        let bytes = postcard::to_allocvec(&undo).map_err(|_| VfsError::StorageError)?;
        if bytes.len() > MAX_VALUE {
            return Err(VfsError::ResourceLimitExceeded);
        }
        self.cross_db_next += 1;
        Ok((undo, bytes))
    }

    /// Takes back the kernel part of `undo` in one kernel transaction (deletes first, so it
    /// commits on a full store). On failure the undo is kept and retried before the next
    /// commit ([`Vfs::finish_pending_undo`]).
    pub(crate) fn roll_back(&mut self, undo: Undo) -> Result<(), VfsError> {
        match self.apply_undo(&undo) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.pending_undo = Some(undo);
                Err(e)
            }
        }
    }

    /// Retries a roll-back that failed; every commit calls it first.
    pub(crate) fn finish_pending_undo(&mut self) -> Result<(), VfsError> {
        match self.pending_undo.take() {
            Some(undo) => self.roll_back(undo),
            None => Ok(()),
        }
    }

    fn apply_undo(&mut self, undo: &Undo) -> Result<(), VfsError> {
        let mut txn = self.store.begin(Db::Kernel).map_err(store_err)?;
        for (key, old) in &undo.before {
            if old.is_none() {
                txn.delete(key).map_err(store_err)?;
            }
        }
        txn.delete(keys::CROSS_DB_UNDO).map_err(store_err)?;
        for (key, old) in &undo.before {
            if let Some(v) = old {
                txn.put(key, v).map_err(store_err)?;
            }
        }
        txn.commit().map_err(store_err)
    }

    /// Reads the state of the last operation on both databases (no write): numbers the next
    /// one after every one recorded and, if the last one's userspace part never landed (a
    /// power cut between its two commits), keeps its undo pending, so the first commit takes
    /// it back before anything builds on it. [`Vfs::attach`] calls this.
    pub(crate) fn load_cross_db(&mut self) -> Result<(), VfsError> {
        let done = match self.sget(Db::Userspace, keys::CROSS_DB_DONE)? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
            None => 0,
        };
        let Some(bytes) = self.sget(Db::Kernel, keys::CROSS_DB_UNDO)? else {
            self.cross_db_next = done + 1;
            return Ok(());
        };
        let undo: Undo = postcard::from_bytes(&bytes).map_err(|_| VfsError::IntegrityError)?;
        self.cross_db_next = undo.id.max(done) + 1;
        if undo.id > done {
            self.pending_undo = Some(undo);
        }
        Ok(())
    }

    /// Boot's repair: [`Vfs::load_cross_db`], then the pending undo (if any) written at once.
    /// Returns whether an operation was taken back.
    pub fn repair_cross_db(&mut self) -> Result<bool, VfsError> {
        self.load_cross_db()?;
        let pending = self.pending_undo.is_some();
        self.finish_pending_undo()?;
        Ok(pending)
    }
}
