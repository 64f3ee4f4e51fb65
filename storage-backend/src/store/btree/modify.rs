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
//! the scratch buffer, and an underfull one (entry bytes below a quarter of a page) is merged
//! with a sibling, or the two are redistributed when they do not fit in one page.

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
    }

    fn refuse(&mut self) -> BTreeError {
        self.counters.refusals += 1;
        if self.pool.dirty() == 0 {
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
                if self.pool.dirty() + clean > self.cfg.max_dirty {
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

    fn page_size(&self) -> usize {
        self.cfg.format.plaintext()
    }

    fn used(&self, slot: u32) -> Result<usize> {
        page::used(self.pool.buf(slot)?, self.cfg.format.max_inline()).map_err(bug)
    }

    fn entry_len(&self, slot: u32, at: usize) -> Result<usize> {
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
    fn split_chain(&self, depth: usize, mut key_field: usize) -> Result<usize> {
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
        if self.pool.dirty() + clean + extra > self.cfg.max_dirty {
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
            self.rebalance_bound()?
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

    /// Bound of extra dirty pages a rebalance chain starting at the leaf can need.
    fn rebalance_bound(&self) -> Result<usize> {
        let (mut extra, mut d) = (0, self.height - 1);
        while d > 0 {
            let parent = self.path[d - 1];
            let b = self.pool.buf(parent.slot)?;
            let n = page::count(b).map_err(bug)?;
            if n < 2 {
                break;
            }
            let (li, ri) = if parent.idx + 1 < n {
                (parent.idx, parent.idx + 1)
            } else {
                (parent.idx - 1, parent.idx)
            };
            let (at_l, at_r) = self.pair_offsets(parent.slot, parent.idx, parent.at, li)?;
            let sib_at = if ri == parent.idx { at_l } else { at_r };
            let sib_ptr = {
                let after = page::key_at(b, sib_at).map_err(bug)?.1;
                page::ptr_at(b, after).map_err(bug)?
            };
            if !sib_ptr.is_dirty() {
                extra += 1;
            }
            let len_r = self.entry_len(parent.slot, at_r)?;
            let pused = self.used(parent.slot)?;
            // Redistribution replaces the right child's separator: the parent may split.
            if pused - len_r + MAX_SEP_ENTRY > self.page_size() {
                extra += self.split_chain(d - 1, MAX_SEP_ENTRY - PTR_LEN)?;
            }
            // A merge removes the right child's entry: the parent may underflow in turn.
            let head = self.head_len(parent.slot)?;
            if d - 1 == 0 || pused - len_r - head >= self.cfg.format.underfull() {
                break;
            }
            d -= 1;
        }
        Ok(extra)
    }

    /// Offsets of entries `li` and `li + 1` of the internal page at `slot`, given that entry
    /// `idx` (one of them) is at `at`.
    fn pair_offsets(&self, slot: u32, idx: usize, at: usize, li: usize) -> Result<(usize, usize)> {
        let at_l = if li == idx {
            at
        } else {
            let b = self.pool.buf(slot)?;
            let mut o = page::fence(b).map_err(bug)?.1;
            for _ in 0..li {
                o += self.entry_len(slot, o)?;
            }
            o
        };
        Ok((at_l, at_l + self.entry_len(slot, at_l)?))
    }

    /// Points the parent entry at `at` (its pointer follows the key) to `p`.
    fn set_child(&mut self, slot: u32, at: usize, p: PagePtr) -> Result<()> {
        let b = self.pool.buf_mut(slot)?;
        let after = page::key_at(b, at).map_err(bug)?.1;
        page::put_ptr(b, after, p).map_err(bug)
    }

    /// Makes the clean page in `slot` dirty: its old location is dead from now on.
    fn cow(&mut self, slot: u32) -> Result<()> {
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
    fn splice(&mut self, slot: u32, at: usize, remove: usize, new: &[u8]) -> Result<Option<u32>> {
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
    fn index_scratch(&mut self, len: usize, level: u8) -> Result<()> {
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
    fn split_scratch(&mut self, left: u32, level: u8, right: Option<u32>) -> Result<u32> {
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
                let r = self.pool.alloc()?;
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
    fn propagate(&mut self, mut depth: usize, mut right: Option<u32>) -> Result<()> {
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

    fn grow_root(&mut self, left: u32, second: &[u8]) -> Result<()> {
        if self.height >= MAX_HEIGHT {
            return Err(BTreeError::TooTall);
        }
        let ckpt = page::generation(self.pool.buf(left)?).map_err(bug)?;
        let root = self.pool.alloc()?;
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

    /// Restores the fill of the underfull page at `depth` (and of its ancestors, as merges
    /// empty them) by merging with or borrowing from a sibling.
    fn rebalance(&mut self, mut d: usize) -> Result<()> {
        while d > 0 {
            let child = self.path[d].slot;
            if self.entry_bytes(child)?.1 >= self.cfg.format.underfull() {
                return Ok(());
            }
            let parent = self.path[d - 1];
            let n = page::count(self.pool.buf(parent.slot)?).map_err(bug)?;
            if n < 2 {
                return Ok(());
            }
            let right_is_sib = parent.idx + 1 < n;
            let li = if right_is_sib {
                parent.idx
            } else {
                parent.idx - 1
            };
            let (at_l, at_r) = self.pair_offsets(parent.slot, parent.idx, parent.at, li)?;
            let sib = self.load_sibling(parent.slot, li, at_l, at_r, right_is_sib, d)?;
            let (l, r) = if right_is_sib {
                (child, sib)
            } else {
                (sib, child)
            };
            let level = page::level(self.pool.buf(child)?).map_err(bug)?;
            // The right page's separator in the parent becomes the key of its entry 0.
            let pb = self.pool.buf(parent.slot)?;
            let (rsep, _) = page::key_at(pb, at_r).map_err(bug)?;
            self.kb[0].set(rsep);
            let len = self.gather(l, r, level)?;
            self.index_scratch(len, level)?;
            let len_r = self.entry_len(parent.slot, at_r)?;
            if self.head_len(l)? + len <= self.page_size() {
                self.counters.merges += 1;
                self.write_merged(l, len)?;
                self.pool.release(r)?;
                self.splice(parent.slot, at_r, len_r, &[])?;
                if d - 1 == 0 && page::count(self.pool.buf(parent.slot)?).map_err(bug)? == 1 {
                    self.counters.root_shrinks += 1;
                    self.pool.release(parent.slot)?;
                    self.root = PagePtr::dirty(l);
                    self.height -= 1;
                    return Ok(());
                }
                d -= 1;
                continue;
            }
            self.counters.redistributions += 1;
            self.split_scratch(l, level, Some(r))?;
            let mut ent = [0u8; MAX_SEP_ENTRY];
            let sep = self.sep;
            let elen =
                page::encode_internal_entry(&mut ent, sep.key(), PagePtr::dirty(r)).map_err(bug)?;
            let split = self.splice(parent.slot, at_r, len_r, &ent[..elen])?;
            return self.propagate(d - 1, split);
        }
        Ok(())
    }

    /// Reads the sibling of the child at `d` (checked against its bounds in the parent) and
    /// makes it dirty; returns its slot.
    fn load_sibling(
        &mut self,
        ps: u32,
        li: usize,
        at_l: usize,
        at_r: usize,
        right: bool,
        d: usize,
    ) -> Result<u32> {
        let level = (self.height - 1 - d) as u8;
        let pb = self.pool.buf(ps)?;
        let n = page::count(pb).map_err(bug)?;
        let (sib_at, sib_idx) = if right { (at_r, li + 1) } else { (at_l, li) };
        let (key, after) = page::key_at(pb, sib_at).map_err(bug)?;
        let ptr = page::ptr_at(pb, after).map_err(bug)?;
        // Fence: the sibling's separator (entry 0: the parent's fence); upper: the next one.
        if sib_idx == 0 {
            let f = page::fence(pb).map_err(bug)?.0;
            self.lo.set(f);
        } else {
            self.lo.set(key);
        }
        self.hi_set = false;
        if sib_idx + 1 < n {
            let next = after + PTR_LEN;
            let (k2, _) = page::key_at(pb, next).map_err(bug)?;
            self.hi.set(k2);
            self.hi_set = true;
        }
        let ckpt = self.child_gen(ps)?;
        let slot = self.fetch(ptr, Some(level), false, ckpt, true)?;
        self.cow(slot)?;
        self.set_child(ps, sib_at, PagePtr::dirty(slot))?;
        Ok(slot)
    }

    /// Copies the entries of `l` and then `r` into the scratch; for internal pages the right
    /// page's entry 0 gets its real separator (`kb[0]`). Returns the bytes gathered.
    fn gather(&mut self, l: u32, r: u32, level: u8) -> Result<usize> {
        let (ls, lbytes) = self.entry_bytes(l)?;
        let (rs, rbytes) = self.entry_bytes(r)?;
        let lb = self.pool.buf(l)?;
        let s = &mut self.scratch;
        s[..lbytes].copy_from_slice(&lb[ls..ls + lbytes]);
        let mut at = lbytes;
        let rb = self.pool.buf(r)?;
        let mut from = rs;
        if level > 0 && rbytes > 0 {
            let after = page::key_at(rb, rs).map_err(bug)?.1;
            at = page::put_key(s, at, self.kb[0].key()).map_err(bug)?;
            s[at..at + PTR_LEN].copy_from_slice(&rb[after..after + PTR_LEN]);
            at += PTR_LEN;
            from = after + PTR_LEN;
        }
        let rest = rs + rbytes - from;
        s[at..at + rest].copy_from_slice(&rb[from..from + rest]);
        Ok(at + rest)
    }

    /// Writes all gathered entries into `l` (which keeps its header and fence).
    fn write_merged(&mut self, l: u32, len: usize) -> Result<()> {
        let head = self.head_len(l)?;
        let ne = self.offs.len() - 1;
        let b = self.pool.buf_mut(l)?;
        b[head..head + len].copy_from_slice(&self.scratch[..len]);
        b[head + len..].fill(0);
        page::set_count(b, ne).map_err(bug)
    }
}
