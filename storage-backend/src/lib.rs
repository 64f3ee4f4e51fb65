//! The storage core of Zero OS: block devices, the inecontainer chunk codec, the crash-safe
//! encrypted chunk store, container framing and the kernel and userspace databases.
//!
//! Everything here is `no_std` + `alloc` and generic over [`block::BlockDevice`] and
//! [`crypto::CryptoEngine`], so the same store runs on a virtio disk, on NOR flash and in host
//! tests. The public entry point is [`Store`].
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod block;
pub mod chunk;
pub mod container;
pub mod crypto;
pub mod db;
pub mod store;

pub use block::{BlockDevice, DeviceError, Geometry};
pub use crypto::{CryptoEngine, CryptoError, KeyHandle, Sha256Hasher, SoftwareEngine};
pub use db::{DbKeys, FormatOptions, Store, Txn};
pub use store::error::{Db, IntegrityError, IntegrityKind, LimitKind, Result, StoreError};
pub use store::region::txn::{MAX_KEY, MAX_VALUE};
pub use store::region::{CheckReport, Limits, Usage};
