//! Syscall numbers, the register convention, and the error codes syscalls return.
//!
//! # Register convention (RISC-V)
//!
//! A task traps into the kernel with `ecall`:
//!
//! | register | on entry | on return |
//! | --- | --- | --- |
//! | `a7` | the syscall number ([`Sysno`]) | unchanged |
//! | `a0`..`a5` | arguments 0..5 | `a0`: result (≥ 0) or a negated [`Errno`]; `a1`..`a5`: extra results |
//! | everything else | — | preserved |
//!
//! A result in `a0` is an error exactly when, read as a signed integer, it lies in
//! `-4095..=-1` ([`decode_ret`] / [`encode_ret`]). Extra results in `a1`.. are meaningful only on
//! success. Pointer arguments are task virtual addresses; a `(pointer, length)` pair must lie
//! wholly inside memory the task may read (or write, for output buffers).
//!
//! Two kinds of failure: a recoverable problem returns an [`Errno`]; a broken contract (an
//! unknown syscall number, a buffer outside the task's memory, a malformed register value)
//! **faults** the task with [`FaultKind::BadSyscall`] — the kernel stops it and reports it to
//! the supervisor (init), which restarts it per its policy. Faults never stop the kernel.
//!
//! # Task entry
//!
//! A task starts at its ELF entry point with `sp` at the 16-byte aligned top of its stack, `a0`
//! holding its own [`TaskId`](crate::TaskId) in register form, and its `.bss` zeroed. `gp` is the
//! task's business (see the task runtime).
//!
//! # The syscalls
//!
//! Each has a section below: arguments, returns, errors, faults, notes.
//!
//! ## `DebugWrite` (0)
//! - **Arguments:** `a0` pointer to UTF-8 text, `a1` its length in bytes, `a2` the
//!   [`LogLevel`].
//! - **Returns:** `a0` the number of bytes written (all of them; the kernel may truncate a line
//!   longer than [`crate::MAX_PAYLOAD`]).
//! - **Errors:** none.
//! - **Faults:** the buffer is not readable by the task; the level is not a [`LogLevel`].
//! - **Notes:** the kernel prefixes the line with the task's name and the level. Text need not
//!   end in a newline; one call is one line.
//!
//! ## `Exit` (1)
//! - **Arguments:** `a0` the exit status ([`ExitStatus`]; 0 is success).
//! - **Returns:** never.
//! - **Errors / faults:** none.
//! - **Notes:** the task stops; callers blocked on its endpoints get [`Errno::PeerDied`]; the
//!   supervisor receives a fault report of kind [`FaultKind::Exited`] with the status as detail.
//!
//! ## `Send` (2)
//! - **Arguments:** `a0` endpoint, `a1` tag, `a2` pointer to the payload, `a3` payload length.
//! - **Returns:** `a0` = 0 once the message is queued. Does not wait for the receiver.
//! - **Errors:** [`Errno::NotGranted`] (the task holds no grant for the endpoint),
//!   [`Errno::QueueFull`] (the endpoint's bounded queue is full; nothing was queued),
//!   [`Errno::PeerDied`] (no live task serves the endpoint), [`Errno::InvalidArgument`] (length
//!   above [`crate::MAX_PAYLOAD`], unknown endpoint).
//! - **Faults:** the payload is not readable by the task.
//! - **Notes:** the receiver gets a reply token with the message, but a reply to a `send` is
//!   dropped (the sender is not waiting for one).
//!
//! ## `Receive` (3)
//! - **Arguments:** `a0` endpoint (one this task serves), `a1` pointer to the buffer, `a2` its
//!   length, `a3` [`RecvFlags`].
//! - **Returns:** `a0` payload length, `a1` tag, `a2` [`ReplyToken`](crate::ReplyToken) register
//!   form, `a3`..`a5` the sender's [`Credentials`](crate::Credentials) register form
//!   ([`Credentials::to_regs`](crate::Credentials::to_regs)).
//! - **Errors:** [`Errno::WouldBlock`] (non-blocking and the queue is empty),
//!   [`Errno::BufferTooSmall`] (the next message is longer than the buffer; it stays queued),
//!   [`Errno::NotGranted`] (the task does not serve the endpoint).
//! - **Faults:** the buffer is not writable by the task; unknown flag bits.
//! - **Notes:** messages are delivered in FIFO order. The credentials are the kernel's record
//!   of the sender, never anything the sender wrote.
//!
//! ## `Call` (4)
//! - **Arguments:** `a0` endpoint, `a1` tag, `a2` pointer to the request, `a3` its length, `a4`
//!   pointer to the reply buffer, `a5` its length.
//! - **Returns:** `a0` reply payload length, `a1` reply tag.
//! - **Errors:** as `Send`, plus [`Errno::PeerDied`] when the server dies or restarts before it
//!   replies (never a hang), and [`Errno::BufferTooSmall`] when the reply is longer than the
//!   reply buffer (the reply is consumed).
//! - **Faults:** the request is not readable, or the reply buffer not writable, by the task.
//! - **Notes:** the caller blocks until the reply. A full queue is an immediate error, not a
//!   wait.
//!
//! ## `Reply` (5)
//! - **Arguments:** `a0` reply token (register form), `a1` tag, `a2` pointer to the payload,
//!   `a3` its length.
//! - **Returns:** `a0` = 0, also when the reply was dropped because the caller died, restarted
//!   (the token's generation is stale) or is not waiting for this server.
//! - **Errors:** [`Errno::InvalidArgument`] (length above [`crate::MAX_PAYLOAD`]),
//!   [`Errno::NotGranted`] (the task does not serve the token's endpoint).
//! - **Faults:** the payload is not readable by the task; a malformed token.
//!
//! ## `ReplyRecv` (22)
//! - **Arguments:** `a0` reply token (register form), `a1` reply tag, `a2` pointer to the reply
//!   payload, `a3` its length, `a4` pointer to the receive buffer, `a5` [`ReplyRecvWord`]: the
//!   buffer's length, the [`RecvFlags`] and the endpoint to receive on, packed so that they fit
//!   a 32-bit register too.
//! - **Returns:** as `Receive`.
//! - **Errors:** as `Reply` (then nothing was received), then as `Receive`.
//! - **Faults:** as `Reply` and `Receive`; every pointer and the flags are checked before the
//!   reply is delivered, so a fault never follows a delivered reply.
//! - **Notes:** a server's `Reply` and its next `Receive` in one trap: the IPC fast path for the
//!   server side of a round trip (a client's `Call` is already one trap).
//!
//! ## `MonotonicTime` (6)
//! - **Arguments:** none. **Returns:** `a0` nanoseconds since boot, never decreasing.
//! - **Errors / faults:** none.
//!
//! ## `WallClockTime` (7)
//! - **Arguments:** none. **Returns:** `a0` nanoseconds since the Unix epoch (RTC).
//! - **Errors:** [`Errno::NotSupported`] when the machine has no real-time clock.
//! - **Faults:** none.
//!
//! ## `RandomBytes` (8)
//! - **Arguments:** `a0` pointer to the output buffer, `a1` its length (≤
//!   [`crate::MAX_PAYLOAD`]).
//! - **Returns:** `a0` = 0 with the buffer filled from the kernel's entropy source.
//! - **Errors:** [`Errno::InvalidArgument`] (length too large), [`Errno::NotSupported`] (no
//!   entropy source).
//! - **Faults:** the buffer is not writable by the task.
//!
//! ## `Yield` (9)
//! - **Arguments:** none. **Returns:** `a0` = 0 after other runnable tasks of the same priority
//!   had a turn. **Errors / faults:** none.
//!
//! ## `Sleep` (10)
//! - **Arguments:** `a0` duration in nanoseconds. **Returns:** `a0` = 0 no earlier than that.
//! - **Errors / faults:** none.
//!
//! ## `DmaAlloc` (11)
//! - **Arguments:** `a0` size in bytes (rounded up to 4 KiB pages).
//! - **Returns:** `a0` virtual address in the task, `a1` physical address for the device. The
//!   memory is physically contiguous, page-aligned, zeroed and mapped read-write; it lives until
//!   the task stops.
//! - **Errors:** [`Errno::Denied`] (the system file gives the task no DMA budget),
//!   [`Errno::OutOfResources`] (budget or memory exhausted), [`Errno::InvalidArgument`] (size 0).
//! - **Faults:** none.
//!
//! ## `MapMmio` (12)
//! - **Arguments:** `a0` device number ([`Device::number`](crate::device::Device::number)).
//! - **Returns:** `a0` virtual base, `a1` size in bytes, `a2` physical base, `a3` the device's
//!   interrupt number, 0 when it has none. Mapping twice returns the same mapping.
//! - **Errors:** [`Errno::NotGranted`] (the system file does not grant the device to the task),
//!   [`Errno::InvalidArgument`] (no such device number), [`Errno::NotSupported`] (the machine
//!   lacks the device).
//! - **Faults:** none.
//! - **Notes:** the kernel finds the device's window in the device tree; tasks never hard-code
//!   addresses. The mapping is device memory (uncached, strongly ordered).
//!
//! ## `WaitNotification` (13)
//! - **Arguments:** `a0` mask of notification bits, `a1` [`RecvFlags`], `a2` timeout of a
//!   blocking wait in nanoseconds (0: none).
//! - **Returns:** `a0` the pending bits within the mask; they are cleared. 0 when the timeout
//!   passed first.
//! - **Errors:** [`Errno::WouldBlock`] (non-blocking and none pending).
//! - **Faults:** unknown flag bits.
//! - **Notes:** the interrupt of a granted device sets its
//!   [`notification_bit`](crate::device::Device::notification_bit) and stays masked until
//!   `IrqAck`. A kernel without interrupt forwarding never sets a bit; drivers then poll
//!   (`Yield`/`Sleep` between looks at the device). A driver that waits for a completion with
//!   a timeout re-checks its device when the wait returns 0, so a lost interrupt costs a
//!   timeout, not a hang.
//!
//! ## `IrqAck` (14)
//! - **Arguments:** `a0` device number. **Returns:** `a0` = 0; the interrupt is unmasked.
//! - **Errors:** [`Errno::NotGranted`] (device not granted), [`Errno::InvalidArgument`] (no such
//!   device, or it has no interrupt).
//! - **Faults:** none.
//!
//! ## `TaskStart` (15) — supervisor only
//! - **Arguments:** `a0` task index.
//! - **Returns:** `a0` the [`TaskId`](crate::TaskId) of the started incarnation. The first start
//!   has generation 0; each later start bumps it.
//! - **Errors:** [`Errno::Denied`] (the caller is not the supervisor), [`Errno::InvalidArgument`]
//!   (no such task).
//! - **Faults:** none.
//! - **Notes:** a running task is stopped first (its blocked callers get
//!   [`Errno::PeerDied`]). The task restarts from its ELF image with fresh memory, an empty
//!   endpoint queue and only the grants of the system file.
//!
//! ## `TaskInfo` (16)
//! - **Arguments:** `a0` task index, `a1` pointer to a name buffer, `a2` its length.
//! - **Returns:** `a0` the name's full length (the buffer receives as much as fits), `a1` the
//!   current [`TaskId`](crate::TaskId), `a2` the [`TaskInfoWord`] register form.
//! - **Errors:** [`Errno::InvalidArgument`] (no such task: indices are dense from 0, so a
//!   supervisor enumerates until this error).
//! - **Faults:** the buffer is not writable by the task.
//!
//! ## `Grant` (17) — supervisor only
//! - **Arguments:** `a0` the grantee's [`TaskId`](crate::TaskId), `a1` endpoint.
//! - **Returns:** `a0` = 0; the grantee may now send to the endpoint.
//! - **Errors:** [`Errno::Denied`] (not the supervisor), [`Errno::PeerDied`] (the grantee's
//!   generation is stale), [`Errno::InvalidArgument`] (no such endpoint),
//!   [`Errno::OutOfResources`] (the grantee's grant table is full).
//! - **Faults:** none.
//!
//! ## `EndpointInfo` (18)
//! - **Arguments:** `a0` endpoint, `a1` pointer to a name buffer, `a2` its length.
//! - **Returns:** `a0` the [`TaskId`](crate::TaskId) of the task serving it (its current or
//!   last incarnation), `a1` the full length of the endpoint's name in the system file (the
//!   buffer receives as much as fits; 0 for an unnamed endpoint).
//! - **Errors:** [`Errno::InvalidArgument`] (no such endpoint: endpoints are dense from 0, so
//!   init enumerates until this error).
//! - **Faults:** the buffer is not writable by the task.
//! - **Notes:** init seeds its registry with the named endpoints of the system file, and checks
//!   that a task registering a service serves the endpoint it names.
//!
//! ## `ConsoleWrite` (19) — System class only
//! - **Arguments:** `a0` pointer to the bytes, `a1` their length.
//! - **Returns:** `a0` the number of bytes written (all of them).
//! - **Errors:** [`Errno::Denied`] (the caller is not of class
//!   [`ProcessClass::System`](crate::ProcessClass::System)), [`Errno::InvalidArgument`] (length
//!   above [`crate::MAX_PAYLOAD`]), [`Errno::NotSupported`] (the machine has no console).
//! - **Faults:** the buffer is not readable by the task.
//! - **Notes:** the bytes go to the console UART as they are, without the task-name and level
//!   prefix of `DebugWrite` and without a line break of their own; the kernel writes each
//!   `\n` as `\r\n`. Bytes are not checked for UTF-8 (terminal control sequences pass). This is
//!   the output half of the interactive console (the shell task); logs keep using `DebugWrite`.
//!
//! ## `ConsoleRead` (20) — System class only
//! - **Arguments:** `a0` pointer to the buffer, `a1` its length (≥ 1), `a2` [`RecvFlags`]
//!   (blocking or not).
//! - **Returns:** `a0` the number of bytes read, 1 ..= length. The bytes are raw console input
//!   as the UART received it: no echo, no line editing (`\r` for Enter on a terminal, `\n`
//!   from a pipe, 0x7F/0x08 for backspace, escape sequences for arrow keys). The reader
//!   echoes and edits lines itself. A blocking read returns 0 only when console input has
//!   ended for good (a host console that was closed; a UART never ends).
//! - **Errors:** [`Errno::WouldBlock`] (non-blocking and no input pending),
//!   [`Errno::Denied`] (not System class), [`Errno::InvalidArgument`] (length 0),
//!   [`Errno::NotSupported`] (no console).
//! - **Faults:** the buffer is not writable by the task; unknown flag bits.
//! - **Notes:** a blocking read returns as soon as at least one byte is available (it does not
//!   wait for a full buffer or a line). The kernel buffers received bytes (at least 256) from
//!   the UART's receive interrupt or by polling the receive register while the reader is
//!   blocked. When its buffer is full it stops draining the UART (receive interrupt masked
//!   until a read makes room) rather than dropping bytes: the UART's FIFO then fills and the
//!   sender is held back (QEMU stops reading its stdin), so scripted input piped into the
//!   machine is never lost, however early it arrives. Input is delivered to one reader: if
//!   several tasks read, each byte goes to exactly one of them.
//!
//! ## `Shutdown` (21) — System class only
//! - **Arguments:** `a0` the machine's exit status ([`ExitStatus`]; 0 is success).
//! - **Returns:** never on success: the kernel stops every task and powers the machine off
//!   (on QEMU through SBI system reset: shutdown for status 0, a failure reset reason
//!   otherwise, so that the QEMU process exits with success or failure accordingly).
//! - **Errors:** [`Errno::Denied`] (the caller is not of class
//!   [`ProcessClass::System`](crate::ProcessClass::System)).
//! - **Faults:** none.
//! - **Notes:** services get no further turn, so a caller first makes sure the state it cares
//!   about is committed (the VFS commits every acknowledged request before replying, so a
//!   shell's last acknowledged change is durable).

mod errno;
mod values;

pub use errno::{Errno, decode_ret, encode_ret};
pub use values::{ExitStatus, FaultKind, LogLevel, RecvFlags, TaskInfoWord, TaskState};

/// Syscall numbers, passed in register `a7`. See the module docs for each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Sysno {
    /// Write a line to the kernel's debug log.
    DebugWrite = 0,
    /// Stop the calling task with an exit status.
    Exit = 1,
    /// Queue a message on an endpoint without waiting for a reply.
    Send = 2,
    /// Take the next message from an endpoint the task serves.
    Receive = 3,
    /// Send a request and block for its reply.
    Call = 4,
    /// Answer a request received with a reply token.
    Reply = 5,
    /// Nanoseconds since boot.
    MonotonicTime = 6,
    /// Nanoseconds since the Unix epoch.
    WallClockTime = 7,
    /// Fill a buffer with random bytes.
    RandomBytes = 8,
    /// Let other tasks run.
    Yield = 9,
    /// Block for a duration.
    Sleep = 10,
    /// Allocate DMA-able memory; returns its virtual and physical address.
    DmaAlloc = 11,
    /// Map a granted device's MMIO window.
    MapMmio = 12,
    /// Wait for notification bits (forwarded interrupts).
    WaitNotification = 13,
    /// Re-enable a forwarded interrupt.
    IrqAck = 14,
    /// Start or restart a task (supervisor only).
    TaskStart = 15,
    /// Read a task's name, id and state.
    TaskInfo = 16,
    /// Grant a task the right to send to an endpoint (supervisor only).
    Grant = 17,
    /// Which task serves an endpoint, and the endpoint's name.
    EndpointInfo = 18,
    /// Write raw bytes to the console (System class only).
    ConsoleWrite = 19,
    /// Read raw bytes typed on the console (System class only).
    ConsoleRead = 20,
    /// Stop every task and power the machine off (System class only).
    Shutdown = 21,
    /// `Reply` then `Receive`, in one trap.
    ReplyRecv = 22,
}

/// `ReplyRecv`'s `a5`: the receive buffer's length (bits 0..16), the [`RecvFlags`] (bits
/// 16..24) and the endpoint (bits 24..32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyRecvWord {
    /// The receive buffer's length (at most [`crate::MAX_PAYLOAD`] is used).
    pub cap: usize,
    /// Receive flags.
    pub flags: RecvFlags,
    /// The endpoint to receive on.
    pub endpoint: u16,
}

impl ReplyRecvWord {
    /// The register form; `None` when a field does not fit its bits.
    pub const fn to_raw(self) -> Option<usize> {
        if self.cap > 0xffff || self.flags.0 > 0xff || self.endpoint > 0xff {
            return None;
        }
        Some(self.cap | (self.flags.0 << 16) | ((self.endpoint as usize) << 24))
    }

    /// Decodes the register form; `None` when bits above 32 are set.
    pub const fn from_raw(raw: usize) -> Option<Self> {
        if raw as u64 > u32::MAX as u64 {
            return None;
        }
        Some(Self {
            cap: raw & 0xffff,
            flags: RecvFlags((raw >> 16) & 0xff),
            endpoint: ((raw >> 24) & 0xff) as u16,
        })
    }
}

impl Sysno {
    /// Every syscall, in number order.
    pub const ALL: [Sysno; 23] = [
        Self::DebugWrite,
        Self::Exit,
        Self::Send,
        Self::Receive,
        Self::Call,
        Self::Reply,
        Self::MonotonicTime,
        Self::WallClockTime,
        Self::RandomBytes,
        Self::Yield,
        Self::Sleep,
        Self::DmaAlloc,
        Self::MapMmio,
        Self::WaitNotification,
        Self::IrqAck,
        Self::TaskStart,
        Self::TaskInfo,
        Self::Grant,
        Self::EndpointInfo,
        Self::ConsoleWrite,
        Self::ConsoleRead,
        Self::Shutdown,
        Self::ReplyRecv,
    ];

    /// Decodes a register value; `None` for a number no syscall has (the kernel faults the task).
    pub const fn from_raw(raw: usize) -> Option<Self> {
        if raw < Self::ALL.len() {
            Some(Self::ALL[raw])
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysno_round_trips_and_numbers_are_fixed() {
        for (n, s) in Sysno::ALL.iter().enumerate() {
            assert_eq!(*s as usize, n);
            assert_eq!(Sysno::from_raw(n), Some(*s));
        }
        assert_eq!(Sysno::from_raw(Sysno::ALL.len()), None);
        assert_eq!(Sysno::Call as usize, 4);
        assert_eq!(Sysno::EndpointInfo as usize, 18);
        assert_eq!(Sysno::ConsoleWrite as usize, 19);
        assert_eq!(Sysno::ConsoleRead as usize, 20);
        assert_eq!(Sysno::Shutdown as usize, 21);
        assert_eq!(Sysno::ReplyRecv as usize, 22);
    }

    #[test]
    fn reply_recv_words_round_trip_within_32_bits() {
        let w = ReplyRecvWord {
            cap: crate::MAX_PAYLOAD,
            flags: RecvFlags::NONBLOCK,
            endpoint: 63,
        };
        let raw = w.to_raw().unwrap();
        assert!(raw as u64 <= u64::from(u32::MAX));
        assert_eq!(ReplyRecvWord::from_raw(raw), Some(w));
        assert_eq!(ReplyRecvWord { endpoint: 256, ..w }.to_raw(), None);
        assert_eq!(ReplyRecvWord { cap: 0x1_0000, ..w }.to_raw(), None);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(ReplyRecvWord::from_raw(1 << 32), None);
    }
}
