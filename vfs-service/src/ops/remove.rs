//! Removal that always completes: RMDIR (recursive or not), the emptying of `/tmp` at boot, the
//! reaper of detached subtrees, and the depth bound that RENAME applies to a moved subtree.
//!
//! A recursive removal first **detaches** the subtree in one small transaction: the directory's
//! entry and inode are deleted, the ancestors' totals drop by the subtree's, and a
//! detached-subtree record (`R` ‖ root id) is written — less than what it deletes, so it
//! commits on a full store. From then on the subtree is invisible and its removal is
//! the reaper's business: it deletes entries bottom-up with an explicit stack (no recursion, so
//! any depth is removable, including trees deeper than the depth limit made before it existed),
//! in transactions that only delete records or add garbage records smaller than what they
//! delete — so they commit on a full store. Reaping needs no accounting inside the subtree:
//! nothing there is reachable any more. If reaping stops (an error, a crash), the record makes
//! the collector between requests and the next boot carry on.

use alloc::vec::Vec;

use crate::error::VfsError;
use crate::inode::{Inode, Kind, be_u64, keys};
use crate::path::CanonPath;
use crate::permission::{Access, guard};
use crate::protocol::limits::MAX_DEPTH;
use crate::vfs::{Ctx, Tx, Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db};

/// Directory entries read per scan.
const PAGE: usize = 32;

/// Levels a walk of a subtree goes down at most before it calls the tree corrupt: far beyond
/// any tree the service ever made (`MAX_DEPTH`, or a path's worth before it), so only a cycle
/// in damaged records reaches it, and the walk ends instead of running forever.
const WALK_LEVELS: usize = 1 << 16;

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Removes a directory; with `recursive`, everything below it too.
    ///
    /// A recursive removal checks first that the caller may write every directory of the
    /// subtree, then detaches it atomically and reaps it. Once detached, the call succeeds even
    /// if reaping stops early: the rest is reclaimed by the collector and at boot.
    pub fn rmdir(&mut self, ctx: &Ctx<'_>, path: &str, recursive: bool) -> Result<(), VfsError> {
        let path = CanonPath::parse(path)?;
        if path.is_root() {
            return Err(VfsError::PermissionDenied);
        }
        // Resolved as a write: no symlink someone else planted in a sticky directory is
        // followed, and the sticky rule decides who may remove the entry.
        let (dir, name) = self.resolve_parent_for(ctx, &path, true)?;
        let id = self.child(dir.inode.id, &name)?.ok_or(VfsError::NotFound)?;
        let target = self.inode(id)?;
        if !target.is_dir() {
            return Err(VfsError::NotADirectory);
        }
        guard(&ctx.caller, &dir.path.child(&name))?;
        Self::check(ctx, &dir.inode, Access::Write)?;
        Self::check_remove(ctx, &dir.inode, &target)?;
        if !self.has_children(id)? {
            return self.tx(|fs, tx| fs.unlink_entry(ctx, tx, &target));
        }
        if !recursive {
            return Err(VfsError::DirectoryNotEmpty);
        }
        self.check_subtree_writable(ctx, id)?;
        self.tx(|fs, tx| fs.detach(ctx, tx, &target))?;
        // Best effort now; what is left is the collector's.
        let mut unlimited = usize::MAX;
        let _ = self.reap_detached(id, &mut unlimited);
        Ok(())
    }

    pub(crate) fn has_children(&mut self, id: u64) -> Result<bool, VfsError> {
        Ok(!self
            .store
            .scan(Db::Userspace, &keys::dir_prefix(id), None, 1)
            .map_err(store_err)?
            .is_empty())
    }

    /// Checks that the caller may write every directory below `root` (and `root` itself) and,
    /// in a sticky one, remove each of its entries. Reads only; an explicit stack, so any depth
    /// is walked.
    fn check_subtree_writable(&mut self, ctx: &Ctx<'_>, root: u64) -> Result<(), VfsError> {
        let mut stack: Vec<(u64, usize)> = alloc::vec![(root, 0)];
        while let Some((dir, level)) = stack.pop() {
            if level > WALK_LEVELS {
                return Err(VfsError::IntegrityError);
            }
            let node = self.inode(dir)?;
            Self::check(ctx, &node, Access::Write)?;
            self.for_each_child(dir, |_, child| {
                Self::check_remove(ctx, &node, &child)?;
                if child.is_dir() {
                    stack.push((child.id, level + 1));
                }
                Ok(true)
            })?;
        }
        Ok(())
    }

    /// Calls `f` with every child of `dir` (entry key, inode) in name order, a page at a time,
    /// until `f` returns `false`.
    fn for_each_child(
        &mut self,
        dir: u64,
        mut f: impl FnMut(&[u8], Inode) -> Result<bool, VfsError>,
    ) -> Result<(), VfsError> {
        let prefix = keys::dir_prefix(dir);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .store
                .scan(Db::Userspace, &prefix, after.as_deref(), PAGE)
                .map_err(store_err)?;
            let full = page.len() == PAGE;
            for (key, v) in page {
                let child = self.inode(be_u64(&v).ok_or(VfsError::IntegrityError)?)?;
                if !f(&key, child)? {
                    return Ok(());
                }
                after = Some(key);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Unlinks the directory `inode` from its parent with its whole subtree, leaving the
    /// subtree to the reaper: the entry, the directory's inode, the ancestors' totals and a
    /// detached-subtree record, whatever the subtree holds.
    fn detach(&mut self, ctx: &Ctx<'_>, tx: &mut Tx, inode: &Inode) -> Result<(), VfsError> {
        // The root's inode goes now (the reaper needs only its id, which the record's key
        // holds): so the transaction frees well over what it writes, as a full store requires.
        self.take_out_of_parent(ctx, tx, inode)?;
        tx.put(Db::Userspace, keys::detached(inode.id), Vec::new());
        Ok(())
    }

    /// Deletes the detached subtree rooted at `root`, bottom-up, spending at most `budget`
    /// record removals; returns whether it is gone (its record with it).
    pub(crate) fn reap_detached(
        &mut self,
        root: u64,
        budget: &mut usize,
    ) -> Result<bool, VfsError> {
        let mut stack: Vec<u64> = alloc::vec![root];
        while let Some(&top) = stack.last() {
            if *budget == 0 {
                return Ok(false);
            }
            let page = self
                .store
                .scan(Db::Userspace, &keys::dir_prefix(top), None, PAGE)
                .map_err(store_err)?;
            if page.is_empty() {
                let node = match self.inode(top) {
                    Ok(n) => Some(n),
                    Err(VfsError::NotFound) => None,
                    Err(e) => return Err(e),
                };
                self.tx(|_, tx| {
                    tx.delete(Db::Userspace, keys::inode(top));
                    if top == root {
                        tx.delete(Db::Userspace, keys::detached(root));
                    } else if let Some(n) = &node {
                        tx.delete(Db::Userspace, keys::dirent(n.parent, &n.name));
                    }
                    Ok(())
                })?;
                stack.pop();
                *budget = budget.saturating_sub(1);
                continue;
            }
            let mut descend = None;
            let mut removed = 0usize;
            let room = *budget;
            self.tx(|fs, tx| {
                for (key, v) in page {
                    if removed >= room {
                        break;
                    }
                    let child_id = be_u64(&v).ok_or(VfsError::IntegrityError)?;
                    let child = match fs.inode(child_id) {
                        Ok(c) => Some(c),
                        Err(VfsError::NotFound) => None,
                        Err(e) => return Err(e),
                    };
                    // A directory entry naming a directory already on the way down (damaged
                    // records): only the entry goes, or the walk would never end.
                    let on_path = stack.contains(&child_id);
                    if child.as_ref().is_some_and(Inode::is_dir) && !on_path {
                        descend = Some(child_id);
                        break;
                    }
                    tx.delete(Db::Userspace, key);
                    removed += 1;
                    if on_path {
                        continue;
                    }
                    tx.delete(Db::Userspace, keys::inode(child_id));
                    if let Some(Inode {
                        kind: Kind::File { content },
                        ..
                    }) = child
                        && content != 0
                    {
                        tx.discard(content, 0);
                    }
                }
                Ok(())
            })?;
            *budget = budget.saturating_sub(removed);
            if let Some(d) = descend {
                stack.push(d);
            }
        }
        Ok(true)
    }

    /// Reaps detached subtrees within `budget` record removals; returns whether any remain.
    pub(crate) fn reap_all_detached(&mut self, budget: &mut usize) -> Result<bool, VfsError> {
        loop {
            let recs = self
                .store
                .scan(Db::Userspace, &[keys::DETACHED], None, 1)
                .map_err(store_err)?;
            let Some((key, _)) = recs.into_iter().next() else {
                return Ok(false);
            };
            let root = key
                .get(1..)
                .and_then(be_u64)
                .ok_or(VfsError::IntegrityError)?;
            if !self.reap_detached(root, budget)? {
                return Ok(true);
            }
        }
    }

    /// Removes everything in the directory `dir` (boot's emptying of `/tmp`): each entry in a
    /// small transaction, directories with contents detached and reaped. Returns the number
    /// of entries the directory held below it.
    pub(crate) fn empty_dir(&mut self, ctx: &Ctx<'_>, dir: &Inode) -> Result<u64, VfsError> {
        let before = dir.usage_entries().saturating_sub(1);
        loop {
            let page = self
                .store
                .scan(Db::Userspace, &keys::dir_prefix(dir.id), None, PAGE)
                .map_err(store_err)?;
            if page.is_empty() {
                return Ok(before);
            }
            for (_, v) in page {
                let child = self.inode(be_u64(&v).ok_or(VfsError::IntegrityError)?)?;
                if child.is_dir() && self.has_children(child.id)? {
                    self.tx(|fs, tx| fs.detach(ctx, tx, &child))?;
                    let mut unlimited = usize::MAX;
                    self.reap_detached(child.id, &mut unlimited)?;
                } else {
                    self.tx(|fs, tx| fs.unlink_entry(ctx, tx, &child))?;
                }
            }
        }
    }

    /// The depth limit for a RENAME of `inode` from a parent at depth `src_parent_len - 1` to
    /// one at `dst_parent_len - 1` (the lengths of the parents' chains): the moved entry and
    /// every entry below it must stay within [`MAX_DEPTH`].
    ///
    /// A move that does not go deeper cannot break the limit and reads nothing more. One that
    /// does reads the moved subtree's inodes (never writes), stopping at the first entry that
    /// would land too deep.
    pub(crate) fn check_move_depth(
        &mut self,
        inode: &Inode,
        src_parent_len: usize,
        dst_parent_len: usize,
    ) -> Result<(), VfsError> {
        if dst_parent_len > MAX_DEPTH {
            return Err(VfsError::InvalidPath);
        }
        if !inode.is_dir() || dst_parent_len <= src_parent_len {
            return Ok(());
        }
        if self.subtree_deeper_than(inode.id, MAX_DEPTH - dst_parent_len)? {
            return Err(VfsError::InvalidPath);
        }
        Ok(())
    }

    /// Whether any entry below the directory `root` lies more than `allowed` levels under it.
    fn subtree_deeper_than(&mut self, root: u64, allowed: usize) -> Result<bool, VfsError> {
        let mut stack: Vec<(u64, usize)> = alloc::vec![(root, 0)];
        while let Some((dir, level)) = stack.pop() {
            if !self.has_children(dir)? {
                continue;
            }
            if level + 1 > allowed {
                return Ok(true);
            }
            self.for_each_child(dir, |_, child| {
                if child.is_dir() {
                    stack.push((child.id, level + 1));
                }
                Ok(true)
            })?;
        }
        Ok(false)
    }
}
