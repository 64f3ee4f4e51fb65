//! The narrow storage contract the VFS is written against, and an in-memory implementation.
//!
//! The VFS needs little from a store: point reads, ordered scans under a prefix that resume
//! after a key, and atomic commits of a batch of puts and deletes across both databases. Every
//! write of the VFS goes through [`Storage::commit`]; a batch is either wholly applied or not
//! at all. The adapter to `storage-backend` lives in [`crate::backend`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Which database a key lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Db {
    /// System state: boot count, machine id, audit log. System callers only.
    Kernel,
    /// The filesystem: inodes, directory entries, content, quotas.
    Userspace,
}

/// Why a store operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store's object or byte limit would be exceeded; nothing was written.
    LimitExceeded,
    /// Stored data failed its integrity check.
    Integrity,
    /// The device or store failed otherwise.
    Io,
}

/// A key and its value, as scans return them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One change in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Database.
    pub db: Db,
    /// Key.
    pub key: Vec<u8>,
    /// New value, or `None` to delete.
    pub value: Option<Vec<u8>>,
}

/// An atomic set of changes; later changes to a key win.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The changes in order.
    pub changes: Vec<Change>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, db: Db, key: Vec<u8>, value: Vec<u8>) {
        self.changes.push(Change {
            db,
            key,
            value: Some(value),
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, db: Db, key: Vec<u8>) {
        self.changes.push(Change {
            db,
            key,
            value: None,
        });
    }

    /// Whether the batch holds no changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The latest pending value of a key: `Some(None)` if deleted, `None` if untouched.
    pub fn pending(&self, db: Db, key: &[u8]) -> Option<Option<&[u8]>> {
        self.changes
            .iter()
            .rev()
            .find(|c| c.db == db && c.key == key)
            .map(|c| c.value.as_deref())
    }
}

/// A key-value store with two databases and atomic batches.
pub trait Storage {
    /// Reads one key.
    fn get(&mut self, db: Db, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries whose keys start with `prefix`, in key order, strictly after
    /// `after` when given.
    fn scan(
        &mut self,
        db: Db,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// Applies a batch atomically.
    fn commit(&mut self, batch: Batch) -> Result<(), StoreError>;
}

/// A store in RAM with optional limits, for tests, benchmarks and diskless boards.
#[derive(Debug, Default)]
pub struct MemStore {
    kernel: BTreeMap<Vec<u8>, Vec<u8>>,
    user: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Largest number of keys across both databases (`None`: unlimited).
    pub max_objects: Option<usize>,
    /// Largest sum of key and value bytes (`None`: unlimited).
    pub max_bytes: Option<usize>,
    bytes: usize,
}

impl MemStore {
    /// An empty, unlimited store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self, db: Db) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        match db {
            Db::Kernel => &self.kernel,
            Db::Userspace => &self.user,
        }
    }

    /// Number of keys held.
    pub fn objects(&self) -> usize {
        self.kernel.len() + self.user.len()
    }
}

impl Storage for MemStore {
    fn get(&mut self, db: Db, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map(db).get(key).cloned())
    }

    fn scan(
        &mut self,
        db: Db,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        use core::ops::Bound;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        Ok(self
            .map(db)
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        // Work out the effect first so that a limit failure changes nothing.
        let mut objects = self.objects() as isize;
        let mut bytes = self.bytes as isize;
        let mut seen: BTreeMap<(Db, &[u8]), Option<usize>> = BTreeMap::new();
        for c in &batch.changes {
            let before = match seen.get(&(c.db, c.key.as_slice())) {
                Some(v) => *v,
                None => self.map(c.db).get(&c.key).map(|v| v.len()),
            };
            let after = c.value.as_ref().map(|v| v.len());
            let klen = c.key.len() as isize;
            match (before, after) {
                (None, Some(a)) => {
                    objects += 1;
                    bytes += klen + a as isize;
                }
                (Some(b), None) => {
                    objects -= 1;
                    bytes -= klen + b as isize;
                }
                (Some(b), Some(a)) => bytes += a as isize - b as isize,
                (None, None) => {}
            }
            seen.insert((c.db, c.key.as_slice()), after);
        }
        if self.max_objects.is_some_and(|m| objects > m as isize)
            || self.max_bytes.is_some_and(|m| bytes > m as isize)
        {
            return Err(StoreError::LimitExceeded);
        }
        for c in batch.changes {
            let map = match c.db {
                Db::Kernel => &mut self.kernel,
                Db::Userspace => &mut self.user,
            };
            match c.value {
                Some(v) => {
                    map.insert(c.key, v);
                }
                None => {
                    map.remove(&c.key);
                }
            }
        }
        self.bytes = bytes.max(0) as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_resume_after_a_key_and_limits_refuse_whole_batches() {
        let mut s = MemStore::new();
        let mut b = Batch::new();
        for k in [b"a1", b"a2", b"a3", b"b1"] {
            b.put(Db::Userspace, k.to_vec(), b"v".to_vec());
        }
        s.commit(b).unwrap();
        let page = s.scan(Db::Userspace, b"a", Some(b"a1"), 10).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(s.scan(Db::Kernel, b"a", None, 10).unwrap().len(), 0);
        s.max_objects = Some(5);
        let mut b = Batch::new();
        b.put(Db::Userspace, b"c1".to_vec(), b"v".to_vec());
        b.put(Db::Userspace, b"c2".to_vec(), b"v".to_vec());
        assert_eq!(s.commit(b), Err(StoreError::LimitExceeded));
        assert_eq!(s.get(Db::Userspace, b"c1").unwrap(), None);
    }
}
