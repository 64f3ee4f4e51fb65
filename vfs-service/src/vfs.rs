//! The filesystem core: the [`Vfs`] state, transactions over the store, path resolution and the
//! accounting shared by all operations. The operations themselves live in [`crate::ops`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::{Credentials, ProcessClass, TaskId};
use uuid::Uuid;

use crate::error::VfsError;
use crate::handles::HandleTable;
use crate::inode::{Inode, Kind, ROOT_ID, be_u64, keys};
use crate::path::CanonPath;
use crate::protocol::limits::DEFAULT_QUOTA;
use storage_backend::{BlockDevice, CryptoEngine, Db, Store, StoreError};

/// Time and entropy, from the kernel.
pub trait Env {
    /// Wall clock, nanoseconds since the epoch.
    fn now_ns(&self) -> u64;
    /// Fills `out` with random bytes.
    fn random(&self, out: &mut [u8]) -> Result<(), VfsError>;
}

/// Who is asking, and the environment to ask it in.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The caller's kernel-stamped credentials.
    pub caller: Credentials,
    /// Clock and entropy.
    pub env: &'a dyn Env,
}

impl<'a> Ctx<'a> {
    /// The service acting on its own behalf (boot, home creation).
    pub fn service(env: &'a dyn Env) -> Self {
        Self {
            caller: Credentials {
                task: TaskId {
                    index: 0,
                    generation: 0,
                },
                user: None,
                class: ProcessClass::System,
            },
            env,
        }
    }
}

/// Resource limits of the filesystem as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files, directories, symlinks) the filesystem holds.
    pub max_entries: u64,
    /// Most bytes of file content it holds.
    pub max_bytes: u64,
    /// Largest single file.
    pub max_file_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 1 << 24,
            max_bytes: 1 << 40,
            max_file_size: 1 << 32,
        }
    }
}

/// An entry found by path resolution.
#[derive(Clone, Debug)]
pub struct Found {
    /// Its canonical path (symlinks resolved).
    pub path: CanonPath,
    /// Its inode.
    pub inode: Inode,
}

/// Changes in the making: staged puts and deletes on both databases, plus the inodes they
/// modify. Built by the closure given to [`Vfs::tx`] and committed by it; dropped unapplied when
/// the closure fails. Later changes to a key win.
#[derive(Default)]
pub struct Tx {
    writes: BTreeMap<(Db, Vec<u8>), Option<Vec<u8>>>,
    pub(crate) inodes: BTreeMap<u64, Inode>,
}

impl Tx {
    /// Stages a put.
    pub fn put(&mut self, db: Db, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((db, key), Some(value));
    }

    /// Stages a delete.
    pub fn delete(&mut self, db: Db, key: Vec<u8>) {
        self.writes.insert((db, key), None);
    }

    /// The staged value of a key: `Some(None)` if deleted, `None` if untouched.
    pub fn pending(&self, db: Db, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(&(db, key.to_vec())).map(|v| v.as_deref())
    }

    /// Number of staged key changes (inodes not counted).
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.inodes.is_empty()
    }

    pub(crate) fn put_inode(&mut self, inode: Inode) {
        self.inodes.insert(inode.id, inode);
    }

    /// Marks pieces `from..` of `content` for collection ([`crate::ops::gc`] deletes them
    /// between requests).
    pub(crate) fn discard(&mut self, content: u64, from: u32) {
        self.put(
            Db::Userspace,
            keys::garbage(content),
            from.to_be_bytes().to_vec(),
        );
    }
}

/// The VFS service state over a `storage-backend` [`Store`] on device `D` with engine `E`.
pub struct Vfs<D: BlockDevice, E: CryptoEngine> {
    pub(crate) store: Store<D, E>,
    pub(crate) handles: HandleTable,
    /// Content ids that open handles still read: not collected while pinned.
    pub(crate) pins: BTreeMap<u64, u32>,
    pub(crate) limits: Limits,
    pub(crate) home_id: u64,
    pub(crate) boot_count: u64,
    next_id: u64,
    keys: crate::crypto::KeyCache,
    /// Counts commits through [`Vfs::commit`]: accounting read at one value is still exact.
    pub(crate) generation: u64,
    /// The number of the next operation on both databases ([`crate::crossdb`]).
    pub(crate) cross_db_next: u64,
    /// A roll-back of such an operation that could not be written yet.
    pub(crate) pending_undo: Option<crate::crossdb::Undo>,
}

/// The client-facing error for a store error. Integrity failures, a full medium, a halted
/// database and exceeded limits stay distinct; device and other failures are `StorageError`.
pub fn store_err(e: StoreError) -> VfsError {
    match e {
        StoreError::ResourceLimitExceeded(_) => VfsError::ResourceLimitExceeded,
        StoreError::NoSpace => VfsError::NoSpace,
        StoreError::Integrity(_) => VfsError::IntegrityError,
        StoreError::Halted => VfsError::Halted,
        StoreError::InvalidArgument => VfsError::InvalidArgument,
        StoreError::Device(_)
        | StoreError::Crypto(_)
        | StoreError::NotFormatted
        | StoreError::BadGeometry
        | StoreError::Unavailable(_)
        | StoreError::TxnPoisoned => VfsError::StorageError,
    }
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// A VFS over `store`; call [`Vfs::boot`] before serving.
    pub fn new(store: Store<D, E>, limits: Limits) -> Self {
        Self {
            store,
            handles: HandleTable::new(0),
            pins: BTreeMap::new(),
            limits,
            home_id: 0,
            boot_count: 0,
            next_id: 0,
            keys: crate::crypto::KeyCache::default(),
            generation: 0,
            cross_db_next: 1,
            pending_undo: None,
        }
    }

    /// The store's crypto engine, for per-file keys, and the cache of keys derived in it.
    pub(crate) fn cx(&mut self) -> crate::crypto::CryptoCx<'_, E> {
        crate::crypto::CryptoCx {
            engine: self.store.engine_mut(),
            cache: &mut self.keys,
        }
    }

    /// The store, e.g. to inspect, sync or check it.
    pub fn store_mut(&mut self) -> &mut Store<D, E> {
        &mut self.store
    }

    /// Consumes the VFS and returns its store (a "reboot" in tests). Derived file keys are
    /// dropped from the engine first.
    pub fn into_store(mut self) -> Store<D, E> {
        self.keys.release_all(self.store.engine_mut());
        self.store
    }

    /// The boot count of this run (after [`Vfs::boot`]).
    pub fn boot_count(&self) -> u64 {
        self.boot_count
    }

    // ---- store access -------------------------------------------------------------------

    pub(crate) fn sget(&mut self, db: Db, key: &[u8]) -> Result<Option<Vec<u8>>, VfsError> {
        self.store.get(db, key).map_err(store_err)
    }

    pub(crate) fn load_next_id(&mut self) -> Result<(), VfsError> {
        self.next_id = match self.sget(Db::Userspace, keys::NEXT_ID)? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
            None => ROOT_ID + 1,
        };
        Ok(())
    }

    pub(crate) fn alloc_id(&mut self, tx: &mut Tx) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        tx.put(
            Db::Userspace,
            keys::NEXT_ID.to_vec(),
            self.next_id.to_be_bytes().to_vec(),
        );
        id
    }

    /// Reads an inode as the store holds it.
    pub(crate) fn inode(&mut self, id: u64) -> Result<Inode, VfsError> {
        let bytes = self
            .sget(Db::Userspace, &keys::inode(id))?
            .ok_or(VfsError::NotFound)?;
        postcard::from_bytes(&bytes).map_err(|_| VfsError::IntegrityError)
    }

    /// Reads an inode as `tx` would leave it.
    pub(crate) fn tx_inode(&mut self, tx: &Tx, id: u64) -> Result<Inode, VfsError> {
        match tx.inodes.get(&id) {
            Some(i) => Ok(i.clone()),
            None => self.inode(id),
        }
    }

    pub(crate) fn child(&mut self, dir: u64, name: &str) -> Result<Option<u64>, VfsError> {
        match self.sget(Db::Userspace, &keys::dirent(dir, name))? {
            Some(v) => Ok(Some(be_u64(&v).ok_or(VfsError::IntegrityError)?)),
            None => Ok(None),
        }
    }

    /// The one write path: runs `f` with a fresh transaction and commits what it staged.
    /// Every operation writes through it; work too large for one transaction (streamed
    /// pieces, copies, garbage collection) runs as a sequence of bounded `tx` calls into
    /// objects no inode references yet, so a crash between them changes nothing visible.
    ///
    /// If `f` fails, nothing is written and its error is returned. Otherwise the staged
    /// changes are committed, one store transaction per database, **kernel database first,
    /// then userspace**; each is atomic and durable. A transaction that touches both (an
    /// administrative change and its audit entry) is made atomic by an undo record in its
    /// kernel commit ([`crate::crossdb`]): a refused userspace commit takes the kernel part
    /// back at once, a power cut between the two is taken back at the next boot.
    pub fn tx<R>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut Tx) -> Result<R, VfsError>,
    ) -> Result<R, VfsError> {
        let mut tx = Tx::default();
        let out = f(self, &mut tx)?;
        self.commit(tx)?;
        Ok(out)
    }

    /// The commit behind [`Vfs::tx`], and the only code that writes to the store: the staged
    /// inodes are encoded, then one store transaction per database, kernel first.
    fn commit(&mut self, mut tx: Tx) -> Result<(), VfsError> {
        for (id, inode) in core::mem::take(&mut tx.inodes) {
            let bytes = postcard::to_allocvec(&inode).map_err(|_| VfsError::StorageError)?;
            tx.put(Db::Userspace, keys::inode(id), bytes);
        }
        if tx.writes.is_empty() {
            return Ok(());
        }
        self.finish_pending_undo()?;
        let kernel = tx.writes.keys().any(|(d, _)| *d == Db::Kernel);
        let userspace = tx.writes.keys().any(|(d, _)| *d == Db::Userspace);
        let mut undo = None;
        if kernel && userspace {
            let kernel_keys: Vec<Vec<u8>> = tx
                .writes
                .keys()
                .filter(|(d, _)| *d == Db::Kernel)
                .map(|(_, k)| k.clone())
                .collect();
            let (record, bytes) = self.prepare_undo(kernel_keys.iter().map(Vec::as_slice))?;
            tx.put(Db::Kernel, keys::CROSS_DB_UNDO.to_vec(), bytes);
            tx.put(
                Db::Userspace,
                keys::CROSS_DB_DONE.to_vec(),
                record.id.to_be_bytes().to_vec(),
            );
            undo = Some(record);
        }
        self.generation += 1;
        for db in [Db::Kernel, Db::Userspace] {
            if let Err(e) = self.commit_db(&tx, db) {
                if let (Db::Userspace, Some(record)) = (db, undo.take()) {
                    // The kernel part is on the medium: take it back before answering (or,
                    // failing that, before anything else commits).
                    let _ = self.roll_back(record);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// One store transaction with `tx`'s changes to `db` (none: nothing written).
    fn commit_db(&mut self, tx: &Tx, db: Db) -> Result<(), VfsError> {
        let mut changes = tx.writes.iter().filter(|((d, _), _)| *d == db).peekable();
        if changes.peek().is_none() {
            return Ok(());
        }
        let mut txn = self.store.begin(db).map_err(store_err)?;
        // Deletes before puts: on a full store a transaction may write into the reserve
        // only while the records it has made dead cover what it has written so far, so a
        // removal that also rewrites a few records (accounting, a garbage record) must
        // free first. The outcome is the same in either order (one change per key).
        let (deletes, puts): (Vec<_>, Vec<_>) = changes.partition(|(_, v)| v.is_none());
        for ((_, key), _) in deletes {
            txn.delete(key).map_err(store_err)?;
        }
        for ((_, key), value) in puts {
            if let Some(v) = value {
                txn.put(key, v).map_err(store_err)?;
            }
        }
        txn.commit().map_err(store_err)
    }

    // ---- accounting ---------------------------------------------------------------------

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

    /// A new inode owned by the caller.
    pub(crate) fn new_inode(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        parent: u64,
        name: &str,
        kind: Kind,
        perms: crate::permission::FilePermissions,
    ) -> Inode {
        let now = ctx.env.now_ns();
        let id = self.alloc_id(tx);
        Inode {
            id,
            parent,
            name: String::from(name),
            kind,
            owner: ctx.caller.user,
            perms: perms.bits(),
            created_ns: now,
            modified_ns: now,
            accessed_ns: now,
            size: 0,
            enc: None,
            sha256: crate::crypto::empty_hash(),
        }
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

    /// Removes an entry from its parent (the inode record too), with accounting. Content is
    /// handed to the collector.
    pub(crate) fn unlink_entry(
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
        if let Kind::File { content } = inode.kind
            && content != 0
        {
            tx.discard(content, 0);
        }
        Ok(())
    }

    /// The canonical path of an inode, by walking up its parents.
    pub(crate) fn path_of(&mut self, id: u64) -> Result<CanonPath, VfsError> {
        let mut parts = Vec::new();
        let mut cur = self.inode(id)?;
        while cur.id != ROOT_ID {
            parts.push(cur.name.clone());
            if parts.len() > crate::protocol::limits::MAX_PATH {
                return Err(VfsError::IntegrityError);
            }
            cur = self.inode(cur.parent)?;
        }
        parts.reverse();
        Ok(CanonPath::from_parts(parts))
    }
}
