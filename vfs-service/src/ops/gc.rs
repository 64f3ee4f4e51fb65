//! Collection of content that no inode references any more.
//!
//! Dropping content (unlink, overwrite, truncation) only writes a garbage record in the same
//! transaction as the inode change, so the change stays small and atomic whatever the file's
//! size. The collector then deletes pieces in bounded batches between requests and at boot,
//! skipping content that an open handle still reads.

use alloc::vec::Vec;

use crate::error::VfsError;
use crate::inode::{be_u32, be_u64, keys};
use crate::vfs::{Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db};

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Deletes up to `budget` garbage pieces; returns whether garbage remains.
    pub fn collect_garbage(&mut self, budget: usize) -> Result<bool, VfsError> {
        let mut left = budget;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let recs = self
                .store
                .scan(Db::Userspace, &[keys::GARBAGE], after.as_deref(), 16)
                .map_err(store_err)?;
            if recs.is_empty() {
                return Ok(false);
            }
            for (key, value) in recs {
                after = Some(key.clone());
                let Some(content) = key.get(1..).and_then(be_u64) else {
                    continue;
                };
                if self.pins.contains_key(&content) {
                    continue;
                }
                let from = be_u32(&value).unwrap_or(0);
                if left == 0 {
                    return Ok(true);
                }
                let start = (from > 0).then(|| keys::piece(content, from - 1));
                let pieces = self
                    .store
                    .scan(
                        Db::Userspace,
                        &keys::content_prefix(content),
                        start.as_deref(),
                        left,
                    )
                    .map_err(store_err)?;
                let done = pieces.len() < left;
                left -= pieces.len();
                self.tx(|_, tx| {
                    for (k, _) in pieces {
                        tx.delete(Db::Userspace, k);
                    }
                    if done {
                        tx.delete(Db::Userspace, key.clone());
                    }
                    Ok(())
                })?;
            }
        }
    }

    /// Turns the staging areas of handles that a crash left open into garbage.
    pub(crate) fn abandon_stale_staging(&mut self) -> Result<(), VfsError> {
        loop {
            let recs = self
                .store
                .scan(Db::Userspace, &[keys::STAGING], None, 64)
                .map_err(store_err)?;
            if recs.is_empty() {
                return Ok(());
            }
            self.tx(|_, tx| {
                for (key, _) in recs {
                    if let Some(content) = key.get(1..).and_then(be_u64) {
                        tx.put(
                            Db::Userspace,
                            keys::garbage(content),
                            0u32.to_be_bytes().to_vec(),
                        );
                    }
                    tx.delete(Db::Userspace, key);
                }
                Ok(())
            })?;
        }
    }
}
