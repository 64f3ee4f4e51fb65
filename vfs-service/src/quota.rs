//! Accounting, quotas and limits: the running totals kept in every directory, who owns a
//! subtree's usage, and the checks every growth passes before it is staged.

use alloc::vec::Vec;
use uuid::Uuid;

use crate::error::VfsError;
use crate::inode::{Inode, Kind, ROOT_ID, be_u64, keys};
use crate::protocol::limits::DEFAULT_QUOTA;
use crate::vfs::{Tx, Vfs};
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

    /// The user whose home holds the chain, if any.
    pub(crate) fn home_user(&self, chain: &[Inode]) -> Option<Uuid> {
        if self.home_id == 0 {
            return None;
        }
        chain
            .iter()
            .find(|n| n.parent == self.home_id && n.id != self.home_id)
            .and_then(|n| Uuid::try_parse(&n.name).ok())
    }

    /// A user's quota limit.
    pub(crate) fn quota_limit(&mut self, user: &Uuid) -> Result<u64, VfsError> {
        Ok(match self.sget(Db::Userspace, &keys::quota(user))? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
            None => DEFAULT_QUOTA,
        })
    }

    /// Checks that adding `dbytes` bytes and `dentries` entries below the chain stays within the
    /// owner's quota and the filesystem's limits.
    pub(crate) fn check_growth(
        &mut self,
        chain: &[Inode],
        dbytes: i128,
        dentries: i128,
    ) -> Result<(), VfsError> {
        if dbytes > 0 {
            if let Some(user) = self.home_user(chain)
                && let Some(home) = chain.iter().find(|n| n.parent == self.home_id)
            {
                let limit = self.quota_limit(&user)?;
                if home.usage_bytes() as i128 + dbytes > limit as i128 {
                    return Err(VfsError::QuotaExceeded);
                }
            }
            if let Some(root) = chain.last()
                && root.usage_bytes() as i128 + dbytes > self.limits.max_bytes as i128
            {
                return Err(VfsError::ResourceLimitExceeded);
            }
        }
        if dentries > 0
            && let Some(root) = chain.last()
            && root.usage_entries() as i128 + dentries > self.limits.max_entries as i128
        {
            return Err(VfsError::ResourceLimitExceeded);
        }
        Ok(())
    }

    /// The largest size a file of `size` bytes below `chain` may grow to now: the exact bound
    /// of [`Vfs::check_growth`] for the quota, the filesystem's bytes and the file size limit.
    pub(crate) fn size_allowance(&mut self, chain: &[Inode], size: u64) -> Result<u64, VfsError> {
        let mut max = self.limits.max_file_size;
        if let Some(user) = self.home_user(chain)
            && let Some(home) = chain.iter().find(|n| n.parent == self.home_id)
        {
            let used = home.usage_bytes();
            let limit = self.quota_limit(&user)?;
            max = max.min(size.saturating_add(limit.saturating_sub(used)));
        }
        if let Some(root) = chain.last() {
            let room = self.limits.max_bytes.saturating_sub(root.usage_bytes());
            max = max.min(size.saturating_add(room));
        }
        Ok(max)
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
}
