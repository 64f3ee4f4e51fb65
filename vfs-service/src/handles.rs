//! The handle table: slots with generations, owned by the task that opened them and bounded per
//! task and in total.
//!
//! A handle's generation holds the boot count in its high 16 bits and the slot's use counter in
//! its low 16 bits, so a handle kept across a service restart or a close is recognisably stale.

use alloc::boxed::Box;
use alloc::vec::Vec;
use kernel_abi::TaskId;

use crate::error::VfsError;
use crate::ops::stream::OpenFile;
use crate::protocol::limits::{MAX_HANDLES, MAX_HANDLES_PER_TASK};
use crate::protocol::messages::Handle;

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
        let index = handle.slot as usize;
        let slot = self.slots.get(index).ok_or(VfsError::InvalidHandle)?;
        if slot.generation != handle.generation {
            // Issued by this slot earlier (or by an earlier boot): stale. Never issued: invalid.
            let issued_before = (handle.generation >> 16) < self.epoch as u32
                || ((handle.generation >> 16) == self.epoch as u32
                    && handle.generation < slot.generation);
            return Err(if issued_before {
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
