//! Both databases on one device as two independent v2 regions (DESIGN.md constraint 5): the
//! kernel region first, the userspace region after it, each with its own superblock, anchor
//! ring, keys, tree, journal and chain. Nothing in one region is read to mount the other, so a
//! corrupt or wrongly keyed userspace region does not stop the kernel region from mounting.
//!
//! The regions share the device and the crypto engine through [`Window`] and [`SharedEngine`]
//! (single-threaded `Rc<RefCell<_>>` handles; the store never calls into one region while the
//! other is inside a device or engine call). With [`V2Store::format_shared`] /
//! [`V2Store::mount_shared`] they also share one page pool sized from one budget for the
//! whole store: the store lends the pool to the region an operation runs in
//! ([`V2Store::with`]); cached pages are tagged with their tree, each tree's dirty pages
//! (at most its `D`) stay pinned in the pool while the other tree runs, and clean pages of
//! either tree are evicted least-recently-used. The pool holds `D_kernel + D_userspace + 2`
//! pages at least, so each tree always finds its `D + 1`.

use alloc::rc::Rc;
use core::cell::RefCell;

use crate::block::{BlockDevice, DeviceError, Geometry};
use crate::crypto::{
    CryptoEngine, CryptoError, EngineInfo, KEY_LEN, KeyHandle, NONCE_LEN, TAG_LEN,
};
use crate::db::DbKeys;
use crate::store::error::{Db, Result, StoreError};

use crate::store::btree::pool::Pool;
use crate::store::btree::{BTree, Config, PageFormat};

use super::medium::Medium;
use super::region::{V2Options, V2Region};

/// A range of erase units of a shared device, seen as a device of its own.
pub struct Window<D> {
    dev: Rc<RefCell<D>>,
    first_unit: u64,
    units: u64,
}

impl<D: BlockDevice> Window<D> {
    fn base_block(&self, g: &Geometry) -> u64 {
        self.first_unit * u64::from(g.blocks_per_erase_unit)
    }
}

fn busy<T>() -> core::result::Result<T, DeviceError> {
    Err(DeviceError::Io)
}

impl<D: BlockDevice> BlockDevice for Window<D> {
    fn geometry(&self) -> Geometry {
        let g = match self.dev.try_borrow() {
            Ok(d) => d.geometry(),
            Err(_) => Geometry {
                block_size: 512,
                blocks_per_erase_unit: 1,
                block_count: 0,
            },
        };
        Geometry {
            block_count: self.units * u64::from(g.blocks_per_erase_unit),
            ..g
        }
    }
    fn read(&mut self, block: u64, buf: &mut [u8]) -> core::result::Result<(), DeviceError> {
        let g = self.geometry();
        g.check_blocks(block, buf.len())?;
        let Ok(mut d) = self.dev.try_borrow_mut() else {
            return busy();
        };
        d.read(self.base_block(&g) + block, buf)
    }
    fn write(&mut self, block: u64, buf: &[u8]) -> core::result::Result<(), DeviceError> {
        let g = self.geometry();
        g.check_blocks(block, buf.len())?;
        let Ok(mut d) = self.dev.try_borrow_mut() else {
            return busy();
        };
        d.write(self.base_block(&g) + block, buf)
    }
    fn flush(&mut self) -> core::result::Result<(), DeviceError> {
        let Ok(mut d) = self.dev.try_borrow_mut() else {
            return busy();
        };
        d.flush()
    }
    fn erase(&mut self, unit: u64, count: u64) -> core::result::Result<(), DeviceError> {
        self.geometry().check_units(unit, count)?;
        let Ok(mut d) = self.dev.try_borrow_mut() else {
            return busy();
        };
        d.erase(self.first_unit + unit, count)
    }
}

/// One crypto engine used by both regions.
pub struct SharedEngine<E>(Rc<RefCell<E>>);

impl<E: CryptoEngine> CryptoEngine for SharedEngine<E> {
    type Hasher = E::Hasher;

    fn info(&self) -> EngineInfo {
        match self.0.try_borrow() {
            Ok(e) => e.info(),
            // Only while the engine is inside one of its own operations (never, on one thread).
            Err(_) => EngineInfo {
                hardware: false,
                name: "unknown (engine busy)",
            },
        }
    }

    fn import_key(&mut self, raw: &[u8; KEY_LEN]) -> core::result::Result<KeyHandle, CryptoError> {
        self.0
            .try_borrow_mut()
            .map_err(|_| CryptoError::BadHandle)?
            .import_key(raw)
    }
    fn derive_key(
        &mut self,
        parent: KeyHandle,
        salt: &[u8],
        info: &[u8],
    ) -> core::result::Result<KeyHandle, CryptoError> {
        self.0
            .try_borrow_mut()
            .map_err(|_| CryptoError::BadHandle)?
            .derive_key(parent, salt, info)
    }
    fn drop_key(&mut self, key: KeyHandle) {
        if let Ok(mut e) = self.0.try_borrow_mut() {
            e.drop_key(key);
        }
    }
    fn seal(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> core::result::Result<[u8; TAG_LEN], CryptoError> {
        self.0
            .try_borrow_mut()
            .map_err(|_| CryptoError::BadHandle)?
            .seal(key, nonce, aad, buf)
    }
    fn open(
        &mut self,
        key: KeyHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> core::result::Result<(), CryptoError> {
        self.0
            .try_borrow_mut()
            .map_err(|_| CryptoError::BadHandle)?
            .open(key, nonce, aad, buf, tag)
    }
    fn hasher(&mut self) -> Self::Hasher {
        // Never re-entered: the regions call the engine one call at a time.
        self.0.borrow_mut().hasher()
    }
}

type Region<D, E> = V2Region<Window<D>, SharedEngine<E>>;
/// The shared device and engine, and the two regions' windows.
type Parts<D, E> = (Rc<RefCell<D>>, Rc<RefCell<E>>, [Window<D>; 2]);

/// Both databases, as v2 regions on one device.
pub struct V2Store<D: BlockDevice, E: CryptoEngine> {
    dev: Rc<RefCell<D>>,
    eng: Rc<RefCell<E>>,
    regions: [Option<Region<D, E>>; 2],
    errors: [Option<StoreError>; 2],
    /// The shared page pool, when no region holds it (`None`: each region has its own).
    pool: Option<Pool>,
}

impl<D: BlockDevice, E: CryptoEngine> V2Store<D, E> {
    fn parts(dev: D, eng: E, kernel_units: u64) -> Result<Parts<D, E>> {
        let total = dev.geometry().erase_units();
        if kernel_units == 0 || kernel_units >= total {
            return Err(StoreError::BadGeometry);
        }
        let dev = Rc::new(RefCell::new(dev));
        let eng = Rc::new(RefCell::new(eng));
        let k = Window {
            dev: dev.clone(),
            first_unit: 0,
            units: kernel_units,
        };
        let u = Window {
            dev: dev.clone(),
            first_unit: kernel_units,
            units: total - kernel_units,
        };
        Ok((dev, eng, [k, u]))
    }

    /// Formats both regions: the kernel one on the first `kernel_units` erase units, the
    /// userspace one on the rest (their UUIDs must differ; `opts[i].uuid`).
    pub fn format(
        dev: D,
        eng: E,
        keys: DbKeys,
        kernel_units: u64,
        opts: [V2Options; 2],
    ) -> Result<Self> {
        let (dev, eng, windows) = Self::parts(dev, eng, kernel_units)?;
        let mut regions = [None, None];
        for (w, db) in windows.into_iter().zip(Db::ALL) {
            let e = SharedEngine(eng.clone());
            regions[db.index()] = Some(V2Region::format(
                w,
                e,
                keys.for_db(db),
                db,
                opts[db.index()],
            )?);
        }
        Ok(Self {
            dev,
            eng,
            regions,
            errors: [None, None],
            pool: None,
        })
    }

    /// Pages of the shared pool a store `budget` leaves after both regions' own buffers and
    /// trees' fixed buffers; `InvalidArgument` if below `D_kernel + D_userspace + 2` or the page
    /// sizes differ.
    fn shared_slots(opts: &[V2Options; 2], budget: usize) -> Result<(usize, usize)> {
        let page = opts[0].page_plain as usize;
        if opts[1].page_plain as usize != page {
            return Err(StoreError::InvalidArgument);
        }
        let format = PageFormat::new(page).ok_or(StoreError::InvalidArgument)?;
        let mut fixed = 0usize;
        for o in opts {
            let cfg = Config {
                format,
                max_dirty: o.max_dirty as usize,
                ram_budget: 0,
            };
            fixed += o.overhead() + BTree::<Medium<Window<D>, SharedEngine<E>>>::fixed_ram(&cfg);
        }
        let room = budget
            .checked_sub(fixed)
            .ok_or(StoreError::InvalidArgument)?;
        let mut n = 0usize;
        while Pool::bytes_for(n + 1, page) <= room {
            n += 1;
        }
        if n < (opts[0].max_dirty + opts[1].max_dirty) as usize + 2 {
            return Err(StoreError::InvalidArgument);
        }
        Ok((n, page))
    }

    /// [`Self::format`] with one page pool for both regions, everything within `budget` bytes
    /// (both regions' buffers, both trees, the shared pool). `opts[i].ram_budget` is not used.
    pub fn format_shared(
        dev: D,
        eng: E,
        keys: DbKeys,
        kernel_units: u64,
        opts: [V2Options; 2],
        budget: usize,
    ) -> Result<Self> {
        let (n, page) = Self::shared_slots(&opts, budget)?;
        let (dev, eng, windows) = Self::parts(dev, eng, kernel_units)?;
        let mut pool = Pool::new(n, page).map_err(|_| StoreError::InvalidArgument)?;
        let mut regions = [None, None];
        for (w, db) in windows.into_iter().zip(Db::ALL) {
            let e = SharedEngine(eng.clone());
            let owner = Some((db.index() as u8, &mut pool));
            let r = V2Region::format_in(w, e, keys.for_db(db), db, opts[db.index()], owner)?;
            regions[db.index()] = Some(r);
        }
        Ok(Self {
            dev,
            eng,
            regions,
            errors: [None, None],
            pool: Some(pool),
        })
    }

    /// [`Self::mount`] with one page pool for both regions within `budget` (see
    /// [`Self::format_shared`]).
    pub fn mount_shared(
        dev: D,
        eng: E,
        keys: DbKeys,
        kernel_units: u64,
        opts: [V2Options; 2],
        budget: usize,
    ) -> Result<Self> {
        let (n, page) = Self::shared_slots(&opts, budget)?;
        let (dev, eng, windows) = Self::parts(dev, eng, kernel_units)?;
        let mut pool = Pool::new(n, page).map_err(|_| StoreError::InvalidArgument)?;
        let mut regions = [None, None];
        let mut errors = [None, None];
        for (w, db) in windows.into_iter().zip(Db::ALL) {
            let e = SharedEngine(eng.clone());
            let owner = Some((db.index() as u8, &mut pool));
            // The pool comes back whether or not the region mounts: a corrupt userspace
            // region costs the kernel region none of its pages.
            match V2Region::mount_in(w, e, keys.for_db(db), db, opts[db.index()], owner) {
                Ok(r) => regions[db.index()] = Some(r),
                Err(e) => {
                    errors[db.index()] = Some(e);
                    pool.purge(db.index() as u8);
                }
            }
        }
        Ok(Self {
            dev,
            eng,
            regions,
            errors,
            pool: Some(pool),
        })
    }

    /// Runs `f` on the region of `db`, lending it the shared pool if there is one (the way to
    /// use a store with a shared pool; [`Self::region`] also works without one).
    pub fn with<T>(&mut self, db: Db, f: impl FnOnce(&mut Region<D, E>) -> Result<T>) -> Result<T> {
        let r = self.regions[db.index()]
            .as_mut()
            .ok_or(StoreError::Unavailable(db))?;
        if let Some(p) = self.pool.as_mut() {
            r.swap_pool(p);
        }
        let out = f(r);
        if let Some(p) = self.pool.as_mut() {
            r.swap_pool(p);
        }
        out
    }

    /// Mounts both regions; one that does not mount is reported by [`Self::mount_error`] and
    /// refuses its operations with `Unavailable`, the other works.
    pub fn mount(
        dev: D,
        eng: E,
        keys: DbKeys,
        kernel_units: u64,
        opts: [V2Options; 2],
    ) -> Result<Self> {
        let (dev, eng, windows) = Self::parts(dev, eng, kernel_units)?;
        let mut regions = [None, None];
        let mut errors = [None, None];
        for (w, db) in windows.into_iter().zip(Db::ALL) {
            let e = SharedEngine(eng.clone());
            match V2Region::mount(w, e, keys.for_db(db), db, opts[db.index()]) {
                Ok(r) => regions[db.index()] = Some(r),
                Err(e) => errors[db.index()] = Some(e),
            }
        }
        Ok(Self {
            dev,
            eng,
            regions,
            errors,
            pool: None,
        })
    }

    /// Why `db` did not mount, if it did not.
    pub fn mount_error(&self, db: Db) -> Option<StoreError> {
        self.errors[db.index()]
    }

    /// The region of `db`.
    pub fn region(&mut self, db: Db) -> Result<&mut Region<D, E>> {
        // With a shared pool a region is usable only while it holds the pool: see `with`.
        if self.pool.is_some() {
            return Err(StoreError::InvalidArgument);
        }
        self.regions[db.index()]
            .as_mut()
            .ok_or(StoreError::Unavailable(db))
    }

    /// Gives the device and engine back (both regions are dropped first).
    pub fn into_parts(self) -> Option<(D, E)> {
        let Self {
            dev, eng, regions, ..
        } = self;
        drop(regions);
        let d = Rc::try_unwrap(dev).ok()?.into_inner();
        let e = Rc::try_unwrap(eng).ok()?.into_inner();
        Some((d, e))
    }
}
