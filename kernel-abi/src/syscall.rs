//! Syscall numbers and the error codes syscalls return.

/// Syscall numbers, passed in register `a7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Sysno {
    /// Write bytes to the kernel's debug console.
    DebugWrite = 0,
    /// Stop the calling task with an exit status.
    Exit = 1,
}

impl Sysno {
    /// Decodes a register value; `None` for a number no syscall has.
    pub const fn from_raw(raw: usize) -> Option<Self> {
        match raw {
            0 => Some(Self::DebugWrite),
            1 => Some(Self::Exit),
            _ => None,
        }
    }
}

/// Errors a syscall returns, as stable numbers (returned negated in `a0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Errno {
    /// An argument was out of range or pointed outside the caller's memory.
    InvalidArgument = 1,
    /// The target endpoint's queue is full; the message was not queued.
    QueueFull = 2,
    /// The caller holds no grant for the target endpoint.
    NotGranted = 3,
    /// The peer task died (or restarted) before the operation completed.
    PeerDied = 4,
    /// A non-blocking receive found no message.
    WouldBlock = 5,
    /// The kernel is out of the resource the call needs.
    OutOfResources = 6,
}

impl Errno {
    /// Decodes a stable error number.
    pub const fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            1 => Some(Self::InvalidArgument),
            2 => Some(Self::QueueFull),
            3 => Some(Self::NotGranted),
            4 => Some(Self::PeerDied),
            5 => Some(Self::WouldBlock),
            6 => Some(Self::OutOfResources),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for s in [Sysno::DebugWrite, Sysno::Exit] {
            assert_eq!(Sysno::from_raw(s as usize), Some(s));
        }
        for e in 1..=6u16 {
            assert_eq!(Errno::from_raw(e).map(|e| e as u16), Some(e));
        }
        assert_eq!(Errno::from_raw(0), None);
    }
}
