//! User-space virtio drivers for the Zero OS VFS task.
//!
//! * [`crypto`]: a virtio-crypto driver (virtio 1.2 §5.9) on the transport and split-queue types
//!   of the `virtio-drivers` crate, which has no crypto driver. It creates AES cipher sessions on
//!   the control queue and runs cipher requests on a data queue.
//! * [`gcm`]: AES-256-GCM composed from any AES-CTR backend ([`ctr::AesCtr`]) and software
//!   GHASH, because QEMU's `cryptodev-backend-builtin` offers AES-CTR but no AEAD. The same code
//!   runs over the device ([`crypto::SessionCtr`]) and over software AES ([`ctr::SoftAes256Ctr`]).
//! * [`engine`]: the hardware crypto engine: keys imported into device sessions (the raw key is
//!   wiped once the device holds it), seal/open with AES-256-GCM; [`hw_engine`] puts it behind
//!   `storage-backend`'s `CryptoEngine` trait (HKDF and SHA-256 in software).
//! * [`blk`]: virtio-blk (the `virtio-drivers` driver) behind `storage-backend`'s
//!   `BlockDevice`.
//! * [`any_engine`]: hardware or software engine behind one type (the no-device fallback);
//!   [`kat`]: the GCM known-answer self-test through any engine.
//! * [`dma_pool`]: a `Hal` for a Zero OS task: one DMA arena from `DmaAlloc`, pages and
//!   bounces served from it, MMIO windows from `MapMmio`.
//! * `fake` (feature `fake`): host fakes of the transport, the DMA `Hal`, a virtio-crypto device
//!   and a virtio-blk device, so every driver path runs in `cargo test`.
//!
//! See `DESIGN.md` next to this crate for how GCM is built from the device and what runs where.

#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod any_engine;
pub mod blk;
pub mod crypto;
pub mod ctr;
pub mod dma_pool;
pub mod engine;
#[cfg(feature = "fake")]
pub mod fake;
pub mod gcm;
pub mod hw_engine;
pub mod kat;
pub mod wait;
