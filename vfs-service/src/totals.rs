//! The tree's running totals: bytes and entries kept in every directory (GET_USAGE, the
//! overall limits), linking and unlinking entries with their accounting. Quotas by owner and
//! the filesystem's per-kind limits are [`crate::accounts`]'s.

use alloc::vec::Vec;

use crate::accounts::{Account, Holding};
use crate::error::VfsError;
use crate::inode::{Inode, Kind, ROOT_ID, keys};
use crate::permission::is_system;
use crate::vfs::{Ctx, Tx, Vfs};
use storage_backend::{BlockDevice, CryptoEngine, Db};

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// The directory `dir` and its ancestors up to the root, as `tx` would leave them.
    pub(crate) fn chain(&mut self, tx: &Tx, dir: u64) -> Result<Vec<Inode>, VfsError> {
        let mut out = Vec::new();
        let mut id = dir;
        loop {
            let node = self.tx_inode(tx, id)?;
            let parent = node.parent;
            out.push(node);
            if id == ROOT_ID {
                return Ok(out);
            }
            if out.len() > crate::protocol::limits::MAX_PATH {
                return Err(VfsError::IntegrityError);
            }
            id = parent;
        }
    }

    /// Checks that adding `dbytes` bytes and `dentries` entries below the chain stays within the
    /// tree's overall limits (`Limits::max_bytes`, `max_entries`, for every caller). Quotas and
    /// the per-kind limits with System's reserve are [`Vfs::check_charge`]'s.
    pub(crate) fn check_growth(
        &mut self,
        chain: &[Inode],
        dbytes: i128,
        dentries: i128,
    ) -> Result<(), VfsError> {
        if dbytes > 0
            && let Some(root) = chain.last()
            && root.usage_bytes() as i128 + dbytes > self.limits.max_bytes as i128
        {
            return Err(VfsError::ResourceLimitExceeded);
        }
        if dentries > 0
            && let Some(root) = chain.last()
            && root.usage_entries() as i128 + dentries > self.limits.max_entries as i128
        {
            return Err(VfsError::ResourceLimitExceeded);
        }
        Ok(())
    }

    /// Adds the deltas to every directory of the chain and stages them in `tx`.
    pub(crate) fn apply_growth(tx: &mut Tx, chain: Vec<Inode>, dbytes: i128, dentries: i128) {
        for mut node in chain {
            if let Kind::Dir {
                tree_bytes,
                tree_entries,
            } = &mut node.kind
            {
                *tree_bytes = (*tree_bytes as i128 + dbytes).max(0) as u64;
                *tree_entries = (*tree_entries as i128 + dentries).max(0) as u64;
            }
            tx.put_inode(node);
        }
    }

    /// Checks and applies growth below `dir` in one step.
    pub(crate) fn grow(
        &mut self,
        tx: &mut Tx,
        dir: u64,
        dbytes: i128,
        dentries: i128,
    ) -> Result<(), VfsError> {
        let chain = self.chain(tx, dir)?;
        self.check_growth(&chain, dbytes, dentries)?;
        Self::apply_growth(tx, chain, dbytes, dentries);
        Ok(())
    }

    /// Links a new inode into its parent directory, with accounting and quota checks.
    pub(crate) fn link_new(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        inode: Inode,
    ) -> Result<(), VfsError> {
        let parent = inode.parent;
        let chain = self.chain(tx, parent)?;
        // The parent's chain holds the root and every ancestor: its length is the new entry's
        // depth. Checked on the real tree, so a path shortened by symlinks gains nothing.
        if chain.len() > crate::protocol::limits::MAX_DEPTH {
            return Err(VfsError::InvalidPath);
        }
        let (bytes, entries) = (inode.usage_bytes() as i128, inode.usage_entries() as i128);
        self.check_growth(&chain, bytes, entries)?;
        // An application without a user creates only what belongs to the applications (world-
        // writable): an owner-less entry without world-write is System's, which it may neither
        // remove again (sticky directories) nor have charged to System instead of its quota.
        let account = Account::of(&inode);
        if account == Account::System && ctx.caller.user.is_none() && !is_system(&ctx.caller) {
            return Err(VfsError::PermissionDenied);
        }
        // The owner's quota and the filesystem limits, whatever directory this is in.
        self.check_charge(&ctx.caller, account, Holding::of(&inode), 0)?;
        Self::apply_growth(tx, chain, bytes, entries);
        let mut dir = self.tx_inode(tx, parent)?;
        dir.modified_ns = ctx.env.now_ns();
        tx.put_inode(dir);
        tx.put(
            Db::Userspace,
            keys::dirent(parent, &inode.name),
            inode.id.to_be_bytes().to_vec(),
        );
        tx.put_inode(inode);
        Ok(())
    }

    /// Takes `inode` out of its parent: the ancestors' totals, the parent's modification time,
    /// the directory entry and the inode record. What it held is the caller's to hand on.
    pub(crate) fn take_out_of_parent(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        inode: &Inode,
    ) -> Result<(), VfsError> {
        let chain = self.chain(tx, inode.parent)?;
        Self::apply_growth(
            tx,
            chain,
            -(inode.usage_bytes() as i128),
            -(inode.usage_entries() as i128),
        );
        let mut dir = self.tx_inode(tx, inode.parent)?;
        dir.modified_ns = ctx.env.now_ns();
        tx.put_inode(dir);
        tx.delete(Db::Userspace, keys::dirent(inode.parent, &inode.name));
        tx.inodes.remove(&inode.id);
        tx.delete(Db::Userspace, keys::inode(inode.id));
        Ok(())
    }

    /// Removes an entry from its parent (the inode record too), with accounting. Content is
    /// handed to the collector.
    pub(crate) fn unlink_entry(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        inode: &Inode,
    ) -> Result<(), VfsError> {
        self.take_out_of_parent(ctx, tx, inode)?;
        if let Kind::File { content } = inode.kind
            && content != 0
        {
            tx.discard(content, 0);
        }
        Ok(())
    }
}
