//! The handle table: slots with generations, owned by the task that opened them and bounded per
//! task and in total.
//!
//! A handle's generation holds the boot count in its high 16 bits and the slot's use counter in
//! its low 16 bits, so a handle kept across a service restart or a close is recognisably stale.
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
pub(crate) struct Stage {
    pub content: u64,
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
    /// Largest size known to fit the quota and limits, and the commit generation it holds at.
    pub allowance: Option<(u64, u64)>,
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
            allowance: None,
        }
    }
}

/// An insertion that failed: the error and the file handed back.
pub(crate) type Rejected = Box<(VfsError, OpenFile)>;

struct Slot {
    generation: u32,
    file: Option<OpenFile>,
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

    fn generation(&self, uses: u16) -> u32 {
        (self.epoch as u32) << 16 | uses as u32
    }

    /// Handles held by a task.
    pub fn count_for(&self, task: TaskId) -> usize {
        self.slots
            .iter()
            .filter(|s| s.file.as_ref().is_some_and(|f| f.task == task))
            .count()
    }

    /// Stores an open file; fails when the task or the service holds too many.
    pub(crate) fn insert(&mut self, file: OpenFile) -> Result<Handle, Rejected> {
        if self.count_for(file.task) >= MAX_HANDLES_PER_TASK {
            return Err(Box::new((VfsError::TooManyHandles, file)));
        }
        let free = self.slots.iter().position(|s| s.file.is_none());
        let index = match free {
            Some(i) => i,
            None if self.slots.len() < MAX_HANDLES => {
                self.slots.push(Slot {
                    generation: self.generation(0),
                    file: None,
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
        let epoch = handle.generation >> 16;
        if epoch != self.epoch as u32 {
            // Issued before the service (re)started: stale. From a later epoch: forged.
            return Err(if epoch < self.epoch as u32 {
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
        let slot = &mut self.slots[i];
        let uses = (slot.generation as u16).wrapping_add(1);
        slot.generation = (self.epoch as u32) << 16 | uses as u32;
        slot.file.take().ok_or(VfsError::StaleHandle)
    }

    /// Takes out every open file of earlier incarnations of `task`'s slot.
    pub(crate) fn reap_older(&mut self, task: TaskId) -> Vec<OpenFile> {
        let mut out = Vec::new();
        let epoch = self.epoch as u32;
        for slot in &mut self.slots {
            if slot
                .file
                .as_ref()
                .is_some_and(|f| f.task.index == task.index && f.task != task)
                && let Some(f) = slot.file.take()
            {
                let uses = (slot.generation as u16).wrapping_add(1);
                slot.generation = epoch << 16 | uses as u32;
                out.push(f);
            }
        }
        out
    }
}
