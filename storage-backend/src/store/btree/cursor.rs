//! Ordered scans and the structural check.
//!
//! A [`Cursor`] holds one `(page pointer, entry)` step per level in the tree's preallocated
//! path (no sibling links: a CoW tree cannot keep them) and re-descends from the lowest
//! ancestor with a next child when it leaves a leaf. It holds no page: each step re-finds its
//! page in the pool (or reads it again), so a scan needs one free slot whatever its length.
//! Keys come out strictly increasing or the scan fails with `Corrupt`.
//!
//! [`BTree::stats`] walks every page, checks it as a read from the medium would be checked
//! (plus fences and bounds against the parent) and reports the shape of the tree.

use super::check::{self, Expect};
use super::error::{BTreeError, PageError, Result};
use super::page::{self, MAX_KEY, PTR_LEN};
use super::store::PageStore;
use super::tree::{BTree, KeyBuf, Step};
use super::{Key, MAX_HEIGHT, PagePtr, Value};

fn bug<T>(_: T) -> BTreeError {
    BTreeError::Internal
}

/// One key and its value, copied out of a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Namespace.
    pub ns: u8,
    len: u8,
    bytes: [u8; MAX_KEY],
    /// Value.
    pub value: Value,
}

impl Entry {
    /// Key bytes.
    pub fn key(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A scan in key order from a start key; borrows the tree (no change while it runs).
pub struct Cursor<'t, S: PageStore> {
    tree: &'t mut BTree<S>,
    /// The last key returned (`kb[1]` of the tree holds its bytes) or the start key.
    started: bool,
}

impl<S: PageStore> BTree<S> {
    /// A cursor at the first key at or after `start`.
    pub fn cursor(&mut self, start: Key<'_>) -> Result<Cursor<'_, S>> {
        self.check_key(start)?;
        self.path.clear();
        self.cursor_done = false;
        self.lo = KeyBuf::MIN;
        self.hi_set = false;
        let (mut r, mut ckpt) = (self.root, u64::MAX);
        for depth in 0..self.height {
            let level = (self.height - 1 - depth) as u8;
            let slot = self.fetch(r, Some(level), depth == 0, ckpt, true)?;
            let (idx, at, next) = if level == 0 {
                let (i, a, _) = self.leaf_find(slot, start)?;
                (i, a, r)
            } else {
                ckpt = self.child_gen(slot)?;
                self.child_find(slot, start)?
            };
            self.path.push(Step {
                ptr: r,
                slot,
                idx,
                at,
            });
            r = next;
        }
        self.kb[1].set(start);
        Ok(Cursor {
            tree: self,
            started: false,
        })
    }

    /// The slot of the page of step `d`, re-read if it was evicted (its fence was checked when
    /// the cursor first reached it).
    fn step_slot(&mut self, d: usize) -> Result<u32> {
        let level = (self.height - 1 - d) as u8;
        self.hi_set = false;
        self.fetch(self.path[d].ptr, Some(level), d == 0, u64::MAX, false)
    }

    fn cursor_next(&mut self, started: bool) -> Result<Option<Entry>> {
        if self.cursor_done {
            return Ok(None);
        }
        let leaf = self.height - 1;
        loop {
            let slot = self.step_slot(leaf)?;
            let Step { idx, at, .. } = self.path[leaf];
            let b = self.pool.buf(slot)?;
            if idx < page::count(b).map_err(bug)? {
                let (k, after) = page::key_at(b, at).map_err(bug)?;
                let (value, end) =
                    page::value_at(b, after, self.cfg.format.max_inline()).map_err(bug)?;
                let prev = self.kb[1].key();
                if started && page::cmp(prev, k).is_ge() {
                    let ptr = self.path[leaf].ptr;
                    return Err(BTreeError::Corrupt {
                        ptr,
                        error: PageError::KeyOrder,
                    });
                }
                let mut e = Entry {
                    ns: k.ns,
                    len: k.key.len() as u8,
                    bytes: [0; MAX_KEY],
                    value,
                };
                e.bytes[..k.key.len()].copy_from_slice(k.key);
                self.kb[1].set(k);
                self.path[leaf].idx += 1;
                self.path[leaf].at = end;
                return Ok(Some(e));
            }
            // Leaf done: find the lowest ancestor with a next child and descend its left edge.
            let mut d = leaf;
            loop {
                if d == 0 {
                    self.cursor_done = true;
                    return Ok(None);
                }
                d -= 1;
                let ps = self.step_slot(d)?;
                let Step { idx, at, .. } = self.path[d];
                let b = self.pool.buf(ps)?;
                if idx + 1 < page::count(b).map_err(bug)? {
                    let next = page::key_at(b, at).map_err(bug)?.1 + PTR_LEN;
                    let (sep, after) = page::key_at(b, next).map_err(bug)?;
                    self.lo.set(sep);
                    self.path[d].idx += 1;
                    self.path[d].at = next;
                    let mut r = page::ptr_at(b, after).map_err(bug)?;
                    let mut ckpt = self.child_gen(ps)?;
                    for dd in d + 1..=leaf {
                        let level = (self.height - 1 - dd) as u8;
                        self.hi_set = false;
                        let s = self.fetch(r, Some(level), false, ckpt, true)?;
                        let b = self.pool.buf(s)?;
                        let at = page::fence(b).map_err(bug)?.1;
                        self.path[dd] = Step {
                            ptr: r,
                            slot: s,
                            idx: 0,
                            at,
                        };
                        if dd < leaf {
                            r = page::ptr_at(b, at + 2).map_err(bug)?;
                            ckpt = self.child_gen(s)?;
                        }
                    }
                    break;
                }
            }
        }
    }
}

impl<S: PageStore> Cursor<'_, S> {
    /// The next entry in key order, or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        let r = self.tree.cursor_next(self.started);
        self.started = true;
        if r.is_err() {
            self.tree.cursor_done = true;
        }
        r
    }
}

/// The shape of a tree, from [`BTree::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Levels.
    pub height: usize,
    /// Keys.
    pub entries: usize,
    /// Pages per level (index 0 = leaves).
    pub pages: [usize; MAX_HEIGHT],
    /// Entries per level.
    pub entries_per_level: [usize; MAX_HEIGHT],
    /// Fewest entries in a non-root page, per level.
    pub min_entries: [usize; MAX_HEIGHT],
    /// Fewest entry bytes in a non-root page (over all levels).
    pub min_bytes: usize,
}

impl<S: PageStore> BTree<S> {
    /// Walks every page (reading evicted ones back), checks each as a page from the medium is
    /// checked plus its fence and upper bound against the parent, and reports the shape.
    pub fn stats(&mut self) -> Result<TreeStats> {
        let mut st = TreeStats {
            height: self.height,
            min_bytes: usize::MAX,
            ..Default::default()
        };
        st.min_entries = [usize::MAX; MAX_HEIGHT];
        let root = self.root;
        self.walk(
            root,
            self.height - 1,
            KeyBuf::MIN,
            None,
            u64::MAX,
            true,
            &mut st,
        )?;
        Ok(st)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        r: PagePtr,
        level: usize,
        lo: KeyBuf,
        hi: Option<KeyBuf>,
        ckpt: u64,
        root: bool,
        st: &mut TreeStats,
    ) -> Result<()> {
        self.lo = lo;
        self.hi_set = hi.is_some();
        if let Some(h) = hi {
            self.hi = h;
        }
        let slot = self.fetch(r, Some(level as u8), root, ckpt, true)?;
        let exp = Expect {
            level: Some(level as u8),
            fence: Some(lo.key()),
            upper: hi.as_ref().map(|h| h.key()),
            max_gen: ckpt,
            root,
            in_ram: true,
        };
        let b = self.pool.buf(slot)?;
        check::validate(b, &self.cfg.format, &exp)
            .map_err(|error| BTreeError::Corrupt { ptr: r, error })?;
        let n = page::count(b).map_err(bug)?;
        st.pages[level] += 1;
        st.entries_per_level[level] += n;
        if !root {
            st.min_entries[level] = st.min_entries[level].min(n);
            st.min_bytes = st.min_bytes.min(self.entry_bytes(slot)?.1);
        }
        if level == 0 {
            st.entries += n;
            return Ok(());
        }
        let cgen = self.child_gen(slot)?;
        // Children one by one; the page may be evicted meanwhile, so re-find it by pointer.
        let mut at = page::fence(self.pool.buf(slot)?).map_err(bug)?.1;
        for i in 0..n {
            let (mut clo, mut chi) = (lo, hi);
            let (child, next_at) = {
                let slot = self.refind(r, level, &lo, hi.as_ref(), ckpt, root)?;
                let b = self.pool.buf(slot)?;
                let (k, after) = page::key_at(b, at).map_err(bug)?;
                if i > 0 {
                    clo.set(k);
                }
                let next = after + PTR_LEN;
                if i + 1 < n {
                    let mut h = KeyBuf::MIN;
                    h.set(page::key_at(b, next).map_err(bug)?.0);
                    chi = Some(h);
                }
                (page::ptr_at(b, after).map_err(bug)?, next)
            };
            self.walk(child, level - 1, clo, chi, cgen, false, st)?;
            at = next_at;
        }
        Ok(())
    }

    fn refind(
        &mut self,
        r: PagePtr,
        level: usize,
        lo: &KeyBuf,
        hi: Option<&KeyBuf>,
        ckpt: u64,
        root: bool,
    ) -> Result<u32> {
        self.lo = *lo;
        self.hi_set = hi.is_some();
        if let Some(h) = hi {
            self.hi = *h;
        }
        self.fetch(r, Some(level as u8), root, ckpt, true)
    }
}
