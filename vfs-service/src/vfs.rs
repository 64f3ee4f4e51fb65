//! The filesystem core: the [`Vfs`] state, transactions over the store, path resolution and the
//! accounting shared by all operations. The operations themselves live in [`crate::ops`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::{Credentials, ProcessClass, TaskId};

use crate::error::VfsError;
use crate::handles::HandleTable;
use crate::inode::{Inode, Kind, ROOT_ID, be_u64, keys};
use crate::ops::stream::{WriteBuffer, WriteStats};
use crate::path::CanonPath;
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
    /// Most files and symlinks (the kernel database's `sys/limits/max_files` wins).
    pub max_files: u64,
    /// Most directories (the kernel database's `sys/limits/max_directories` wins).
    pub max_directories: u64,
    /// Most bytes of file content it holds.
    pub max_bytes: u64,
    /// Largest single file.
    pub max_file_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 1 << 24,
            max_files: 1 << 24,
            max_directories: 1 << 24,
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
#[derive(Default, Clone)]
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

    /// This transaction's changes followed by `later`'s (which win where both touch a key).
    pub(crate) fn then(mut self, later: Tx) -> Tx {
        for ((db, key), value) in later.writes {
            if db == Db::Userspace && key.first() == Some(&keys::INODE) {
                // An inode deleted (or written raw) later replaces the staged one.
                if let Some(id) = key.get(1..).and_then(be_u64) {
                    self.inodes.remove(&id);
                }
            }
            self.writes.insert((db, key), value);
        }
        self.inodes.extend(later.inodes);
        self
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
    /// Store transactions committed so far (one per database a [`Vfs::tx`] touched).
    store_commits: u64,
    /// The id counter as the store holds it: a commit persists `next_id` when it is ahead
    /// (content ids of buffered stages are taken without a transaction of their own).
    persisted_next_id: u64,
    /// A file creation by OPEN not committed yet ([`crate::ops::stream`]'s deferred create).
    pub(crate) deferred: Option<crate::ops::Deferred>,
    /// The request being served acts for the deferred creation's handle: its reads see the
    /// creation and its commit carries it. Anyone else's read or commit settles it first.
    pub(crate) owner_ctx: bool,
    /// Work that touches nothing a deferred creation touches (the collector): it neither
    /// settles nor carries it.
    pub(crate) independent: bool,
    /// Whether the collector may have something to do; when not, it does no I/O at all.
    pub(crate) collect_due: bool,
    /// Stored bytes held in the RAM buffers of all handles' stages.
    pub(crate) staged_ram: usize,
    /// The bounds of those buffers.
    pub(crate) buffer: WriteBuffer,
    /// What every account holds, for quotas and the filesystem limits ([`crate::accounts`]).
    pub(crate) acct: crate::accounts::Accounting,
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
            store_commits: 0,
            persisted_next_id: 0,
            deferred: None,
            owner_ctx: false,
            independent: false,
            collect_due: true,
            staged_ram: 0,
            buffer: WriteBuffer::default(),
            acct: crate::accounts::Accounting::default(),
            cross_db_next: 1,
            pending_undo: None,
        }
    }

    /// Sets the RAM bounds of buffered handle writes (from the next write on).
    pub fn set_write_buffer(&mut self, buffer: WriteBuffer) {
        self.buffer = buffer;
    }

    /// The write path's counters so far.
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            store_commits: self.store_commits,
            buffered_bytes: self.staged_ram,
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

    /// A value as this request may see it: the store's, or, for the owner of a deferred
    /// creation, the creation's staged value. Anyone else's read settles the creation first,
    /// so every other client sees the created file exactly as if it had been committed at OPEN.
    pub(crate) fn sget(&mut self, db: Db, key: &[u8]) -> Result<Option<Vec<u8>>, VfsError> {
        if let Some(d) = &self.deferred {
            if self.owner_ctx {
                if let Some(v) = d.tx.pending(db, key) {
                    return Ok(v.map(<[u8]>::to_vec));
                }
            } else if !self.independent {
                self.settle();
            }
        }
        self.store.get(db, key).map_err(store_err)
    }

    pub(crate) fn load_next_id(&mut self) -> Result<(), VfsError> {
        self.next_id = match self.sget(Db::Userspace, keys::NEXT_ID)? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
            None => ROOT_ID + 1,
        };
        self.persisted_next_id = self.next_id;
        // Boot and attach both start here: the accounts are rebuilt from the tree.
        self.rebuild_accounts()
    }

    /// A fresh id without a transaction: persisted by the next commit (see `commit`). An id
    /// that no commit used before a crash may be handed out again; nothing durable names it.
    pub(crate) fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
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

    /// Reads an inode as the store holds it (as a deferred creation leaves it, for its owner).
    pub(crate) fn inode(&mut self, id: u64) -> Result<Inode, VfsError> {
        if self.owner_ctx
            && let Some(i) = self.deferred.as_ref().and_then(|d| d.tx.inodes.get(&id))
        {
            return Ok(i.clone());
        }
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
    ///
    /// A deferred creation (OPEN with create, see [`crate::ops::stream`]) is committed first,
    /// on its own, unless this transaction is its owner's: then it rides in the same commit.
    pub fn tx<R>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut Tx) -> Result<R, VfsError>,
    ) -> Result<R, VfsError> {
        if self.deferred.is_some() && !self.owner_ctx && !self.independent {
            self.settle();
        }
        let mut tx = Tx::default();
        let out = f(self, &mut tx)?;
        match self.deferred.take() {
            Some(d) if self.owner_ctx => {
                let keep = d.tx.clone();
                if let Err(e) = self.commit(d.tx.then(tx)) {
                    // Nothing was written: the creation stays deferred, the caller's changes
                    // are dropped as for any failed commit.
                    self.deferred = Some(crate::ops::Deferred {
                        tx: keep,
                        owner: d.owner,
                    });
                    return Err(e);
                }
                Ok(out)
            }
            other => {
                self.deferred = other;
                self.commit(tx)?;
                Ok(out)
            }
        }
    }

    /// The commit behind [`Vfs::tx`], and the only code that writes to the store: the staged
    /// inodes are encoded, then one store transaction per database, kernel first.
    fn commit(&mut self, mut tx: Tx) -> Result<(), VfsError> {
        let changes = self.inode_changes(&tx);
        for (id, inode) in core::mem::take(&mut tx.inodes) {
            let bytes = postcard::to_allocvec(&inode).map_err(|_| VfsError::StorageError)?;
            tx.put(Db::Userspace, keys::inode(id), bytes);
        }
        if tx.writes.is_empty() {
            return Ok(());
        }
        if self.next_id > self.persisted_next_id {
            // Ids taken without a transaction (buffered stages) become durable with the first
            // commit after them, before anything durable can name them.
            tx.put(
                Db::Userspace,
                keys::NEXT_ID.to_vec(),
                self.next_id.to_be_bytes().to_vec(),
            );
        }
        let next_id = self.next_id;
        if tx.writes.keys().any(|(db, key)| {
            *db == Db::Userspace && matches!(key.first(), Some(&keys::GARBAGE | &keys::DETACHED))
        }) {
            // Something for the collector: it runs again. (A staging record is the
            // collector's only once its handle is gone, which says so itself.)
            self.collect_due = true;
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
        self.persisted_next_id = self.persisted_next_id.max(next_id);
        for (old, new) in &changes {
            self.acct.apply(old.as_ref(), new.as_ref());
        }
        if self.deferred.is_none() {
            self.acct.pending = None;
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
        txn.commit().map_err(store_err)?;
        self.store_commits += 1;
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

    /// The inodes `tx` writes or deletes, each with its stored version: what the accounts
    /// change by once it commits. An inode that does not decode counts as absent.
    fn inode_changes(&mut self, tx: &Tx) -> Vec<(Option<Inode>, Option<Inode>)> {
        let mut out = Vec::new();
        let stored = |vfs: &mut Self, id: u64| -> Option<Inode> {
            let bytes = vfs.store.get(Db::Userspace, &keys::inode(id)).ok()??;
            postcard::from_bytes(&bytes).ok()
        };
        for (id, inode) in &tx.inodes {
            out.push((stored(self, *id), Some(inode.clone())));
        }
        for ((db, key), value) in &tx.writes {
            if *db != Db::Userspace || key.first() != Some(&keys::INODE) {
                continue;
            }
            let Some(id) = key.get(1..).and_then(be_u64) else {
                continue;
            };
            if tx.inodes.contains_key(&id) {
                continue;
            }
            let new = value.as_ref().and_then(|v| postcard::from_bytes(v).ok());
            out.push((stored(self, id), new));
        }
        out
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
