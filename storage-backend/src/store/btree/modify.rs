//! Changes to the tree: insert/replace and delete, with split, merge, redistribution and root
//! growth/shrink, all copy-on-write.
//!
//! Every change runs in two phases. The *plan* descends to the leaf (pinning the path) and
//! bounds the dirty pages the change can need from what it sees: clean pages on the path, a
//! new page per level that may split (a level may split if it cannot take the largest
//! separator entry), a new root, and for deletes a clean sibling per level that may rebalance.
//! If that bound exceeds `D` the change is refused before anything changed. The *apply* phase
//! then makes the path dirty (reporting each old location dead, pointing each parent at its
//! child's slot) and edits the encoded pages in place; a page that overflows is split through
//! the scratch buffer; an underfull one is rebalanced by `rebalance`.

use super::error::{BTreeError, Result};
use super::page::{self, HEADER, MAX_SEP_ENTRY, PTR_LEN};
use super::store::PageStore;
use super::tree::{BTree, KeyBuf, Step};
use super::{Key, MAX_HEIGHT, PagePtr, Value};

const LEAF_ENTRY_BUF: usize = page::MAX_KEY_FIELD + 2 + 255;

fn bug<T>(_: T) -> BTreeError {
    BTreeError::Internal
}

impl<S: PageStore> BTree<S> {
    /// Sets `k` to `v`; returns the value it replaced.
    pub fn insert(&mut self, k: Key<'_>, v: &Value) -> Result<Option<Value>> {
        self.check_key(k)?;
        if let Value::Inline { len, .. } = v
            && usize::from(*len) > self.cfg.format.max_inline()
        {
            return Err(BTreeError::InvalidArgument);
        }
        let mut ent = [0u8; LEAF_ENTRY_BUF];
        let elen = page::encode_leaf_entry(&mut ent, k, v).map_err(bug)?;
        let r = self
            .descend_mut(k)
            .and_then(|clean| self.insert_at(clean, &ent[..elen]));
        self.unpin_path();
        r
    }

    /// Removes `k`; returns its value if it was present.
    pub fn delete(&mut self, k: Key<'_>) -> Result<Option<Value>> {
        self.check_key(k)?;
        let r = self
            .descend_mut(k)
            .and_then(|clean| self.delete_at(clean, k));
        self.unpin_path();
        r
    }

    fn unpin_path(&mut self) {
        for i in 0..self.path.len() {
            let s = self.path[i].slot;
            self.pool.pin(s, false);
        }
        for i in 0..self.sib_pinned {
            let s = self.sib_pins[i];
            self.pool.pin(s, false);
        }
        self.sib_pinned = 0;
    }

    pub(crate) fn refuse(&mut self) -> BTreeError {
        self.counters.refusals += 1;
        if self.pool.dirty(self.owner) == 0 {
            BTreeError::DirtyCapTooSmall
        } else {
            BTreeError::NeedsCheckpoint
        }
    }

    /// Descends to the leaf for `k`, pinning the path; returns how many path pages are clean.
    /// Refuses as soon as the clean pages alone would exceed `D`.
    fn descend_mut(&mut self, k: Key<'_>) -> Result<usize> {
        self.path.clear();
        self.lo = KeyBuf::MIN;
        self.hi_set = false;
        let (mut r, mut ckpt, mut clean) = (self.root, u64::MAX, 0);
        for depth in 0..self.height {
            let level = (self.height - 1 - depth) as u8;
            if !r.is_dirty() {
                clean += 1;
                if self.pool.dirty(self.owner) + clean > self.cfg.max_dirty {
                    return Err(self.refuse());
                }
            }
            let slot = self.fetch(r, Some(level), depth == 0, ckpt, true)?;
            self.pool.pin(slot, true);
            let (idx, at, next) = if level == 0 {
                let (idx, at, _) = self.leaf_find(slot, k)?;
                (idx, at, r)
            } else {
                ckpt = self.child_gen(slot)?;
                self.child_find(slot, k)?
            };
            self.path.push(Step {
                ptr: r,
                slot,
                idx,
                at,
            });
            r = next;
        }
        Ok(clean)
    }

    pub(crate) fn page_size(&self) -> usize {
        self.cfg.format.plaintext()
    }

    pub(crate) fn used(&self, slot: u32) -> Result<usize> {
        page::used(self.pool.buf(slot)?, self.cfg.format.max_inline()).map_err(bug)
    }

    pub(crate) fn entry_len(&self, slot: u32, at: usize) -> Result<usize> {
        let b = self.pool.buf(slot)?;
        let level = page::level(b).map_err(bug)?;
        page::entry_len(b, at, level, self.cfg.format.max_inline()).map_err(bug)
    }

    /// Longest key field (ns, len, key) in the page at `slot`.
    fn max_key_field(&self, slot: u32) -> Result<usize> {
        let b = self.pool.buf(slot)?;
        let level = page::level(b).map_err(bug)?;
        let n = page::count(b).map_err(bug)?;
        let mut at = page::fence(b).map_err(bug)?.1;
        let mut max = 2;
        for _ in 0..n {
            let (k, _) = page::key_at(b, at).map_err(bug)?;
            max = max.max(2 + k.key.len());
            at += page::entry_len(b, at, level, self.cfg.format.max_inline()).map_err(bug)?;
        }
        Ok(max)
    }

    /// New pages needed if the page at `depth` splits, given that the longest key field it
    /// will hold is `key_field`: one for it, one per ancestor that may not take the separator
    /// pushed into it (a prefix of a key of the page below, or a separator of it), and a new
    /// root if the root splits.
    pub(crate) fn split_chain(&self, depth: usize, mut key_field: usize) -> Result<usize> {
        let mut extra = 1;
        for d in (0..depth).rev() {
            let slot = self.path[d].slot;
            if self.page_size() - self.used(slot)? >= key_field + PTR_LEN {
                return Ok(extra);
            }
            key_field = key_field.max(self.max_key_field(slot)?);
            extra += 1;
        }
        if self.height >= MAX_HEIGHT {
            return Err(BTreeError::TooTall);
        }
        Ok(extra + 1)
    }

    fn admit(&mut self, clean: usize, extra: usize) -> Result<()> {
        if self.pool.dirty(self.owner) + clean + extra > self.cfg.max_dirty {
            return Err(self.refuse());
        }
        Ok(())
    }

    fn insert_at(&mut self, clean: usize, ent: &[u8]) -> Result<Option<Value>> {
        let leaf = self.height - 1;
        let Step { slot, at, .. } = self.path[leaf];
        let (_, found) = {
            let b = self.pool.buf(slot)?;
            let n = page::count(b).map_err(bug)?;
            let i = self.path[leaf].idx;
            (
                n,
                i < n
                    && page::cmp(
                        page::key_at(b, at).map_err(bug)?.0,
                        page::key_at(ent, 0).map_err(bug)?.0,
                    )
                    .is_eq(),
            )
        };
        let (old, old_len) = if found {
            let b = self.pool.buf(slot)?;
            let after = page::key_at(b, at).map_err(bug)?.1;
            let (v, end) = page::value_at(b, after, self.cfg.format.max_inline()).map_err(bug)?;
            (Some(v), end - at)
        } else {
            (None, 0)
        };
        let overflow = self.used(slot)? - old_len + ent.len() > self.page_size();
        let extra = if overflow {
            let new_key = 2 + page::key_at(ent, 0).map_err(bug)?.0.key.len();
            self.split_chain(leaf, new_key.max(self.max_key_field(slot)?))?
        } else {
            0
        };
        self.admit(clean, extra)?;
        self.cow_path()?;
        let right = self.splice(slot, at, old_len, ent)?;
        self.propagate(leaf, right)?;
        Ok(old)
    }

    fn delete_at(&mut self, clean: usize, k: Key<'_>) -> Result<Option<Value>> {
        let leaf = self.height - 1;
        let Step { slot, at, idx, .. } = self.path[leaf];
        let b = self.pool.buf(slot)?;
        if idx >= page::count(b).map_err(bug)? {
            return Ok(None);
        }
        let (found, after) = page::key_at(b, at).map_err(bug)?;
        if page::cmp(found, k).is_ne() {
            return Ok(None);
        }
        let (old, end) = page::value_at(b, after, self.cfg.format.max_inline()).map_err(bug)?;
        let (_, bytes) = self.entry_bytes(slot)?;
        let underflow = leaf > 0 && bytes - (end - at) < self.cfg.format.underfull();
        let extra = if underflow {
            self.plan_rebalance(clean)?
        } else {
            0
        };
        self.admit(clean, extra)?;
        self.cow_path()?;
        self.splice(slot, at, end - at, &[])?;
        if underflow {
            self.rebalance(leaf)?;
        }
        Ok(Some(old))
    }

    /// Points the parent entry at `at` (its pointer follows the key) to `p`.
    pub(crate) fn set_child(&mut self, slot: u32, at: usize, p: PagePtr) -> Result<()> {
        let b = self.pool.buf_mut(slot)?;
        let after = page::key_at(b, at).map_err(bug)?.1;
        page::put_ptr(b, after, p).map_err(bug)
    }

    /// Makes the clean page in `slot` dirty: its old location is dead from now on.
    pub(crate) fn cow(&mut self, slot: u32) -> Result<()> {
        let s = self.pool.slot(slot)?;
        if s.state == super::pool::State::Clean {
            let ptr = s.ptr;
            self.store.mark_dead(ptr);
            self.pool.set_dirty(slot)?;
        }
        Ok(())
    }

    /// Makes every page of the path dirty, top-down, pointing each parent at its child's slot.
    fn cow_path(&mut self) -> Result<()> {
        for d in 0..self.path.len() {
            let slot = self.path[d].slot;
            self.cow(slot)?;
            let p = PagePtr::dirty(slot);
            if d == 0 {
                self.root = p;
            } else {
                let Step { slot: ps, at, .. } = self.path[d - 1];
                self.set_child(ps, at, p)?;
            }
            self.path[d].ptr = p;
        }
        Ok(())
    }

    /// Replaces `remove` bytes at `at` of the dirty page in `slot` with `new` (an entry, or
    /// nothing). If the page overflows it is split; the new right page is returned and its
    /// separator left in `self.sep`.
    pub(crate) fn splice(
        &mut self,
        slot: u32,
        at: usize,
        remove: usize,
        new: &[u8],
    ) -> Result<Option<u32>> {
        let used = self.used(slot)?;
        let p = self.page_size();
        let n = page::count(self.pool.buf(slot)?).map_err(bug)?;
        let n2 = n + usize::from(!new.is_empty()) - usize::from(remove > 0);
        let used2 = used - remove + new.len();
        if used2 <= p {
            let b = self.pool.buf_mut(slot)?;
            b.copy_within(at + remove..used, at + new.len());
            b[at..at + new.len()].copy_from_slice(new);
            if used2 < used {
                b[used2..used].fill(0);
            }
            page::set_count(b, n2).map_err(bug)?;
            return Ok(None);
        }
        let start = self.head_len(slot)?;
        let len = {
            let b = self.pool.buf(slot)?;
            let s = &mut self.scratch;
            let a = at - start;
            s[..a].copy_from_slice(&b[start..at]);
            s[a..a + new.len()].copy_from_slice(new);
            let tail = used - at - remove;
            s[a + new.len()..a + new.len() + tail].copy_from_slice(&b[at + remove..used]);
            a + new.len() + tail
        };
        let level = page::level(self.pool.buf(slot)?).map_err(bug)?;
        self.index_scratch(len, level)?;
        self.counters.splits += 1;
        self.split_scratch(slot, level, None).map(Some)
    }

    /// Fills `offs` with the entry starts of `scratch[..len]` and its end.
    pub(crate) fn index_scratch(&mut self, len: usize, level: u8) -> Result<()> {
        self.offs.clear();
        let mi = self.cfg.format.max_inline();
        let mut at = 0;
        while at < len {
            if self.offs.len() + 1 >= self.offs.capacity() {
                return Err(BTreeError::Internal);
            }
            self.offs.push(at as u16);
            at += page::entry_len(&self.scratch[..len], at, level, mi).map_err(bug)?;
        }
        self.offs.push(at as u16);
        Ok(())
    }

    /// Writes the entries in `scratch` (indexed by `offs`) into two pages: `left` keeps its
    /// fence, `right` (a new dirty page unless given) gets the separator, which is also left
    /// in `self.sep`. The split point is the most balanced one where both pages fit.
    pub(crate) fn split_scratch(
        &mut self,
        left: u32,
        level: u8,
        right: Option<u32>,
    ) -> Result<u32> {
        let p = self.page_size();
        let ne = self.offs.len() - 1;
        let lhead = self.head_len(left)?;
        let s = &self.scratch;
        let off = |i: usize| usize::from(self.offs[i]);
        let mut best: Option<(usize, usize)> = None;
        for k in 1..ne {
            let kk = page::key_at(s, off(k)).map_err(bug)?;
            let sep = if level == 0 {
                page::separator(page::key_at(s, off(k - 1)).map_err(bug)?.0, kk.0)
            } else {
                kk.0
            };
            let lu = lhead + off(k) - off(0);
            let first = if level == 0 { 0 } else { kk.1 - off(k) - 2 };
            let ru = HEADER + 2 + sep.key.len() + off(ne) - off(k) - first;
            if lu <= p && ru <= p {
                let score = lu.abs_diff(ru);
                if best.is_none_or(|(_, b)| score < b) {
                    best = Some((k, score));
                }
            }
        }
        let (k, _) = best.ok_or(BTreeError::Internal)?;
        let kk = page::key_at(s, off(k)).map_err(bug)?;
        let sep = if level == 0 {
            page::separator(page::key_at(s, off(k - 1)).map_err(bug)?.0, kk.0)
        } else {
            kk.0
        };
        self.sep.set(sep);
        let ckpt = page::generation(self.pool.buf(left)?).map_err(bug)?;
        // Left: header and fence stay, entries 0..k.
        let lb = self.pool.buf_mut(left)?;
        let lend = lhead + off(k) - off(0);
        lb[lhead..lend].copy_from_slice(&self.scratch[off(0)..off(k)]);
        lb[lend..].fill(0);
        page::set_count(lb, k).map_err(bug)?;
        // Right: the separator as fence; an internal page's entry 0 gets the empty separator.
        let r = match right {
            Some(r) => r,
            None => {
                let r = self.pool.alloc(self.owner)?;
                self.pool.set_dirty(r)?;
                r
            }
        };
        let sep = self.sep;
        let rb = self.pool.buf_mut(r)?;
        rb.fill(0);
        page::set_header(rb, level, ne - k, ckpt).map_err(bug)?;
        let mut at = page::put_key(rb, HEADER, sep.key()).map_err(bug)?;
        let mut from = off(k);
        if level > 0 {
            let after = page::key_at(&self.scratch, from).map_err(bug)?.1;
            at = page::put_key(rb, at, Key { ns: 0, key: &[] }).map_err(bug)?;
            rb[at..at + PTR_LEN].copy_from_slice(&self.scratch[after..after + PTR_LEN]);
            at += PTR_LEN;
            from = after + PTR_LEN;
        }
        let rest = off(ne) - from;
        rb.get_mut(at..at + rest)
            .ok_or(BTreeError::Internal)?
            .copy_from_slice(&self.scratch[from..off(ne)]);
        Ok(r)
    }

    /// After the page at `depth` split into itself and `right`: adds the separator to the
    /// parent (splitting it in turn as needed) or grows a new root.
    pub(crate) fn propagate(&mut self, mut depth: usize, mut right: Option<u32>) -> Result<()> {
        while let Some(r) = right {
            let left = self.path[depth].slot;
            let mut ent = [0u8; MAX_SEP_ENTRY];
            let sep = self.sep;
            let elen =
                page::encode_internal_entry(&mut ent, sep.key(), PagePtr::dirty(r)).map_err(bug)?;
            if depth == 0 {
                return self.grow_root(left, &ent[..elen]);
            }
            let parent = self.path[depth - 1];
            let at = parent.at + self.entry_len(parent.slot, parent.at)?;
            right = self.splice(parent.slot, at, 0, &ent[..elen])?;
            depth -= 1;
        }
        Ok(())
    }

    pub(crate) fn grow_root(&mut self, left: u32, second: &[u8]) -> Result<()> {
        if self.height >= MAX_HEIGHT {
            return Err(BTreeError::TooTall);
        }
        let ckpt = page::generation(self.pool.buf(left)?).map_err(bug)?;
        let root = self.pool.alloc(self.owner)?;
        self.pool.set_dirty(root)?;
        let b = self.pool.buf_mut(root)?;
        page::set_header(b, self.height as u8, 2, ckpt).map_err(bug)?;
        let none = Key { ns: 0, key: &[] };
        let at = page::put_key(b, HEADER, none).map_err(bug)?;
        let at = at
            + page::encode_internal_entry(&mut b[at..], none, PagePtr::dirty(left)).map_err(bug)?;
        b.get_mut(at..at + second.len())
            .ok_or(BTreeError::Internal)?
            .copy_from_slice(second);
        self.root = PagePtr::dirty(root);
        self.height += 1;
        self.counters.root_grows += 1;
        Ok(())
    }
}
