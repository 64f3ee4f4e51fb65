//! The handle table: slots with generations, owned by the task that opened them and bounded per
//! task and in total.
//!
//! A handle's generation is 64 bits: the boot count (its low 16 bits) in the high 16 bits and
//! the slot's use counter in the low 48 bits, so a handle kept across a service restart or a
//! close is recognisably stale. The use counter only grows: at one open per microsecond a slot
//! takes about nine years to use up its 2^48 generations. Should a slot ever reach the last
//! one anyway, it is retired for the rest of the boot instead of wrapping, so a generation is
//! never issued twice within a boot and a closed handle never names a later file.
//!
//! A leaf of the filesystem's modules: it holds the open files ([`OpenFile`]) and knows nothing
//! of [`crate::vfs`] or [`crate::ops`]. The [`crate::vfs::Vfs`] owns the table; the streaming
//! operations (`ops::stream`) use both.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::TaskId;

use crate::crypto::{FileCipher, Hasher};
use crate::error::VfsError;
use crate::inode::EncInfo;
use crate::protocol::limits::{MAX_HANDLES, MAX_HANDLES_PER_TASK};
use crate::protocol::messages::{FileKey, Handle};

/// The staging area of a handle with uncommitted writes.
///
/// Written pieces are first held in RAM (`buffer`, sealed as they will be stored) and reach the
/// store only when the buffer fills (a *spill*: one transaction into the unreferenced staging
/// content, under its staging record) or with the commit at FLUSH/CLOSE, in the commit's own
/// transaction. So a small file costs no transaction before its commit, and a large one one
/// transaction per buffer, not one per message. See `ops::stream`.
pub(crate) struct Stage {
    pub content: u64,
    /// Pieces written since the last spill, by index: their stored (sealed) bytes.
    pub buffer: alloc::collections::BTreeMap<u64, Vec<u8>>,
    /// Stored bytes held in `buffer`.
    pub buffered: usize,
    /// Whether the staging record and some pieces are in the store (a spill committed).
    pub spilled: bool,
    pub enc: Option<(FileCipher, EncInfo)>,
    pub counter: u64,
    /// Every piece so far was written in order from an empty file.
    pub sequential: bool,
    pub hasher: Hasher,
    pub hashed: u64,
    /// Highest piece index + 1 ever written to the stage.
    pub extent: u64,
}

/// An open file: what a handle stands for. The streaming operations
/// ([`crate::ops::stream`]) act on it.
pub(crate) struct OpenFile {
    pub task: TaskId,
    pub inode: u64,
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub pos: u64,
    pub size: u64,
    pub key: Option<FileKey>,
    pub bound_path: String,
    pub base: u64,
    pub base_size: u64,
    pub base_valid: u64,
    pub base_hash: [u8; 32],
    pub base_cipher: Option<FileCipher>,
    pub stage: Option<Stage>,
    /// Verification of a sequential read of the base: hasher and next piece.
    pub verify: Option<(Hasher, u64)>,
    /// The account the file is charged to (its owner's, at OPEN).
    pub account: crate::accounts::Account,
    /// Bytes of the staged new version charged to `account` now (its size while a stage
    /// exists: the old version stays until the commit).
    pub staged_charge: u64,
    /// The file's content id when the handle opened it or last committed: a commit finding
    /// another one there would drop someone else's write (`Conflict`).
    pub seen: u64,
    /// Opened with `OpenFlags::overwrite`: commit over other writers' changes.
    pub overwrite: bool,
    /// With append: the stage differs from the base only by bytes appended from this offset,
    /// so they can be re-applied at the end of a file another writer changed.
    pub appends_from: Option<u64>,
}

impl OpenFile {
    /// An empty open file of `task`, held in a slot while its file is worked on.
    pub fn placeholder(task: TaskId) -> Self {
        Self {
            task,
            inode: 0,
            read: false,
            write: false,
            append: false,
            pos: 0,
            size: 0,
            key: None,
            bound_path: String::new(),
            base: 0,
            base_size: 0,
            base_valid: 0,
            base_hash: [0; 32],
            base_cipher: None,
            stage: None,
            verify: None,
            account: crate::accounts::Account::System,
            staged_charge: 0,
            seen: 0,
            overwrite: false,
            appends_from: None,
        }
    }
}

/// An insertion that failed: the error and the file handed back.
pub(crate) type Rejected = Box<(VfsError, OpenFile)>;

/// Bits of a generation that count a slot's uses; the boot epoch is above them.
const USE_BITS: u32 = 48;
/// The last use count a slot may issue; a slot that reaches it is retired, never wrapped.
const LAST_USE: u64 = (1 << USE_BITS) - 1;

struct Slot {
    generation: u64,
    file: Option<OpenFile>,
    /// Every generation of the slot has been issued: it stays empty until the next boot.
    retired: bool,
}

/// All open handles of the service.
pub struct HandleTable {
    slots: Vec<Slot>,
    epoch: u16,
}

impl HandleTable {
    /// An empty table for boot number `epoch`.
    pub fn new(epoch: u16) -> Self {
        Self {
            slots: Vec::new(),
            epoch,
        }
    }

    fn generation(&self, uses: u64) -> u64 {
        (self.epoch as u64) << USE_BITS | (uses & LAST_USE)
    }

    /// Whether a new handle would fit the limits for `task`: what [`Self::insert`] checks,
    /// asked before OPEN creates or truncates anything.
    pub fn can_insert(&self, task: TaskId) -> Result<(), VfsError> {
        if self.count_for(task) >= MAX_HANDLES_PER_TASK {
            return Err(VfsError::TooManyHandles);
        }
        let free = self.slots.iter().any(|s| s.file.is_none() && !s.retired);
        if free || self.slots.len() < MAX_HANDLES {
            Ok(())
        } else {
            Err(VfsError::TooManyHandles)
        }
    }

    /// Moves a slot to its next generation after a release; retires it at the last one.
    fn advance(&mut self, index: usize) {
        let epoch = self.epoch;
        if let Some(slot) = self.slots.get_mut(index) {
            let uses = slot.generation & LAST_USE;
            if uses >= LAST_USE {
                slot.retired = true;
            } else {
                slot.generation = (epoch as u64) << USE_BITS | (uses + 1);
            }
        }
    }

    /// Test support: sets a slot's use count, as if it had been opened and closed that often.
    #[cfg(test)]
    fn set_uses(&mut self, slot: u16, uses: u64) {
        let generation = self.generation(uses);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.generation = generation;
        }
    }

    /// Handles held by a task.
    pub fn count_for(&self, task: TaskId) -> usize {
        self.slots
            .iter()
            .filter(|s| s.file.as_ref().is_some_and(|f| f.task == task))
            .count()
    }

    /// Whether an open file stages its writes in the content object `content` (the collector
    /// leaves such staging areas alone and reclaims every other one).
    pub(crate) fn stages(&self, content: u64) -> bool {
        self.slots.iter().any(|s| {
            s.file
                .as_ref()
                .and_then(|f| f.stage.as_ref())
                .is_some_and(|st| st.content == content)
        })
    }

    /// Stores an open file; fails when the task or the service holds too many.
    pub(crate) fn insert(&mut self, file: OpenFile) -> Result<Handle, Rejected> {
        if self.count_for(file.task) >= MAX_HANDLES_PER_TASK {
            return Err(Box::new((VfsError::TooManyHandles, file)));
        }
        let free = self
            .slots
            .iter()
            .position(|s| s.file.is_none() && !s.retired);
        let index = match free {
            Some(i) => i,
            None if self.slots.len() < MAX_HANDLES => {
                self.slots.push(Slot {
                    generation: self.generation(0),
                    file: None,
                    retired: false,
                });
                self.slots.len() - 1
            }
            None => return Err(Box::new((VfsError::TooManyHandles, file))),
        };
        let slot = &mut self.slots[index];
        slot.file = Some(file);
        Ok(Handle {
            slot: index as u16,
            generation: slot.generation,
        })
    }

    fn check(&self, task: TaskId, handle: Handle) -> Result<usize, VfsError> {
        let epoch = handle.generation >> USE_BITS;
        if epoch != self.epoch as u64 {
            // Issued before the service (re)started: stale. From a later epoch: forged.
            return Err(if epoch < self.epoch as u64 {
                VfsError::StaleHandle
            } else {
                VfsError::InvalidHandle
            });
        }
        let index = handle.slot as usize;
        let slot = self.slots.get(index).ok_or(VfsError::InvalidHandle)?;
        if slot.generation != handle.generation {
            // Issued by this slot earlier: stale. Never issued: invalid.
            return Err(if handle.generation < slot.generation {
                VfsError::StaleHandle
            } else {
                VfsError::InvalidHandle
            });
        }
        let file = slot.file.as_ref().ok_or(VfsError::StaleHandle)?;
        if file.task != task {
            // An earlier incarnation of the same task slot opened it: stale for the new one.
            return Err(if file.task.index == task.index {
                VfsError::StaleHandle
            } else {
                VfsError::InvalidHandle
            });
        }
        Ok(index)
    }

    /// The open file behind a handle, if `task` owns it.
    pub(crate) fn get_mut(
        &mut self,
        task: TaskId,
        handle: Handle,
    ) -> Result<&mut OpenFile, VfsError> {
        let i = self.check(task, handle)?;
        self.slots[i].file.as_mut().ok_or(VfsError::StaleHandle)
    }

    /// Takes the open file out of its slot, retiring the handle.
    pub(crate) fn remove(&mut self, task: TaskId, handle: Handle) -> Result<OpenFile, VfsError> {
        let i = self.check(task, handle)?;
        let file = self.slots[i].file.take().ok_or(VfsError::StaleHandle)?;
        self.advance(i);
        Ok(file)
    }

    /// Takes out every open file of the incarnation `task` (which has stopped).
    pub(crate) fn reap_exact(&mut self, task: TaskId) -> Vec<OpenFile> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if slot.file.as_ref().is_some_and(|f| f.task == task)
                && let Some(f) = slot.file.take()
            {
                out.push(f);
                self.advance(i);
            }
        }
        out
    }

    /// Takes out every open file of earlier incarnations of `task`'s slot.
    pub(crate) fn reap_older(&mut self, task: TaskId) -> Vec<OpenFile> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if slot
                .file
                .as_ref()
                .is_some_and(|f| f.task.index == task.index && f.task != task)
                && let Some(f) = slot.file.take()
            {
                out.push(f);
                self.advance(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: TaskId = TaskId {
        index: 3,
        generation: 0,
    };

    fn insert(table: &mut HandleTable) -> Handle {
        match table.insert(OpenFile::placeholder(TASK)) {
            Ok(h) => h,
            Err(e) => panic!("insert refused: {:?}", e.0),
        }
    }

    #[test]
    fn a_slot_at_its_last_generation_is_retired_not_wrapped() {
        let mut table = HandleTable::new(7);
        let first = insert(&mut table);
        assert_eq!(first.generation, 7 << USE_BITS);
        table.remove(TASK, first).unwrap();
        // As if slot 0 had been opened and closed 2^48 - 1 times.
        table.set_uses(first.slot, LAST_USE);
        let last = insert(&mut table);
        assert_eq!(last.slot, first.slot);
        assert_eq!(last.generation, 7 << USE_BITS | LAST_USE);
        table.remove(TASK, last).unwrap();
        // The next open gets another slot: slot 0 never issues a generation twice.
        let next = insert(&mut table);
        assert_ne!(next.slot, first.slot);
        for stale in [first, last] {
            assert_eq!(
                table.get_mut(TASK, stale).err(),
                Some(VfsError::StaleHandle)
            );
        }
        // A wrapped generation (use count 0 again, or the epoch bits bumped) is not served.
        let wrapped = Handle {
            slot: first.slot,
            generation: (7 << USE_BITS) + LAST_USE + 1,
        };
        assert_eq!(
            table.get_mut(TASK, wrapped).err(),
            Some(VfsError::InvalidHandle)
        );
    }

    #[test]
    fn the_limit_check_matches_insert() {
        let mut table = HandleTable::new(1);
        for _ in 0..MAX_HANDLES_PER_TASK {
            assert_eq!(table.can_insert(TASK), Ok(()));
            insert(&mut table);
        }
        assert_eq!(table.can_insert(TASK), Err(VfsError::TooManyHandles));
        assert!(table.insert(OpenFile::placeholder(TASK)).is_err());
    }
}
