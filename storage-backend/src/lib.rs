//! The storage core of Zero OS: block devices, the inecontainer chunk codec, the crash-safe
//! encrypted chunk store, container framing and the kernel and userspace databases.
//!
//! Everything here is `no_std` + `alloc` and generic over [`block::BlockDevice`], so the same
//! store runs on a virtio disk, on NOR flash and in host tests.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod block;
