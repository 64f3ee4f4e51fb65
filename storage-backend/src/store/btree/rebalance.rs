//! Rebalancing after a delete: an underfull page (entry bytes below a quarter of a page's
//! capacity) is merged with a sibling, or the two are redistributed when they do not fit in
//! one page; merges may empty the parent in turn, up to the root, which is replaced by its only
//! child. The plan reads every sibling the chain may need before anything changes, so a
//! failing read refuses the delete instead of leaving it half applied.

use super::PagePtr;
use super::error::{BTreeError, Result};
use super::page::{self, MAX_SEP_ENTRY, PTR_LEN};
use super::store::PageStore;
use super::tree::BTree;

fn bug<T>(_: T) -> BTreeError {
    BTreeError::Internal
}

impl<S: PageStore> BTree<S> {
    /// Plans the rebalance a delete from the (underflowing) leaf can trigger: bounds the extra
    /// dirty pages it can need, and reads and pins each sibling it may merge with, so that
    /// applying the delete reads nothing and cannot fail halfway. Refuses (nothing changed) as
    /// soon as the count passes `D`.
    pub(crate) fn plan_rebalance(&mut self, clean: usize) -> Result<usize> {
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
                if self.pool.dirty(self.owner) + clean + extra > self.cfg.max_dirty {
                    return Err(self.refuse());
                }
            }
            let right = ri != parent.idx;
            let sib = self.fetch_sibling(parent.slot, li, at_l, at_r, right, d)?;
            self.pool.pin(sib, true);
            self.sib_pins[self.sib_pinned] = sib;
            self.sib_pinned += 1;
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
    pub(crate) fn pair_offsets(
        &self,
        slot: u32,
        idx: usize,
        at: usize,
        li: usize,
    ) -> Result<(usize, usize)> {
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

    /// Restores the fill of the underfull page at `depth` (and of its ancestors, as merges
    /// empty them) by merging with or borrowing from a sibling.
    pub(crate) fn rebalance(&mut self, mut d: usize) -> Result<()> {
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
            // Read and pinned by `plan_rebalance`: found in the pool, no read.
            let sib = self.fetch_sibling(parent.slot, li, at_l, at_r, right_is_sib, d)?;
            let sib_at = if right_is_sib { at_r } else { at_l };
            self.cow(sib)?;
            self.set_child(parent.slot, sib_at, PagePtr::dirty(sib))?;
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

    /// The slot of the sibling of the child at depth `d` (read and checked against its bounds in
    /// the parent if it is not cached).
    fn fetch_sibling(
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
        self.fetch(ptr, Some(level), false, ckpt, true)
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
