//! Typed errors of the B+tree: what is wrong with a page read from the medium ([`PageError`]) and
//! why an operation of the tree failed ([`BTreeError`]). Nothing a page store returns can make the
//! tree panic; every malformed byte becomes one of these.

use super::PagePtr;
use crate::store::error::StoreError;

/// What is malformed in a page read from the page store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    /// The buffer is not exactly one page plaintext long.
    Size,
    /// The first byte is not the page kind.
    Kind,
    /// The level is above the maximum height, or not the level the parent implies.
    Level,
    /// The entry count is impossible (an internal page without children).
    Count,
    /// A length runs past the end of the page.
    Truncated,
    /// Keys (or separators) are not strictly increasing, or the first is below the fence.
    KeyOrder,
    /// A leaf value has an unknown type byte.
    ValueType,
    /// An inline value is longer than the page format allows.
    InlineLength,
    /// Bytes after the last entry are not zero.
    Padding,
    /// The first separator of an internal page is not the empty placeholder.
    FirstSeparator,
    /// A child pointer uses the segment number reserved for in-RAM (dirty) pages.
    ReservedPointer,
    /// The fence is not the lower bound the parent gives this page.
    Fence,
    /// A key is not below the upper bound the parent gives this page.
    Bound,
    /// The page claims a newer checkpoint than its parent.
    Generation,
    /// A non-root page holds no entry.
    Empty,
}

/// Errors of the B+tree and its page pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BTreeError {
    /// The page store failed (device, authentication, unknown location).
    Store(StoreError),
    /// A page read from the store is malformed; `ptr` is where it was read from.
    Corrupt {
        /// The location the page was read from.
        ptr: PagePtr,
        /// What is wrong with it.
        error: PageError,
    },
    /// The change would need more dirty pages than the cap `D` allows; nothing was changed.
    /// Flush (checkpoint) and retry.
    NeedsCheckpoint,
    /// Even with no dirty page the change needs more than `D` dirty pages (the tree is too tall
    /// for the cap); nothing was changed.
    DirtyCapTooSmall,
    /// The RAM budget given at open is below the minimum for the page size and `D`.
    Budget {
        /// The smallest budget that works for this configuration.
        minimum: usize,
    },
    /// A key, value, page size, cap or generation is out of range.
    InvalidArgument,
    /// The tree would grow above [`super::MAX_HEIGHT`] levels; nothing was changed.
    TooTall,
    /// An internal invariant of the tree or pool does not hold (a bug, reported instead of a
    /// panic). The tree should be dropped and reopened from its last flushed root.
    Internal,
}

impl From<StoreError> for BTreeError {
    fn from(e: StoreError) -> Self {
        BTreeError::Store(e)
    }
}

/// Result of the B+tree.
pub type Result<T> = core::result::Result<T, BTreeError>;
