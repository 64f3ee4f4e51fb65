//! Engine v2, stage 1: the on-medium ordered index as a copy-on-write B+tree over a
//! RAM-budgeted page pool (DESIGN.md, "Engine v2", V2.2 and V2.4 stage 1).
//!
//! * [`page`] — the byte layout of leaf and internal pages; [`check`] — validation of a page
//!   read from the medium (every malformed input is a typed [`PageError`], never a panic).
//! * [`store`] — the [`PageStore`] trait the tree reads and writes pages through, and
//!   [`MemPageStore`], an in-memory implementation for tests and benches. Stage 2 implements
//!   the trait over the log.
//! * `pool` — the page cache: fixed-size slots within the RAM budget, clean pages evicted
//!   least-recently-used (leaves before internal pages), dirty pages pinned and capped at `D`.
//! * [`BTree`] (`tree`, `modify`, `rebalance`, `cursor`) — get, insert/replace, delete, scans,
//!   split/merge/redistribute, root growth and shrink, and [`BTree::flush`], the checkpoint's
//!   page write: children before parents, root last.
//!
//! Guarantees: a page that was written (is clean) is never modified in place — its first change
//! makes its cached copy dirty and reports the old location dead; a change that would need more
//! than `D` dirty pages fails with [`BTreeError::NeedsCheckpoint`] before anything changes;
//! [`BTree::ram_bytes`] counts every heap and struct byte the tree holds and never exceeds the
//! budget given at open; opening a flushed root with an empty cache gives the same contents.

pub mod check;
mod cursor;
pub mod error;
mod modify;
pub mod page;
pub(crate) mod pool;
mod rebalance;
pub mod store;
mod tree;

pub use cursor::{Cursor, Entry, TreeStats};
pub use error::{BTreeError, PageError, Result};
pub use page::{MAX_KEY, PageFormat};
pub use store::{MemPageStore, PageStore};
pub use tree::{BTree, Counters};

/// Most levels a tree may have (root included). With keys of at most 255 bytes and pages of at
/// least 889 bytes every internal page but the root has two children after a rebalance, so this
/// is only reached by pathological key sets; the tree refuses to grow further ([`BTreeError::TooTall`]).
pub const MAX_HEIGHT: usize = 32;

/// Segment number reserved for pointers to dirty pages held in RAM (`off` is the pool slot);
/// never valid on the medium.
pub const DIRTY_SEG: u32 = u32::MAX;

/// Where one written page lives: segment, byte offset, and the sequence number of the segment
/// incarnation it was written in (stage 2 opens the page with nonce `(seq, off)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PagePtr {
    /// Segment.
    pub seg: u32,
    /// Byte offset inside the segment.
    pub off: u32,
    /// Sequence number of the write.
    pub seq: u64,
}

impl PagePtr {
    /// A pointer to the dirty page in pool slot `slot`.
    pub(crate) fn dirty(slot: u32) -> PagePtr {
        PagePtr {
            seg: DIRTY_SEG,
            off: slot,
            seq: 0,
        }
    }

    /// Whether this names a dirty page in RAM rather than a location on the medium.
    pub fn is_dirty(&self) -> bool {
        self.seg == DIRTY_SEG
    }
}

/// A key of the index: the namespace byte orders first (`0x00` system, `0x01` user), then the
/// key bytes (at most [`MAX_KEY`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'a> {
    /// Namespace.
    pub ns: u8,
    /// Key bytes.
    pub key: &'a [u8],
}

impl<'a> Key<'a> {
    /// A key in namespace `ns`.
    pub fn new(ns: u8, key: &'a [u8]) -> Key<'a> {
        Key { ns, key }
    }
}

/// The smallest key, `(0, "")`: the fence of the leftmost page at every level.
pub const MIN_KEY: Key<'static> = Key { ns: 0, key: &[] };

/// A leaf value.
// The inline variant is a fixed 256-byte array on purpose: values are copied out of pages
// without allocating, so reads stay within the budget's accounting.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// The value lives in a PUT record of the log.
    Loc {
        /// Segment.
        seg: u32,
        /// Offset of the record's first chunk.
        off: u32,
        /// Sequence number of the segment incarnation.
        seq: u64,
        /// Bytes of chunks the record occupies.
        disk_len: u32,
        /// Value length.
        vlen: u32,
    },
    /// A small value stored in the leaf (at most [`PageFormat::max_inline`] bytes).
    Inline {
        /// Length.
        len: u8,
        /// Bytes; those past `len` are zero.
        bytes: [u8; 255],
    },
    /// Blocks of a file stored in a data run (DESIGN.md, V2.2 *Extents*).
    Extent {
        /// Segment of the run.
        seg: u32,
        /// Offset of chunk `first_piece` of the run.
        off: u32,
        /// Sequence number of the segment incarnation.
        seq: u64,
        /// First chunk of the run this extent uses.
        first_piece: u32,
        /// Number of blocks.
        blocks: u16,
        /// Bytes in the last block.
        last_len: u16,
    },
}

impl Value {
    /// An inline value, if `b` is at most 255 bytes (the page format may allow fewer).
    pub fn inline(b: &[u8]) -> Option<Value> {
        let len = u8::try_from(b.len()).ok()?;
        let mut bytes = [0u8; 255];
        bytes[..b.len()].copy_from_slice(b);
        Some(Value::Inline { len, bytes })
    }
}

/// Configuration of a tree, fixed when it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Page size.
    pub format: PageFormat,
    /// `D`: most dirty pages at any time.
    pub max_dirty: usize,
    /// Most bytes the tree and its pool may hold ([`BTree::ram_bytes`]).
    pub ram_budget: usize,
}
