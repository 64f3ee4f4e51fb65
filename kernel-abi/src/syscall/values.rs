//! The small values syscalls pass in registers: receive flags, log levels, exit statuses, fault
//! kinds, task states and the packed task-information word.

use serde::{Deserialize, Serialize};

/// Flags of `Receive` and `WaitNotification` (argument `a3` / `a1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RecvFlags(pub usize);

impl RecvFlags {
    /// Block until something arrives.
    pub const BLOCKING: RecvFlags = RecvFlags(0);
    /// Return [`Errno::WouldBlock`](super::Errno::WouldBlock) instead of blocking.
    pub const NONBLOCK: RecvFlags = RecvFlags(1);

    /// The flags for a receive that blocks or not.
    pub const fn new(blocking: bool) -> Self {
        if blocking {
            Self::BLOCKING
        } else {
            Self::NONBLOCK
        }
    }

    /// Whether the flags use only defined bits (the kernel faults the task otherwise).
    pub const fn is_valid(self) -> bool {
        self.0 & !Self::NONBLOCK.0 == 0
    }

    /// Whether the receive must not block.
    pub const fn is_nonblocking(self) -> bool {
        self.0 & Self::NONBLOCK.0 != 0
    }
}

/// Severity of a log line (`DebugWrite` argument `a2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something is off but the task carries on.
    Warn = 2,
    /// What the system does, at the level an operator follows.
    Info = 3,
    /// Detail for developers.
    Debug = 4,
    /// Very fine detail.
    Trace = 5,
}

impl LogLevel {
    /// Decodes the register form.
    pub const fn from_raw(raw: usize) -> Option<Self> {
        match raw {
            1 => Some(Self::Error),
            2 => Some(Self::Warn),
            3 => Some(Self::Info),
            4 => Some(Self::Debug),
            5 => Some(Self::Trace),
            _ => None,
        }
    }

    /// The level's name as printed in log lines.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Warn => "WARN",
            Self::Info => "INFO",
            Self::Debug => "DEBUG",
            Self::Trace => "TRACE",
        }
    }
}

/// A task's exit status (`Exit` argument `a0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExitStatus(pub u32);

impl ExitStatus {
    /// The task finished its work.
    pub const SUCCESS: ExitStatus = ExitStatus(0);
    /// The task panicked (the task runtime's panic handler exits with this).
    pub const PANIC: ExitStatus = ExitStatus(101);
}

/// Why a task stopped, as reported to the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum FaultKind {
    /// A load, store or fetch the task may not do (detail: the faulting address).
    MemoryAccess = 1,
    /// An illegal or privileged instruction (detail: the instruction bits, if known).
    IllegalInstruction = 2,
    /// A syscall with an unknown number or arguments that break the contract (detail: the
    /// syscall number).
    BadSyscall = 3,
    /// The task called `Exit` (detail: the exit status; [`ExitStatus::PANIC`] after a panic).
    Exited = 4,
    /// The task was stopped by a restart request while running (detail: 0).
    Killed = 5,
}

impl FaultKind {
    /// Decodes the register / wire form.
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(Self::MemoryAccess),
            2 => Some(Self::IllegalInstruction),
            3 => Some(Self::BadSyscall),
            4 => Some(Self::Exited),
            5 => Some(Self::Killed),
            _ => None,
        }
    }
}

/// The life-cycle state of a task slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TaskState {
    /// Never started (waits for the supervisor's `TaskStart`).
    NotStarted = 0,
    /// Running, runnable or blocked in a syscall.
    Running = 1,
    /// Stopped by a fault; waits for a restart.
    Faulted = 2,
    /// Stopped by `Exit`.
    Exited = 3,
}

impl TaskState {
    /// Decodes the register form.
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            0 => Some(Self::NotStarted),
            1 => Some(Self::Running),
            2 => Some(Self::Faulted),
            3 => Some(Self::Exited),
            _ => None,
        }
    }
}

/// What `TaskInfo` returns in `a2`: the task's state, class, priority and boot flag.
///
/// Register form: bits 0..=7 state, 8..=15 class, 16..=23 priority (0 highest), bit 24 set
/// when the task runs from boot: the kernel may start it itself, otherwise init starts every
/// such task still [`TaskState::NotStarted`], in index order. Tasks without the bit are started
/// on demand (by init) or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskInfoWord {
    /// The task's state.
    pub state: TaskState,
    /// The task's process class.
    pub class: crate::ProcessClass,
    /// Scheduling priority, 0 highest.
    pub priority: u8,
    /// Whether it runs from boot (started by the kernel, or by init in task-index order).
    pub start_at_boot: bool,
}

impl TaskInfoWord {
    /// Packs the register form.
    pub const fn to_raw(self) -> usize {
        self.state as u8 as usize
            | (self.class as u8 as usize) << 8
            | (self.priority as usize) << 16
            | (self.start_at_boot as usize) << 24
    }

    /// Unpacks the register form; `None` for values no kernel writes.
    pub const fn from_raw(raw: usize) -> Option<Self> {
        if raw >> 25 != 0 {
            return None;
        }
        let state = match TaskState::from_raw(raw as u8) {
            Some(s) => s,
            None => return None,
        };
        let class = match crate::ProcessClass::from_raw((raw >> 8) as u8) {
            Some(c) => c,
            None => return None,
        };
        Some(Self {
            state,
            class,
            priority: (raw >> 16) as u8,
            start_at_boot: raw & (1 << 24) != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_levels_round_trip() {
        assert!(RecvFlags::new(false).is_nonblocking());
        assert!(!RecvFlags::new(true).is_nonblocking());
        assert!(RecvFlags::NONBLOCK.is_valid());
        assert!(!RecvFlags(2).is_valid());
        for l in [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ] {
            assert_eq!(LogLevel::from_raw(l as usize), Some(l));
        }
        assert_eq!(LogLevel::from_raw(0), None);
        assert_eq!(LogLevel::from_raw(6), None);
    }

    #[test]
    fn fault_kinds_and_states_round_trip() {
        for k in [
            FaultKind::MemoryAccess,
            FaultKind::IllegalInstruction,
            FaultKind::BadSyscall,
            FaultKind::Exited,
            FaultKind::Killed,
        ] {
            assert_eq!(FaultKind::from_raw(k as u8), Some(k));
        }
        assert_eq!(FaultKind::from_raw(0), None);
        for s in [
            TaskState::NotStarted,
            TaskState::Running,
            TaskState::Faulted,
            TaskState::Exited,
        ] {
            assert_eq!(TaskState::from_raw(s as u8), Some(s));
        }
        assert_eq!(TaskState::from_raw(4), None);
    }

    #[test]
    fn task_info_word_round_trips() {
        let w = TaskInfoWord {
            state: TaskState::Faulted,
            class: crate::ProcessClass::Runtime,
            priority: 3,
            start_at_boot: true,
        };
        assert_eq!(w.to_raw(), 0x0103_0102);
        assert_eq!(TaskInfoWord::from_raw(w.to_raw()), Some(w));
        assert_eq!(TaskInfoWord::from_raw(1 << 25), None);
        assert_eq!(TaskInfoWord::from_raw(9), None);
    }
}
