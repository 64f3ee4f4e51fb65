//! Identities: tasks, endpoints, users and the credentials the kernel stamps on messages.

use serde::{Deserialize, Serialize};

/// A task: its slot in the kernel's task table plus a generation that changes on each restart,
/// so that a message or handle addressed to an earlier incarnation is recognisably stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    /// Index into the kernel's task table.
    pub index: u16,
    /// Incremented each time the task in this slot is restarted.
    pub generation: u16,
}

impl TaskId {
    /// Packs the id into the 32-bit register form used by syscalls: index in the low half.
    pub const fn to_raw(self) -> u32 {
        (self.generation as u32) << 16 | self.index as u32
    }

    /// Unpacks the register form written by [`TaskId::to_raw`].
    pub const fn from_raw(raw: u32) -> Self {
        Self {
            index: raw as u16,
            generation: (raw >> 16) as u16,
        }
    }
}

/// An IPC endpoint: the queue a server receives on. Granted to clients by the system file or
/// through init's registry; a task can send only to endpoints it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointId(pub u16);

/// A user of the system, as a UUID. The system itself (no user) is `None` in [`Credentials`].
pub type UserId = uuid::Uuid;

/// What kind of program a task is; decides which permission bits judge it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ProcessClass {
    /// Init, the terminal and other parts of the operating system.
    System = 0,
    /// Storage, network, identity and other runtime services.
    Runtime = 1,
    /// User programs.
    Application = 2,
}

impl ProcessClass {
    /// Decodes the register form; `None` for a value no kernel writes.
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            0 => Some(Self::System),
            1 => Some(Self::Runtime),
            2 => Some(Self::Application),
            _ => None,
        }
    }
}

/// Who sent a message, as stamped by the kernel. A receiver trusts these and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The sending task.
    pub task: TaskId,
    /// The user the task runs for, or `None` for the system.
    pub user: Option<UserId>,
    /// The sender's process class.
    pub class: ProcessClass,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_round_trips_through_its_register_form() {
        for (index, generation) in [(0, 0), (1, 0), (0xffff, 0xffff), (7, 3)] {
            let id = TaskId { index, generation };
            assert_eq!(TaskId::from_raw(id.to_raw()), id);
        }
        assert_eq!(
            TaskId {
                index: 2,
                generation: 1
            }
            .to_raw(),
            0x0001_0002
        );
    }

    #[test]
    fn process_class_round_trips() {
        for class in [
            ProcessClass::System,
            ProcessClass::Runtime,
            ProcessClass::Application,
        ] {
            assert_eq!(ProcessClass::from_raw(class as u8), Some(class));
        }
        assert_eq!(ProcessClass::from_raw(3), None);
    }
}
