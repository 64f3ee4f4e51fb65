//! Validation of a page read from the page store, before the tree uses it.
//!
//! [`validate`] proves everything the accessors of [`super::page`] and the tree rely on: the
//! page kind, a level below the maximum height, entries that end inside the page, known value
//! types, inline lengths within the format, keys strictly increasing and not below the fence,
//! the empty first separator of internal pages, no reserved (in-RAM) child pointer, and zero
//! padding. [`Expect`] adds what the parent says about the page: its level, fence, upper bound
//! and the newest generation it may carry. A page that passes can be used without further checks.

use super::error::PageError;
use super::page::{self, PTR_LEN, PageFormat};
use super::{Key, MAX_HEIGHT};

/// What the parent (or the tree) says a page must be.
pub struct Expect<'a> {
    /// The page's level, if known (unknown only for the root at open).
    pub level: Option<u8>,
    /// The fence the page must carry, if known (a cursor re-reading an evicted page has it
    /// checked already).
    pub fence: Option<Key<'a>>,
    /// Every key must be below this, if set.
    pub upper: Option<Key<'a>>,
    /// The page's generation must not be above this.
    pub max_gen: u64,
    /// A non-root page must hold an entry.
    pub root: bool,
    /// A page held in RAM (dirty) may point to other dirty pages.
    pub in_ram: bool,
}

/// Checks a page read from the store; returns its used length.
pub fn validate(b: &[u8], f: &PageFormat, e: &Expect<'_>) -> Result<usize, PageError> {
    if b.len() != f.plaintext() {
        return Err(PageError::Size);
    }
    if b[0] != page::PAGE_KIND {
        return Err(PageError::Kind);
    }
    let level = page::level(b)?;
    if usize::from(level) >= MAX_HEIGHT || e.level.is_some_and(|l| l != level) {
        return Err(PageError::Level);
    }
    let n = page::count(b)?;
    if n == 0 && (level > 0 || !e.root) {
        return Err(if level > 0 {
            PageError::Count
        } else {
            PageError::Empty
        });
    }
    if page::generation(b)? > e.max_gen {
        return Err(PageError::Generation);
    }
    let (fence, mut at) = page::fence(b)?;
    if e.fence.is_some_and(|x| page::cmp(fence, x).is_ne()) {
        return Err(PageError::Fence);
    }
    let mut prev: Option<Key<'_>> = None;
    for i in 0..n {
        let (k, after) = page::key_at(b, at)?;
        at = if level == 0 {
            after + page::value_len_at(b, after, f.max_inline())?
        } else {
            if i == 0 && (k.ns != 0 || !k.key.is_empty()) {
                return Err(PageError::FirstSeparator);
            }
            let p = page::ptr_at(b, after)?;
            if p.is_dirty() && !e.in_ram {
                return Err(PageError::ReservedPointer);
            }
            after + PTR_LEN
        };
        // Entry 0 of an internal page stands for the fence; its stored key is a placeholder.
        let key = if level > 0 && i == 0 { fence } else { k };
        match prev {
            Some(p) if page::cmp(p, key).is_ge() => return Err(PageError::KeyOrder),
            None if page::cmp(fence, key).is_gt() => return Err(PageError::KeyOrder),
            _ => {}
        }
        prev = Some(key);
    }
    // Keys increase, so the last one alone decides the upper bound.
    if let (Some(last), Some(u)) = (prev, e.upper)
        && page::cmp(last, u).is_ge()
    {
        return Err(PageError::Bound);
    }
    if at > b.len() {
        return Err(PageError::Truncated);
    }
    // Eight bytes at a time: the padding is often a third of a page.
    let pad = &b[at..];
    let words = pad.chunks_exact(8);
    let rest = words.remainder();
    if words.into_iter().any(|w| w != [0; 8]) || rest.iter().any(|&x| x != 0) {
        return Err(PageError::Padding);
    }
    Ok(at)
}
