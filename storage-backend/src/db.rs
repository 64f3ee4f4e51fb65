//! The public database API: one device, two databases (`Kernel`, `Userspace`) in separate
//! regions with separate keys and integrity roots.
//!
//! Guarantees: a committed transaction is durable when `commit` returns and survives power loss
//! at any point; an uncommitted one is never visible; a value read is exactly the value committed
//! or the call fails with an integrity error. A corrupt userspace region never stops the kernel
//! region from mounting ([`Store::mount`] fails only if the kernel region does).

use alloc::vec::Vec;

use crate::block::BlockDevice;
use crate::crypto::{CryptoEngine, KeyHandle};
use crate::store::error::{Db, Result, StoreError};
use crate::store::region::mount::RegionParams;
use crate::store::region::{CacheStats, CheckReport, Io, Limits, Region, Usage};

/// The caller's key for each database (imported into the engine). The store derives its data
/// keys from them with HKDF-SHA256 (salt = container UUID).
#[derive(Clone, Copy, Debug)]
pub struct DbKeys {
    /// Key of the kernel database.
    pub kernel: KeyHandle,
    /// Key of the userspace database.
    pub userspace: KeyHandle,
}

impl DbKeys {
    /// The key of `db`.
    pub fn for_db(&self, db: Db) -> KeyHandle {
        match db {
            Db::Kernel => self.kernel,
            Db::Userspace => self.userspace,
        }
    }
}

/// Choices made at format time.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// Erase units given to the kernel region (the userspace region gets the rest). `None`:
    /// a quarter of the device.
    pub kernel_units: Option<u64>,
    /// Bytes per segment (rounded up to whole erase units). Default 32 KiB.
    pub segment_bytes: u64,
    /// Limits of the kernel database.
    pub kernel_limits: Limits,
    /// Limits of the userspace database.
    pub userspace_limits: Limits,
    /// Container UUIDs (kernel, userspace); also the key-derivation salts. **Must be fresh for
    /// every format under the same keys** (take them from a random source): nonces restart with
    /// a new format, so reusing a UUID with the same key would repeat nonces. The default is a
    /// fixed value for tests.
    pub uuids: [[u8; 16]; 2],
    /// Creator recorded in the metadata.
    pub creator: Vec<u8>,
    /// Creation time, ns since the epoch.
    pub created_ns: u64,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            kernel_units: None,
            segment_bytes: 32 * 1024,
            kernel_limits: Limits::UNLIMITED,
            userspace_limits: Limits::UNLIMITED,
            uuids: [[0x4B; 16], [0x55; 16]],
            creator: b"zero-os".to_vec(),
            created_ns: 0,
        }
    }
}

/// Both databases on one device.
pub struct Store<D, E> {
    dev: D,
    eng: E,
    regions: [core::result::Result<Region, StoreError>; 2],
}

impl<D, E> core::fmt::Debug for Store<D, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("regions", &self.regions)
            .finish()
    }
}

impl<D: BlockDevice, E: CryptoEngine> Store<D, E> {
    /// Erases the device and writes two empty databases.
    pub fn format(mut dev: D, mut eng: E, keys: DbKeys, opts: &FormatOptions) -> Result<Self> {
        let g = dev.geometry();
        let units = g.erase_units();
        let unit_bytes = g.erase_unit_bytes();
        if unit_bytes == 0 || units < 4 {
            return Err(StoreError::BadGeometry);
        }
        let seg_units = opts.segment_bytes.div_ceil(unit_bytes).max(1);
        let kernel_units = opts.kernel_units.unwrap_or(units / 4);
        if kernel_units >= units {
            return Err(StoreError::BadGeometry);
        }
        let mut io = Io {
            dev: &mut dev,
            eng: &mut eng,
        };
        let mut params = RegionParams {
            base_unit: 0,
            units: kernel_units,
            seg_units,
            uuid: opts.uuids[0],
            creator: opts.creator.clone(),
            created_ns: opts.created_ns,
            max_objects: opts.kernel_limits.max_objects,
            max_bytes: opts.kernel_limits.max_bytes,
        };
        let kernel = Region::format(&mut io, Db::Kernel, keys.kernel, &params)?;
        // The kernel header records its size, which is where the userspace region starts.
        params.base_unit = kernel.region_units();
        params.units = units - params.base_unit;
        params.uuid = opts.uuids[1];
        params.max_objects = opts.userspace_limits.max_objects;
        params.max_bytes = opts.userspace_limits.max_bytes;
        let user = Region::format(&mut io, Db::Userspace, keys.userspace, &params)?;
        Ok(Self {
            dev,
            eng,
            regions: [Ok(kernel), Ok(user)],
        })
    }

    /// Mounts both databases. Fails only if the kernel database cannot be mounted; a userspace
    /// failure is kept and reported by [`Store::mount_error`] and by every userspace call.
    pub fn mount(mut dev: D, mut eng: E, keys: DbKeys) -> Result<Self> {
        let mut io = Io {
            dev: &mut dev,
            eng: &mut eng,
        };
        let kernel = Region::mount(&mut io, Db::Kernel, keys.kernel, 0)?;
        let user = Region::mount(
            &mut io,
            Db::Userspace,
            keys.userspace,
            kernel.region_units(),
        );
        Ok(Self {
            dev,
            eng,
            regions: [Ok(kernel), user],
        })
    }

    /// Why `db` did not mount, if it did not.
    pub fn mount_error(&self, db: Db) -> Option<StoreError> {
        self.regions[db.index()].as_ref().err().copied()
    }

    fn parts(&mut self, db: Db) -> Result<(&mut Region, Io<'_, D, E>)> {
        let Self { dev, eng, regions } = self;
        match &mut regions[db.index()] {
            Ok(r) => Ok((r, Io { dev, eng })),
            Err(_) => Err(StoreError::Unavailable(db)),
        }
    }

    fn region(&self, db: Db) -> Result<&Region> {
        self.regions[db.index()]
            .as_ref()
            .map_err(|_| StoreError::Unavailable(db))
    }

    /// The committed value of `key`.
    pub fn get(&mut self, db: Db, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (r, mut io) = self.parts(db)?;
        r.get(&mut io, key)
    }

    /// Sets the capacity of `db`'s cache of authenticated values, in bytes; 0 disables it and
    /// frees its RAM. Defaults: [`crate::DEFAULT_KERNEL_CACHE_BYTES`] (64 KiB) and
    /// [`crate::DEFAULT_USERSPACE_CACHE_BYTES`] (192 KiB); it is not persisted, so set it after
    /// every format or mount. A hit returns exactly what a read of the medium would (see
    /// `store/region/cache.rs`).
    pub fn set_cache_bytes(&mut self, db: Db, bytes: usize) -> Result<()> {
        let (r, _) = self.parts(db)?;
        r.set_cache_bytes(bytes);
        Ok(())
    }

    /// Counters of `db`'s value cache.
    pub fn cache_stats(&self, db: Db) -> Result<CacheStats> {
        Ok(self.region(db)?.cache_stats())
    }

    /// Copies the committed value of `key` into `buf`; returns its length, or
    /// `InvalidArgument` if `buf` is too small.
    pub fn get_into(&mut self, db: Db, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>> {
        match self.get(db, key)? {
            Some(v) => {
                let dst = buf.get_mut(..v.len()).ok_or(StoreError::InvalidArgument)?;
                dst.copy_from_slice(&v);
                Ok(Some(v.len()))
            }
            None => Ok(None),
        }
    }

    /// The length of the committed value of `key`, without reading it.
    pub fn value_len(&self, db: Db, key: &[u8]) -> Result<Option<u32>> {
        Ok(self.region(db)?.value_len(key))
    }

    /// Up to `limit` committed keys starting with `prefix`, in byte order, strictly after
    /// `after` (pass the last key of the previous page) or from the first.
    pub fn scan_keys(
        &self,
        db: Db,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        Ok(self.region(db)?.scan_keys(prefix, after, limit))
    }

    /// Like [`Store::scan_keys`], with the values.
    pub fn scan(
        &mut self,
        db: Db,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let keys = self.scan_keys(db, prefix, after, limit)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(v) = self.get(db, &k)? {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Starts a transaction on `db`. Dropping it without `commit` abandons it.
    pub fn begin(&mut self, db: Db) -> Result<Txn<'_, D, E>> {
        let (r, mut io) = self.parts(db)?;
        r.writable()?;
        // Space is reclaimed between transactions: a transaction that failed for want of room
        // left garbage that only a checkpoint frees, and none can be written once it is open.
        let res = r.between_transactions(&mut io);
        r.guard(res)?;
        r.begin();
        Ok(Txn {
            store: self,
            db,
            done: false,
        })
    }

    /// Writes a footer (master hash, modification time) to every database changed since the
    /// last sync, and flushes. Commits are durable without it; it lets mount prove that the last
    /// commit before it was not cut off.
    pub fn sync(&mut self) -> Result<()> {
        for db in Db::ALL {
            if let Ok((r, mut io)) = self.parts(db) {
                if r.writable().is_err() {
                    continue;
                }
                let res = r.sync(&mut io);
                r.guard(res)?;
            }
        }
        Ok(())
    }

    /// Sets the time (ns since the epoch) recorded by the next footers.
    pub fn set_time(&mut self, ns: u64) {
        for r in self.regions.iter_mut().flatten() {
            r.set_time(ns);
        }
    }

    /// Usage and limits of `db`.
    pub fn usage(&self, db: Db) -> Result<Usage> {
        Ok(self.region(db)?.usage())
    }

    /// The master integrity hash of `db` (head of its transaction hash chain).
    pub fn master_hash(&self, db: Db) -> Result<[u8; 32]> {
        Ok(self.region(db)?.master_hash())
    }

    /// The container metadata of `db` (UUID, creator, times, geometry, limits).
    pub fn metadata(&self, db: Db) -> Result<&crate::container::Metadata> {
        Ok(self.region(db)?.metadata())
    }

    /// Bytes of RAM the index of `db` holds (see FORMAT.md, "RAM").
    pub fn index_ram_bytes(&self, db: Db) -> Result<usize> {
        Ok(self.region(db)?.index_ram_bytes())
    }

    /// Last modification time of `db` (ns since the epoch): from the newest footer on the
    /// medium, or as set by [`Store::set_time`] since.
    pub fn modified_ns(&self, db: Db) -> Result<u64> {
        Ok(self.region(db)?.modified_ns())
    }

    /// Limits of `db`.
    pub fn limits(&self, db: Db) -> Result<Limits> {
        Ok(self.region(db)?.limits())
    }

    /// Erase count of every segment of `db`.
    pub fn erase_counts(&self, db: Db) -> Result<Vec<u32>> {
        Ok(self.region(db)?.erase_counts())
    }

    /// Full integrity check of `db`: remount from the medium, compare, read every record.
    pub fn check(&mut self, db: Db) -> Result<CheckReport> {
        let (r, mut io) = self.parts(db)?;
        r.check(&mut io)
    }

    /// The crypto engine (the VFS uses it for per-file keys).
    pub fn engine_mut(&mut self) -> &mut E {
        &mut self.eng
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// Gives back the device and the engine.
    pub fn into_parts(self) -> (D, E) {
        (self.dev, self.eng)
    }
}

/// An open transaction. Records reach the log as they are added (so a transaction may carry
/// more data than fits in RAM); only [`Txn::commit`] makes them visible. Reads through the store
/// see committed state only.
pub struct Txn<'a, D: BlockDevice, E: CryptoEngine> {
    store: &'a mut Store<D, E>,
    db: Db,
    done: bool,
}

impl<D: BlockDevice, E: CryptoEngine> core::fmt::Debug for Txn<'_, D, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Txn").field("db", &self.db).finish()
    }
}

impl<D: BlockDevice, E: CryptoEngine> Txn<'_, D, E> {
    /// The store (read-only; for statistics such as device counters).
    pub fn store(&self) -> &Store<D, E> {
        self.store
    }

    /// Sets `key` (1..=255 bytes) to `value` (up to [`crate::MAX_VALUE`] = 8 KiB).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let (r, mut io) = self.store.parts(self.db)?;
        r.writable()?;
        let res = r.put(&mut io, key, value);
        r.guard(res)
    }

    /// Removes `key` (no effect if absent).
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        let (r, mut io) = self.store.parts(self.db)?;
        r.writable()?;
        let res = r.delete(&mut io, key);
        r.guard(res)
    }

    /// The committed value of `key` (pending changes of this transaction are not visible).
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store.get(self.db, key)
    }

    /// Makes every change of the transaction visible, atomically and durably.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        let (r, mut io) = self.store.parts(self.db)?;
        r.writable()?;
        let res = r.commit(&mut io);
        r.guard(res)
    }

    /// Abandons the transaction (same as dropping it).
    pub fn abort(mut self) {
        self.done = true;
        if let Ok((r, _)) = self.store.parts(self.db) {
            r.abort();
        }
    }
}

impl<D: BlockDevice, E: CryptoEngine> Drop for Txn<'_, D, E> {
    fn drop(&mut self) {
        if !self.done
            && let Ok((r, _)) = self.store.parts(self.db)
        {
            r.abort();
        }
    }
}
