//! [`Storage`] over `storage-backend`'s [`Store`]: the two databases on one block device.
//!
//! A [`Batch`] becomes one transaction per database it touches, the kernel database's first.
//! Each transaction is atomic and durable; a batch that touches both databases (an
//! administrative operation and its audit entry) is therefore atomic per database: a crash
//! between the two commits can leave an audit entry for an operation that did not happen, never
//! the reverse.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use storage_backend::{BlockDevice, CryptoEngine, Store};

use crate::store::{Batch, Change, Db, Entry, Storage, StoreError};

/// The VFS's storage on a `storage-backend` store.
pub struct BackendStore<D: BlockDevice, E: CryptoEngine> {
    store: Store<D, E>,
}

impl<D: BlockDevice, E: CryptoEngine> BackendStore<D, E> {
    /// Wraps a mounted (or freshly formatted) store.
    pub fn new(store: Store<D, E>) -> Self {
        Self { store }
    }

    /// The store, e.g. to sync or check it.
    pub fn store_mut(&mut self) -> &mut Store<D, E> {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_inner(self) -> Store<D, E> {
        self.store
    }
}

fn db(d: Db) -> storage_backend::Db {
    match d {
        Db::Kernel => storage_backend::Db::Kernel,
        Db::Userspace => storage_backend::Db::Userspace,
    }
}

fn err(e: storage_backend::StoreError) -> StoreError {
    use storage_backend::StoreError as S;
    match e {
        S::ResourceLimitExceeded(_) | S::NoSpace => StoreError::LimitExceeded,
        S::Integrity(_) => StoreError::Integrity,
        _ => StoreError::Io,
    }
}

impl<D: BlockDevice, E: CryptoEngine> Storage for BackendStore<D, E> {
    fn get(&mut self, d: Db, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(db(d), key).map_err(err)
    }

    fn scan(
        &mut self,
        d: Db,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.store.scan(db(d), prefix, after, limit).map_err(err)
    }

    fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        // Only the last change of each key counts: drop the earlier ones.
        let mut seen = BTreeSet::new();
        let mut last: Vec<&Change> = Vec::with_capacity(batch.changes.len());
        for c in batch.changes.iter().rev() {
            if seen.insert((c.db, c.key.as_slice())) {
                last.push(c);
            }
        }
        last.reverse();
        for which in [Db::Kernel, Db::Userspace] {
            let mut changes = last.iter().filter(|c| c.db == which).peekable();
            if changes.peek().is_none() {
                continue;
            }
            let mut txn = self.store.begin(db(which)).map_err(err)?;
            for c in changes {
                match &c.value {
                    Some(v) => txn.put(&c.key, v).map_err(err)?,
                    None => txn.delete(&c.key).map_err(err)?,
                }
            }
            txn.commit().map_err(err)?;
        }
        Ok(())
    }
}
