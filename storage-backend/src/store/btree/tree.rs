//! The tree handle: open/create, the RAM budget, page fetch with validation, point lookups and
//! the checkpoint's flush. Changes live in `modify`, scans in `cursor`.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::size_of;

use super::check::{self, Expect};
use super::error::{BTreeError, Result};
use super::page::{self, MAX_KEY, MAX_SEP_ENTRY, PTR_LEN};
use super::pool::{Pool, State};
use super::store::PageStore;
use super::{Config, Key, MAX_HEIGHT, PagePtr, Value};

/// A key copied out of a page (fixed size: no allocation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyBuf {
    ns: u8,
    len: u8,
    bytes: [u8; MAX_KEY],
}

impl KeyBuf {
    pub const MIN: KeyBuf = KeyBuf {
        ns: 0,
        len: 0,
        bytes: [0; MAX_KEY],
    };

    pub fn key(&self) -> Key<'_> {
        Key {
            ns: self.ns,
            key: &self.bytes[..usize::from(self.len)],
        }
    }

    pub fn set(&mut self, k: Key<'_>) {
        let n = k.key.len().min(MAX_KEY);
        self.ns = k.ns;
        self.len = n as u8;
        self.bytes[..n].copy_from_slice(&k.key[..n]);
    }
}

/// One level of a descent: the page (pointer and pool slot), the entry chosen, its offset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub ptr: PagePtr,
    pub slot: u32,
    pub idx: usize,
    pub at: usize,
}

/// What the tree has done since it was opened (structural changes and refusals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Pages split (leaf or internal).
    pub splits: u64,
    /// Pairs of siblings merged into one page.
    pub merges: u64,
    /// Pairs of siblings whose entries were redistributed.
    pub redistributions: u64,
    /// New roots (the tree grew a level).
    pub root_grows: u64,
    /// Roots replaced by their only child (the tree lost a level).
    pub root_shrinks: u64,
    /// Changes refused for the dirty-page cap.
    pub refusals: u64,
}

/// A copy-on-write B+tree over a [`PageStore`], cached in a pool bounded by a RAM budget.
pub struct BTree<S: PageStore> {
    pub(crate) store: S,
    pub(crate) pool: Pool,
    pub(crate) cfg: Config,
    /// The root: a medium location, or a dirty marker.
    pub(crate) root: PagePtr,
    /// Levels (1 = the root is a leaf).
    pub(crate) height: usize,
    /// Newest generation flushed or seen at open.
    pub(crate) max_gen: u64,
    /// Root-to-leaf steps of the current operation or cursor (capacity [`MAX_HEIGHT`]).
    pub(crate) path: Vec<Step>,
    /// Entries of up to two pages being split, merged or redistributed.
    pub(crate) scratch: Vec<u8>,
    /// Entry start offsets in `scratch`, then its end.
    pub(crate) offs: Vec<u16>,
    /// Bounds of the page being fetched: its fence and (if `hi_set`) its upper bound.
    pub(crate) lo: KeyBuf,
    pub(crate) hi: KeyBuf,
    pub(crate) hi_set: bool,
    /// The separator produced by the last split.
    pub(crate) sep: KeyBuf,
    /// Spare key buffers for rebalancing and cursors.
    pub(crate) kb: [KeyBuf; 2],
    pub(crate) cursor_done: bool,
    pub(crate) counters: Counters,
    /// Siblings pinned by a delete's plan (unpinned with the path).
    pub(crate) sib_pins: [u32; MAX_HEIGHT],
    pub(crate) sib_pinned: usize,
    /// Which tree of a shared pool this is (0 when the pool is its own).
    pub(crate) owner: u8,
}

impl<S: PageStore> BTree<S> {
    fn scratch_len(cfg: &Config) -> usize {
        2 * cfg.format.plaintext() + MAX_SEP_ENTRY
    }

    fn fixed_bytes(cfg: &Config) -> usize {
        let s = Self::scratch_len(cfg);
        size_of::<Self>() + MAX_HEIGHT * size_of::<Step>() + s + (s / 4 + 4) * 2
    }

    /// The smallest budget that opens a tree with this page size and `D`: fixed buffers plus
    /// `D + 1` page slots (every dirty page and one page being read).
    pub fn min_budget(cfg: &Config) -> usize {
        Self::fixed_bytes(cfg) + Pool::bytes_for(cfg.max_dirty + 1, cfg.format.plaintext())
    }

    fn new(store: S, cfg: Config) -> Result<Self> {
        if cfg.max_dirty == 0 || cfg.max_dirty >= u32::MAX as usize / 2 {
            return Err(BTreeError::InvalidArgument);
        }
        let min = Self::min_budget(&cfg);
        if cfg.ram_budget < min {
            return Err(BTreeError::Budget { minimum: min });
        }
        // Largest slot count whose pool fits next to the fixed buffers.
        let room = cfg.ram_budget - Self::fixed_bytes(&cfg);
        let p = cfg.format.plaintext();
        let (mut lo, mut hi) = (cfg.max_dirty + 1, room / p + 1);
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if Pool::bytes_for(mid, p) <= room {
                lo = mid
            } else {
                hi = mid
            }
        }
        let s = Self::scratch_len(&cfg);
        Ok(BTree {
            store,
            pool: Pool::new(lo, p)?,
            cfg,
            root: PagePtr::default(),
            height: 1,
            max_gen: 0,
            path: Vec::with_capacity(MAX_HEIGHT),
            scratch: vec![0; s],
            offs: Vec::with_capacity(s / 4 + 4),
            lo: KeyBuf::MIN,
            hi: KeyBuf::MIN,
            hi_set: false,
            sep: KeyBuf::MIN,
            kb: [KeyBuf::MIN; 2],
            cursor_done: true,
            counters: Counters::default(),
            sib_pins: [0; MAX_HEIGHT],
            sib_pinned: 0,
            owner: 0,
        })
    }

    /// Fixed buffers of a tree (everything but its pool) for this configuration.
    pub(crate) fn fixed_ram(cfg: &Config) -> usize {
        Self::fixed_bytes(cfg)
    }

    /// A tree whose pages live in `pool`, shared with another tree under a different `owner`
    /// (the pool is sized by the caller; `cfg.ram_budget` is not used). `root`: `None` creates
    /// an empty tree, `Some` opens the one written there. The pool is lent for the call only:
    /// on return (success or failure) it is back in `pool` and the tree holds an empty one;
    /// lend it again with [`Self::swap_pool`] around every operation.
    pub(crate) fn with_pool(
        store: S,
        cfg: Config,
        owner: u8,
        pool: &mut Pool,
        root: Option<PagePtr>,
    ) -> Result<Self> {
        if usize::from(owner) >= super::pool::OWNERS || pool.page_size() != cfg.format.plaintext() {
            return Err(BTreeError::InvalidArgument);
        }
        let mut small = cfg;
        small.ram_budget = Self::min_budget(&cfg);
        let mut t = Self::new(store, small)?;
        t.pool = Pool::new(0, cfg.format.plaintext())?;
        t.owner = owner;
        t.swap_pool(pool);
        let r = match root {
            None => (|| {
                let slot = t.pool.alloc(owner)?;
                t.pool.set_dirty(slot)?;
                page::set_header(t.pool.buf_mut(slot)?, 0, 0, 0)
                    .map_err(|_| BTreeError::Internal)?;
                t.root = PagePtr::dirty(slot);
                Ok(())
            })(),
            Some(r) => t.open_root(r),
        };
        t.swap_pool(pool);
        r.map(|()| t)
    }

    /// Exchanges the tree's pool with `other` (a shared pool is lent to the tree in use; the
    /// tree must hold it for every operation, its dirty pages stay in it meanwhile).
    pub(crate) fn swap_pool(&mut self, other: &mut Pool) {
        core::mem::swap(&mut self.pool, other);
    }

    /// An empty tree (one empty root leaf, dirty until the first flush).
    pub fn create(store: S, cfg: Config) -> Result<Self> {
        let mut t = Self::new(store, cfg)?;
        let slot = t.pool.alloc(t.owner)?;
        t.pool.set_dirty(slot)?;
        page::set_header(t.pool.buf_mut(slot)?, 0, 0, 0).map_err(|_| BTreeError::Internal)?;
        t.root = PagePtr::dirty(slot);
        Ok(t)
    }

    /// The tree whose root page was written at `root`; reads and checks the root now.
    pub fn open(store: S, cfg: Config, root: PagePtr) -> Result<Self> {
        if root.is_dirty() {
            return Err(BTreeError::InvalidArgument);
        }
        let mut t = Self::new(store, cfg)?;
        t.open_root(root)?;
        Ok(t)
    }

    fn open_root(&mut self, root: PagePtr) -> Result<()> {
        if root.is_dirty() {
            return Err(BTreeError::InvalidArgument);
        }
        self.root = root;
        self.lo = KeyBuf::MIN;
        self.hi_set = false;
        let slot = self.fetch(root, None, true, u64::MAX, true)?;
        let b = self.pool.buf(slot)?;
        self.height = usize::from(page::level(b).map_err(|_| BTreeError::Internal)?) + 1;
        self.max_gen = page::generation(b).map_err(|_| BTreeError::Internal)?;
        Ok(())
    }

    /// Every byte the tree holds: this struct, its pool (slots, page buffers, lookup table),
    /// the split scratch and the cursor path. Never above the budget given at open.
    pub fn ram_bytes(&self) -> usize {
        size_of::<Self>()
            + self.pool.heap_bytes()
            + self.path.capacity() * size_of::<Step>()
            + self.scratch.capacity()
            + self.offs.capacity() * 2
    }

    /// Structural changes and refusals since open.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The configuration the tree was opened with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Levels of the tree (1: the root is a leaf).
    pub fn height(&self) -> usize {
        self.height
    }

    /// Dirty pages now (at most `D`).
    pub fn dirty_pages(&self) -> usize {
        self.pool.dirty(self.owner)
    }

    /// Pages the pool may hold.
    pub fn pool_slots(&self) -> usize {
        self.pool.capacity()
    }

    /// Pages cached now (clean and dirty).
    pub fn cached_pages(&self) -> usize {
        self.pool.cached()
    }

    /// The page store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The page store, to change (tests: tampering; stage 2: reclaiming).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Drops the cache and gives the page store back (unflushed changes are lost).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The pool slot holding the page at `r`, reading and validating it if it is not cached.
    /// The expected fence is `self.lo` (if `fence`), the upper bound `self.hi` (if `hi_set`).
    pub(crate) fn fetch(
        &mut self,
        r: PagePtr,
        level: Option<u8>,
        root: bool,
        max_gen: u64,
        fence: bool,
    ) -> Result<u32> {
        if r.is_dirty() {
            let s = self.pool.slot(r.off)?;
            return if s.state == State::Dirty {
                Ok(r.off)
            } else {
                Err(BTreeError::Internal)
            };
        }
        if let Some(slot) = self.pool.lookup(self.owner, r) {
            self.pool.touch(slot);
            return Ok(slot);
        }
        let slot = self.pool.alloc_unzeroed(self.owner)?;
        let s = self.pool.slot_mut(slot)?;
        if let Err(e) = self.store.read(r, &mut s.buf) {
            self.pool.release_free(slot);
            return Err(e.into());
        }
        let exp = Expect {
            level,
            fence: fence.then(|| self.lo.key()),
            upper: self.hi_set.then(|| self.hi.key()),
            max_gen,
            root,
            in_ram: false,
        };
        if let Err(error) = check::validate(&self.pool.slot(slot)?.buf, &self.cfg.format, &exp) {
            self.pool.release_free(slot);
            return Err(BTreeError::Corrupt { ptr: r, error });
        }
        self.pool.set_clean(slot, r)?;
        Ok(slot)
    }

    /// Generation bound for the children of the page in `slot`.
    pub(crate) fn child_gen(&self, slot: u32) -> Result<u64> {
        let s = self.pool.slot(slot)?;
        if s.state == State::Dirty {
            return Ok(u64::MAX);
        }
        page::generation(&s.buf).map_err(|_| BTreeError::Internal)
    }

    /// In the internal page at `slot`: the last entry whose separator is at most `k` (entry 0
    /// if none): its index, offset and child. Narrows `lo`/`hi` to the child's bounds.
    pub(crate) fn child_find(&mut self, slot: u32, k: Key<'_>) -> Result<(usize, usize, PagePtr)> {
        let b = &self.pool.slot(slot)?.buf;
        let bad = |_| BTreeError::Internal;
        let n = page::count(b).map_err(bad)?;
        let (_, mut at) = page::fence(b).map_err(bad)?;
        // Entry 0 always qualifies (its separator stands for the fence).
        let (mut idx, mut idx_at, mut next_at) = (0, at, None);
        for i in 0..n {
            let (sep, after) = page::key_at(b, at).map_err(bad)?;
            if i > 0 && page::cmp(sep, k).is_gt() {
                next_at = Some(at);
                break;
            }
            idx = i;
            idx_at = at;
            at = after + PTR_LEN;
        }
        let (sep, after) = page::key_at(b, idx_at).map_err(bad)?;
        let child = page::ptr_at(b, after).map_err(bad)?;
        if idx > 0 {
            self.lo.set(sep);
        }
        if let Some(na) = next_at {
            let b = &self.pool.slot(slot)?.buf;
            let (hi, _) = page::key_at(b, na).map_err(bad)?;
            self.hi.set(hi);
            self.hi_set = true;
        }
        Ok((idx, idx_at, child))
    }

    /// In the leaf at `slot`: the first entry whose key is at least `k`: index, offset, and
    /// whether its key equals `k`.
    pub(crate) fn leaf_find(&self, slot: u32, k: Key<'_>) -> Result<(usize, usize, bool)> {
        let b = &self.pool.slot(slot)?.buf;
        let mi = self.cfg.format.max_inline();
        let n = page::count(b).map_err(|_| BTreeError::Internal)?;
        let (_, mut at) = page::fence(b).map_err(|_| BTreeError::Internal)?;
        for i in 0..n {
            let (key, after) = page::key_at(b, at).map_err(|_| BTreeError::Internal)?;
            match page::cmp(key, k) {
                core::cmp::Ordering::Less => {}
                o => return Ok((i, at, o.is_eq())),
            }
            at = page::value_at(b, after, mi)
                .map_err(|_| BTreeError::Internal)?
                .1;
        }
        Ok((n, at, false))
    }

    pub(crate) fn check_key(&self, k: Key<'_>) -> Result<()> {
        if k.key.len() > MAX_KEY {
            return Err(BTreeError::InvalidArgument);
        }
        Ok(())
    }

    /// The value of `k`, if present.
    pub fn get(&mut self, k: Key<'_>) -> Result<Option<Value>> {
        self.check_key(k)?;
        self.lo = KeyBuf::MIN;
        self.hi_set = false;
        let mut r = self.root;
        let mut ckpt = u64::MAX;
        for depth in 0..self.height {
            let level = (self.height - 1 - depth) as u8;
            let slot = self.fetch(r, Some(level), depth == 0, ckpt, true)?;
            if level == 0 {
                let (_, at, found) = self.leaf_find(slot, k)?;
                if !found {
                    return Ok(None);
                }
                let b = &self.pool.slot(slot)?.buf;
                let (_, after) = page::key_at(b, at).map_err(|_| BTreeError::Internal)?;
                let v = page::value_at(b, after, self.cfg.format.max_inline());
                return v.map(|(v, _)| Some(v)).map_err(|_| BTreeError::Internal);
            }
            ckpt = self.child_gen(slot)?;
            r = self.child_find(slot, k)?.2;
        }
        Err(BTreeError::Internal)
    }

    /// The checkpoint's page write: writes every dirty page to the store, children before
    /// parents and the root last, stamped with generation `ckpt` (not below any earlier one).
    /// Returns the root's new location; afterwards every cached page is clean and evictable.
    /// If a write fails, the pages written so far are clean and referenced, and a later flush
    /// continues from there.
    pub fn flush(&mut self, ckpt: u64) -> Result<PagePtr> {
        if ckpt < self.max_gen {
            return Err(BTreeError::InvalidArgument);
        }
        if !self.root.is_dirty() {
            return Ok(self.root);
        }
        self.path.clear();
        let fence_end = |b: &[u8]| {
            page::fence(b)
                .map(|f| f.1)
                .map_err(|_| BTreeError::Internal)
        };
        let at = fence_end(self.pool.buf(self.root.off)?)?;
        self.path.push(Step {
            ptr: self.root,
            slot: self.root.off,
            idx: 0,
            at,
        });
        while let Some(&top) = self.path.last() {
            let b = self.pool.buf(top.slot)?;
            let level = page::level(b).map_err(|_| BTreeError::Internal)?;
            let n = page::count(b).map_err(|_| BTreeError::Internal)?;
            // Next dirty child of `top`, if any.
            let mut child = None;
            if level > 0 {
                let (mut i, mut at) = (top.idx, top.at);
                while i < n {
                    let (_, after) = page::key_at(b, at).map_err(|_| BTreeError::Internal)?;
                    let p = page::ptr_at(b, after).map_err(|_| BTreeError::Internal)?;
                    at = after + PTR_LEN;
                    i += 1;
                    if p.is_dirty() {
                        child = Some((p, i, at));
                        break;
                    }
                }
            }
            if let Some((p, i, at)) = child {
                if self.path.len() >= MAX_HEIGHT {
                    return Err(BTreeError::Internal);
                }
                if let Some(t) = self.path.last_mut() {
                    t.idx = i;
                    t.at = at;
                }
                let cat = fence_end(self.pool.buf(p.off)?)?;
                self.path.push(Step {
                    ptr: p,
                    slot: p.off,
                    idx: 0,
                    at: cat,
                });
                continue;
            }
            page::set_generation(self.pool.buf_mut(top.slot)?, ckpt)
                .map_err(|_| BTreeError::Internal)?;
            let ptr = self.store.write(self.pool.buf(top.slot)?)?;
            self.pool.set_clean(top.slot, ptr)?;
            self.path.pop();
            match self.path.last() {
                // The parent's entry for this child ends at `at`: its pointer is the last 16 B.
                Some(parent) => {
                    let pat = parent.at - PTR_LEN;
                    let (ps, s) = (parent.slot, top.slot);
                    let pb = self.pool.buf_mut(ps)?;
                    if page::ptr_at(pb, pat).ok() != Some(PagePtr::dirty(s)) {
                        return Err(BTreeError::Internal);
                    }
                    page::put_ptr(pb, pat, ptr).map_err(|_| BTreeError::Internal)?;
                }
                None => self.root = ptr,
            }
        }
        self.max_gen = ckpt;
        if self.pool.dirty(self.owner) != 0 {
            return Err(BTreeError::Internal);
        }
        Ok(self.root)
    }

    /// Offset of the fence's end (entry 0) in the page at `slot`, and its entry bytes.
    pub(crate) fn entry_bytes(&self, slot: u32) -> Result<(usize, usize)> {
        let b = self.pool.buf(slot)?;
        let start = page::fence(b).map_err(|_| BTreeError::Internal)?.1;
        let used = page::used(b, self.cfg.format.max_inline()).map_err(|_| BTreeError::Internal)?;
        Ok((start, used - start))
    }

    /// Header bytes plus fence of the page at `slot`.
    pub(crate) fn head_len(&self, slot: u32) -> Result<usize> {
        let b = self.pool.buf(slot)?;
        let start = page::fence(b).map_err(|_| BTreeError::Internal)?.1;
        Ok(start)
    }
}
