//! Engine v2, stage 2: a region whose index is the on-medium copy-on-write B+tree
//! ([`crate::store::btree`]), found at mount through the anchor ring
//! ([`crate::store::anchor`]), with checkpoints and a bounded log tail (DESIGN.md, "Engine v2",
//! V2.2 and "Stage 2 status"). Not used by [`crate::Store`] yet (stage 5 switches it over).
//!
//! One job per module: `layout` (geometry, superblock), `sit` (per-segment state and the
//! delta table), `medium` (device, heads J and I, segment opening, pages as sealed chunks —
//! the tree's `PageStore`; `page_read`, its block-aligned page read without allocations), `region` (the region handle, reads, free segments), `check` (the full integrity check), `txn`
//! (transactions and commit), `ckpt` (checkpoint record and procedure, anchors), `mount`
//! (format, mount), `replay` (the log tail), `store` (both databases as two regions on one device).
//!
//! Guarantees: every acknowledged commit survives a cut at any program or erase, nothing
//! uncommitted becomes visible; mount reads the superblock, the anchor ring, the checkpoint
//! record, the pages it needs and the log tail (bounded by the checkpoint triggers), never
//! anything proportional to the number of objects; a segment is reused only under rule F; a
//! full device gives `NoSpace` (there is no cleaning before stage 4) and stays mountable.

mod check;
mod ckpt;
pub mod layout;
pub mod medium;
mod mount;
mod page_read;
mod region;
mod replay;
pub mod sit;
mod store;
mod txn;

pub use check::CheckReport;
pub use medium::{LogPos, MediumStats};
pub use region::{MountInfo, SEQ_RESERVE, V2Options, V2Region};
pub use store::{SharedEngine, V2Store, Window};
