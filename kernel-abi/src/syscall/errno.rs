//! Error numbers and the encoding of a syscall's result register (`a0`).

use serde::{Deserialize, Serialize};

/// Errors a syscall returns, as stable numbers (returned negated in `a0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u16)]
pub enum Errno {
    /// An argument was out of range (a length above the limit, an unknown endpoint or task).
    InvalidArgument = 1,
    /// The target endpoint's queue is full; the message was not queued.
    QueueFull = 2,
    /// The caller holds no grant for the target endpoint (or does not serve it).
    NotGranted = 3,
    /// The peer task died (or restarted) before the operation completed, or is not running.
    PeerDied = 4,
    /// A non-blocking operation found nothing to do.
    WouldBlock = 5,
    /// The kernel is out of the resource the call needs, or the task's budget is used up.
    OutOfResources = 6,
    /// A message or reply is longer than the buffer offered for it.
    BufferTooSmall = 7,
    /// This kernel or machine does not provide the service (no RTC, no entropy source).
    NotSupported = 8,
    /// The caller is not allowed this syscall (for example a supervisor-only one).
    Denied = 9,
    /// An error number this version of the ABI does not know (from a newer kernel).
    Unknown = 0xFFF,
}

impl Errno {
    /// Every error a kernel may return, in number order (excluding [`Errno::Unknown`]).
    pub const ALL: [Errno; 9] = [
        Self::InvalidArgument,
        Self::QueueFull,
        Self::NotGranted,
        Self::PeerDied,
        Self::WouldBlock,
        Self::OutOfResources,
        Self::BufferTooSmall,
        Self::NotSupported,
        Self::Denied,
    ];

    /// Decodes a stable error number; `None` for one this ABI does not define.
    pub const fn from_raw(raw: u16) -> Option<Self> {
        if raw >= 1 && (raw as usize) <= Self::ALL.len() {
            Some(Self::ALL[raw as usize - 1])
        } else {
            None
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Self::InvalidArgument => "invalid argument",
            Self::QueueFull => "endpoint queue full",
            Self::NotGranted => "endpoint not granted",
            Self::PeerDied => "peer task died",
            Self::WouldBlock => "would block",
            Self::OutOfResources => "out of resources",
            Self::BufferTooSmall => "buffer too small",
            Self::NotSupported => "not supported",
            Self::Denied => "denied",
            Self::Unknown => "unknown error",
        };
        f.write_str(text)
    }
}

/// The largest error number a result register can carry.
const MAX_ERRNO: usize = 4095;

/// Encodes a syscall result for `a0`: the value itself, or the negated error number.
///
/// Values must stay below `usize::MAX - 4095`; the kernel never returns larger ones.
pub const fn encode_ret(result: Result<usize, Errno>) -> usize {
    match result {
        Ok(value) => value,
        Err(errno) => (errno as u16 as usize).wrapping_neg(),
    }
}

/// Decodes `a0` after a syscall: an error exactly when it lies in `-4095..=-1` as a signed
/// integer. An error number this ABI does not define becomes [`Errno::Unknown`].
pub const fn decode_ret(raw: usize) -> Result<usize, Errno> {
    let neg = raw.wrapping_neg();
    if neg >= 1 && neg <= MAX_ERRNO {
        match Errno::from_raw(neg as u16) {
            Some(errno) => Err(errno),
            None => Err(Errno::Unknown),
        }
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_round_trips_and_numbers_are_fixed() {
        for (i, e) in Errno::ALL.iter().enumerate() {
            assert_eq!(*e as u16 as usize, i + 1);
            assert_eq!(Errno::from_raw(*e as u16), Some(*e));
            assert_eq!(decode_ret(encode_ret(Err(*e))), Err(*e));
        }
        assert_eq!(Errno::from_raw(0), None);
        assert_eq!(Errno::from_raw(10), None);
        assert_eq!(Errno::QueueFull as u16, 2);
        assert_eq!(encode_ret(Err(Errno::PeerDied)), usize::MAX - 3);
    }

    #[test]
    fn results_round_trip() {
        for v in [0usize, 1, 4096, usize::MAX - 4096] {
            assert_eq!(decode_ret(encode_ret(Ok(v))), Ok(v));
        }
        assert_eq!(decode_ret(usize::MAX - 99), Err(Errno::Unknown));
        assert_eq!(decode_ret(0usize.wrapping_sub(4096)), Ok(usize::MAX - 4095));
    }
}
