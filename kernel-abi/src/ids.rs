//! Identities: tasks, endpoints, users, reply tokens and the credentials the kernel stamps on
//! messages, with the register forms the syscalls carry them in.

use serde::{Deserialize, Serialize};

/// A task: its slot in the kernel's task table plus a generation that changes on each restart,
/// so that a message or handle addressed to an earlier incarnation is recognisably stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    /// Index into the kernel's task table (the task's position in the system file).
    pub index: u16,
    /// Incremented (wrapping) each time the task in this slot is restarted; 0 on first start.
    pub generation: u16,
}

impl TaskId {
    /// The pseudo-task the kernel uses as the sender of messages it generates itself (fault
    /// reports to the supervisor). No real task has this index.
    pub const KERNEL: TaskId = TaskId {
        index: u16::MAX,
        generation: 0,
    };

    /// Packs the id into the 32-bit register form used by syscalls: index in the low half,
    /// generation in the high half.
    pub const fn to_raw(self) -> u32 {
        ((self.generation as u32) << 16) | self.index as u32
    }

    /// Unpacks the register form written by [`TaskId::to_raw`].
    pub const fn from_raw(raw: u32) -> Self {
        Self {
            index: raw as u16,
            generation: (raw >> 16) as u16,
        }
    }

    /// The id of the next incarnation of this task (same slot, generation + 1, wrapping).
    pub const fn next_generation(self) -> Self {
        Self {
            index: self.index,
            generation: self.generation.wrapping_add(1),
        }
    }
}

/// An IPC endpoint: the queue a server receives on. Granted to clients by the system file or
/// through init's registry; a task can send only to endpoints it holds. Endpoint numbers are
/// global (the system file numbers them) and exactly one task serves each endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointId(pub u16);

impl EndpointId {
    /// The endpoint init serves (its registry and fault reports). Every task holds a grant for
    /// it; a system file must give init's endpoint this number.
    pub const INIT: EndpointId = EndpointId(0);
}

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

    /// Whether the class belongs to the operating system (System or Runtime) as opposed to a
    /// user program. The spec judges such callers by the `system_*` permission bits.
    pub const fn is_system(self) -> bool {
        matches!(self, Self::System | Self::Runtime)
    }
}

/// Who sent a message, as stamped by the kernel. A receiver trusts these and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Credentials {
    /// The sending task.
    pub task: TaskId,
    /// The user the task runs for, or `None` for the system.
    pub user: Option<UserId>,
    /// The sender's process class.
    pub class: ProcessClass,
}

/// Bit of the sender word that says a user UUID follows in the next two registers.
const SENDER_HAS_USER: u64 = 1 << 40;

impl Credentials {
    /// The credentials of messages the kernel generates itself.
    pub const KERNEL: Credentials = Credentials {
        task: TaskId::KERNEL,
        user: None,
        class: ProcessClass::System,
    };

    /// Packs the credentials into the three registers a receive returns them in:
    /// `[sender word, user high, user low]`.
    ///
    /// Sender word: bits 0..=31 the task id's register form, bits 32..=39 the class, bit 40 set
    /// when a user is present. User: the UUID's 16 bytes in big-endian (RFC 9562 byte order),
    /// first 8 bytes in the high register. Without a user both user registers are 0.
    pub const fn to_regs(&self) -> [u64; 3] {
        let mut word = self.task.to_raw() as u64 | ((self.class as u8 as u64) << 32);
        let (hi, lo) = match self.user {
            Some(user) => {
                word |= SENDER_HAS_USER;
                let v = user.as_u128();
                ((v >> 64) as u64, v as u64)
            }
            None => (0, 0),
        };
        [word, hi, lo]
    }

    /// Unpacks [`Credentials::to_regs`]; `None` when the registers hold something no kernel
    /// writes (unknown class or reserved bits set).
    pub const fn from_regs(regs: [u64; 3]) -> Option<Self> {
        let word = regs[0];
        if word >> 41 != 0 {
            return None;
        }
        let class = match ProcessClass::from_raw((word >> 32) as u8) {
            Some(class) => class,
            None => return None,
        };
        let user = if word & SENDER_HAS_USER != 0 {
            Some(uuid::Uuid::from_u128(
                ((regs[1] as u128) << 64) | regs[2] as u128,
            ))
        } else {
            None
        };
        Some(Self {
            task: TaskId::from_raw(word as u32),
            user,
            class,
        })
    }
}

/// Identifies one received request that still awaits its reply: the caller (with its
/// generation) and the endpoint the request arrived on.
///
/// The kernel delivers a reply only if that exact incarnation of the caller is still blocked in
/// `call` on that endpoint and the replier serves it; otherwise the reply is dropped (the
/// caller died, restarted, or used `send`, which expects no reply). A token is plain data; it
/// grants nothing beyond answering the request it came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplyToken {
    /// The task awaiting the reply.
    pub caller: TaskId,
    /// The endpoint the request was received on.
    pub endpoint: EndpointId,
}

impl ReplyToken {
    /// Packs the token into its register form: caller in bits 0..=31, endpoint in bits 32..=47.
    pub const fn to_raw(self) -> u64 {
        self.caller.to_raw() as u64 | ((self.endpoint.0 as u64) << 32)
    }

    /// Unpacks [`ReplyToken::to_raw`]; `None` if bits 48..=63 are set.
    pub const fn from_raw(raw: u64) -> Option<Self> {
        if raw >> 48 != 0 {
            return None;
        }
        Some(Self {
            caller: TaskId::from_raw(raw as u32),
            endpoint: EndpointId((raw >> 32) as u16),
        })
    }
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
        let last = TaskId {
            index: 3,
            generation: u16::MAX,
        };
        assert_eq!(last.next_generation().generation, 0);
        assert_eq!(last.next_generation().index, 3);
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
        assert!(ProcessClass::Runtime.is_system());
        assert!(!ProcessClass::Application.is_system());
    }

    #[test]
    fn credentials_round_trip_through_registers() {
        let user = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        for creds in [
            Credentials::KERNEL,
            Credentials {
                task: TaskId {
                    index: 5,
                    generation: 9,
                },
                user: Some(user),
                class: ProcessClass::Application,
            },
            Credentials {
                task: TaskId {
                    index: 0,
                    generation: 0,
                },
                user: None,
                class: ProcessClass::Runtime,
            },
        ] {
            assert_eq!(Credentials::from_regs(creds.to_regs()), Some(creds));
        }
        let regs = Credentials {
            task: TaskId::from_raw(0x0002_0001),
            user: Some(user),
            class: ProcessClass::Runtime,
        }
        .to_regs();
        assert_eq!(regs[0], 0x0000_0101_0002_0001);
        assert_eq!(regs[1], 0x0123_4567_89ab_cdef);
        assert_eq!(regs[2], 0xfedc_ba98_7654_3210);
        assert_eq!(Credentials::from_regs([3 << 32, 0, 0]), None);
        assert_eq!(Credentials::from_regs([1 << 41, 0, 0]), None);
    }

    #[test]
    fn reply_token_round_trips() {
        let token = ReplyToken {
            caller: TaskId {
                index: 4,
                generation: 2,
            },
            endpoint: EndpointId(7),
        };
        assert_eq!(token.to_raw(), 0x0007_0002_0004);
        assert_eq!(ReplyToken::from_raw(token.to_raw()), Some(token));
        assert_eq!(ReplyToken::from_raw(1 << 48), None);
    }
}
