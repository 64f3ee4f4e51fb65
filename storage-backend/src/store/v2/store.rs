//! Both databases on one device as two independent v2 regions (DESIGN.md constraint 5): the
//! kernel region first, the userspace region after it, each with its own superblock, anchor
//! ring, keys, tree, journal and chain. Nothing in one region is read to mount the other, so a
//! corrupt or wrongly keyed userspace region does not stop the kernel region from mounting.
//!
//! The regions share the device and the crypto engine through [`Window`] and [`SharedEngine`]
//! (single-threaded `Rc<RefCell<_>>` handles; the store never calls into one region while the
//! other is inside a device or engine call). Each region keeps its own page pool: the shared
//! pool of the study is not built yet (see DESIGN.md, *Stage 2 status*).

use alloc::rc::Rc;
use core::cell::RefCell;

use crate::block::{BlockDevice, DeviceError, Geometry};
use crate::crypto::{CryptoEngine, CryptoError, KEY_LEN, KeyHandle, NONCE_LEN, TAG_LEN};
use crate::db::DbKeys;
use crate::store::error::{Db, Result, StoreError};

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
        })
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
        })
    }

    /// Why `db` did not mount, if it did not.
    pub fn mount_error(&self, db: Db) -> Option<StoreError> {
        self.errors[db.index()]
    }

    /// The region of `db`.
    pub fn region(&mut self, db: Db) -> Result<&mut Region<D, E>> {
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
