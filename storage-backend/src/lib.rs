//! The storage core of Zero OS: block devices, the inecontainer chunk codec, the crash-safe
//! encrypted chunk store, container framing and the kernel and userspace databases.
//!
//! Everything here is `no_std` + `alloc` and generic over [`block::BlockDevice`] and
//! [`crypto::CryptoEngine`], so the same store runs on a virtio disk, on NOR flash and in host
//! tests. The public entry point is [`Store`]; `FORMAT.md` specifies the bytes on the medium and
//! `DESIGN.md` the reasoning.
//!
//! ```
//! use storage_backend::block::RamDevice;
//! use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};
//!
//! let mut engine = SoftwareEngine::new();
//! let keys = DbKeys {
//!     kernel: engine.import_key(&[1; 32]).unwrap(),
//!     userspace: engine.import_key(&[2; 32]).unwrap(),
//! };
//! let device = RamDevice::new(512, 8, 256); // 1 MiB: 512-byte blocks, 4 KiB erase units
//! let mut store = Store::format(device, engine, keys, &FormatOptions::default()).unwrap();
//!
//! let mut txn = store.begin(Db::Userspace).unwrap();
//! txn.put(b"/home/alice/notes", b"inode bytes").unwrap();
//! txn.commit().unwrap(); // atomic and durable
//! store.sync().unwrap(); // footer with the master hash
//!
//! assert_eq!(store.get(Db::Userspace, b"/home/alice/notes").unwrap().unwrap(), b"inode bytes");
//! let page = store.scan_keys(Db::Userspace, b"/home/", None, 100).unwrap();
//! assert_eq!(page.len(), 1);
//! store.check(Db::Userspace).unwrap();
//! ```
//!
//! Modules: [`block`] (device contract and devices), [`chunk`] (codec), [`crypto`] (engine
//! trait, software engine), [`store`] (records, sealing, regions), [`container`] (ASU header,
//! footer, metadata), [`db`] (the two-database API).
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block;
pub mod chunk;
pub mod container;
pub mod crypto;
pub mod db;
pub mod store;

pub use block::{BlockDevice, DeviceError, Geometry};
pub use crypto::{CryptoEngine, CryptoError, EngineInfo, KeyHandle, Sha256Hasher, SoftwareEngine};
pub use db::{DbKeys, FormatOptions, Store, Txn};
pub use store::anchor;
pub use store::error::{Db, IntegrityError, IntegrityKind, LimitKind, Result, StoreError};
pub use store::region::txn::{MAX_KEY, MAX_VALUE};
pub use store::region::{
    CacheStats, CheckReport, DEFAULT_KERNEL_CACHE_BYTES, DEFAULT_USERSPACE_CACHE_BYTES, Limits,
    Usage,
};
