//! The traits through which tasks use a kernel, so that the same service code runs on the
//! target (over `Syscalls`, raw `ecall`s) and on the host backend (over
//! `host::TaskHandle`, std threads).

use crate::{
    Credentials, EndpointId, Errno, LogLevel, ReplyToken, Tag, TaskId, syscall::TaskInfoWord,
};

/// One message taken from an endpoint by [`Kernel::receive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message's tag.
    pub tag: Tag,
    /// How many payload bytes were written to the receive buffer.
    pub len: usize,
    /// Who sent it, as stamped by the kernel.
    pub sender: Credentials,
    /// Answers the message through [`Kernel::reply`] (dropped if the sender used `send`).
    pub reply: ReplyToken,
}

/// The IPC, time, entropy and log services every task uses. See [`crate::syscall`] for the
/// exact contract of each operation (errors, faults, limits).
pub trait Kernel {
    /// Sends a request to `endpoint` and blocks for its reply; returns the reply's tag and length.
    ///
    /// Errors: [`Errno::NotGranted`], [`Errno::QueueFull`], [`Errno::PeerDied`] (the server
    /// died or restarted before replying), [`Errno::InvalidArgument`] (request longer than
    /// [`crate::MAX_PAYLOAD`]), [`Errno::BufferTooSmall`] (reply longer than `reply`).
    fn call(
        &self,
        endpoint: EndpointId,
        tag: Tag,
        request: &[u8],
        reply: &mut [u8],
    ) -> Result<(Tag, usize), Errno>;

    /// Queues a message on `endpoint` without waiting for a reply.
    ///
    /// Errors: [`Errno::NotGranted`], [`Errno::QueueFull`], [`Errno::PeerDied`],
    /// [`Errno::InvalidArgument`].
    fn send(&self, endpoint: EndpointId, tag: Tag, payload: &[u8]) -> Result<(), Errno>;

    /// Receives on an endpoint this task serves.
    ///
    /// Errors: [`Errno::WouldBlock`] (non-blocking, queue empty), [`Errno::BufferTooSmall`]
    /// (the next message does not fit; it stays queued), [`Errno::NotGranted`] (the task does
    /// not serve the endpoint).
    fn receive(
        &self,
        endpoint: EndpointId,
        buf: &mut [u8],
        blocking: bool,
    ) -> Result<Received, Errno>;

    /// Answers a received request. A reply to a caller that died, restarted or sent without
    /// waiting is dropped and still returns `Ok`.
    ///
    /// Errors: [`Errno::InvalidArgument`] (payload too long), [`Errno::NotGranted`] (the task
    /// does not serve the token's endpoint).
    fn reply(&self, token: ReplyToken, tag: Tag, payload: &[u8]) -> Result<(), Errno>;

    /// [`Kernel::reply`], then [`Kernel::receive`]: a server's answer and its wait for the next
    /// request, in one trap where the kernel has the `ReplyRecv` syscall (the default makes the
    /// two calls). A failed reply returns its error and receives nothing.
    ///
    /// Errors: those of `reply`, then those of `receive`.
    fn reply_receive(
        &self,
        token: ReplyToken,
        tag: Tag,
        payload: &[u8],
        endpoint: EndpointId,
        buf: &mut [u8],
        blocking: bool,
    ) -> Result<Received, Errno> {
        self.reply(token, tag, payload)?;
        self.receive(endpoint, buf, blocking)
    }

    /// Nanoseconds since boot, never decreasing.
    fn monotonic_ns(&self) -> u64;

    /// Nanoseconds since the Unix epoch; 0 when the machine has no real-time clock.
    fn wall_clock_ns(&self) -> u64;

    /// Fills `out` with random bytes from the kernel's entropy source.
    ///
    /// Errors: [`Errno::NotSupported`] (no entropy source). Buffers longer than
    /// [`crate::MAX_PAYLOAD`] are filled in pieces.
    fn random_bytes(&self, out: &mut [u8]) -> Result<(), Errno>;

    /// Writes a line to the debug log.
    fn log(&self, level: LogLevel, text: &str);

    /// Writes raw bytes to the console (`ConsoleWrite`): no prefix, no line break added.
    ///
    /// Errors: [`Errno::Denied`] (the task is not System class), [`Errno::NotSupported`] (no
    /// console; the default).
    fn console_write(&self, bytes: &[u8]) -> Result<usize, Errno> {
        let _ = bytes;
        Err(Errno::NotSupported)
    }

    /// Reads raw console input (`ConsoleRead`): at least one byte when `blocking`, 0 only when
    /// input has ended for good. No echo, no line editing.
    ///
    /// Errors: [`Errno::WouldBlock`] (non-blocking, nothing pending), [`Errno::Denied`] (not
    /// System class), [`Errno::InvalidArgument`] (empty buffer), [`Errno::NotSupported`] (no
    /// console; the default).
    fn console_read(&self, buf: &mut [u8], blocking: bool) -> Result<usize, Errno> {
        let _ = (buf, blocking);
        Err(Errno::NotSupported)
    }

    /// Stops every task and powers the machine off with `status` (`Shutdown`). On the target
    /// it does not return on success; on the host backend it returns `Ok` and the caller's
    /// next kernel operation stops it.
    ///
    /// Errors: [`Errno::Denied`] (not System class), [`Errno::NotSupported`] (the default).
    fn shutdown(&self, status: crate::ExitStatus) -> Result<(), Errno> {
        let _ = status;
        Err(Errno::NotSupported)
    }

    /// Lets other tasks run. The default does nothing.
    fn yield_now(&self) {}

    /// Blocks for at least `ns` nanoseconds. The default yields until the monotonic clock has
    /// advanced far enough.
    fn sleep_ns(&self, ns: u64) {
        let start = self.monotonic_ns();
        while self.monotonic_ns().saturating_sub(start) < ns {
            self.yield_now();
        }
    }
}

/// What [`Supervisor::task_info`] learns about a task slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The slot's current (or last) incarnation.
    pub id: TaskId,
    /// The full length of the task's name (the buffer holds as much as fits).
    pub name_len: usize,
    /// State, class, priority and boot flag.
    pub word: TaskInfoWord,
}

/// What [`Supervisor::endpoint_info`] learns about an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The task serving it.
    pub server: TaskId,
    /// The full length of its name (0 when unnamed; the buffer holds as much as fits).
    pub name_len: usize,
}

/// The extra services of the supervisor task (init): enumerate, start and restart tasks, and
/// hand out endpoint grants for its registry.
pub trait Supervisor: Kernel {
    /// Reads task slot `index`; writes its name into `name`.
    ///
    /// Errors: [`Errno::InvalidArgument`] past the last task (indices are dense from 0).
    fn task_info(&self, index: u16, name: &mut [u8]) -> Result<TaskInfo, Errno>;

    /// Starts (or restarts, bumping the generation) task slot `index`; returns the new id.
    ///
    /// Errors: [`Errno::Denied`] (not the supervisor), [`Errno::InvalidArgument`] (no such
    /// task).
    fn task_start(&self, index: u16) -> Result<TaskId, Errno>;

    /// Lets `task` send to `endpoint`.
    ///
    /// Errors: [`Errno::Denied`], [`Errno::PeerDied`] (stale generation),
    /// [`Errno::InvalidArgument`] (no such endpoint), [`Errno::OutOfResources`].
    fn grant(&self, task: TaskId, endpoint: EndpointId) -> Result<(), Errno>;

    /// Which task serves `endpoint` (current or last incarnation); writes the endpoint's
    /// system-file name into `name`.
    ///
    /// Errors: [`Errno::InvalidArgument`] past the last endpoint (they are dense from 0).
    fn endpoint_info(&self, endpoint: EndpointId, name: &mut [u8]) -> Result<EndpointInfo, Errno>;
}

/// The first endpoint task `me` serves whose system-file name is `name` (any name with `None`),
/// found by walking the kernel's endpoint table (numbered densely from 0), so that a service
/// binary needs no configuration of its own to find its endpoint in any system file.
pub fn served_endpoint<K: Supervisor + ?Sized>(
    kernel: &K,
    me: TaskId,
    name: Option<&str>,
) -> Option<EndpointId> {
    for n in 0..=u16::MAX {
        // System-file names are at most 32 bytes; a longer one matches no `name`.
        let mut buf = [0u8; 32];
        // Past the last endpoint the kernel answers InvalidArgument.
        let info = kernel.endpoint_info(EndpointId(n), &mut buf).ok()?;
        let named = |want: &str| buf.get(..info.name_len) == Some(want.as_bytes());
        if info.server.index == me.index && name.is_none_or(named) {
            return Some(EndpointId(n));
        }
    }
    None
}

/// A fixed buffer that formats one log line without allocating; text past its end is dropped.
pub struct LineBuf {
    buf: [u8; LineBuf::CAPACITY],
    len: usize,
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuf {
    /// The longest line kept, in bytes.
    pub const CAPACITY: usize = 256;

    /// An empty line.
    pub const fn new() -> Self {
        Self {
            buf: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// The text so far (cut at a character boundary if it was truncated).
    pub fn as_str(&self) -> &str {
        let bytes = &self.buf[..self.len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // Truncation can split a character; keep the valid prefix.
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl core::fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = Self::CAPACITY - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Formats `args` into a [`LineBuf`] and logs it at `level` through `kernel`.
pub fn log_fmt<K: Kernel + ?Sized>(kernel: &K, level: LogLevel, args: core::fmt::Arguments<'_>) {
    let mut line = LineBuf::new();
    // LineBuf never fails; a Display impl that fails leaves what it wrote so far.
    let _ = core::fmt::Write::write_fmt(&mut line, args);
    kernel.log(level, line.as_str());
}

/// Logs a formatted line through a [`Kernel`]: `klog!(k, Info, "started {}", name)`.
/// Formats on the stack (at most [`LineBuf::CAPACITY`] bytes), never allocates.
#[macro_export]
macro_rules! klog {
    ($kernel:expr, $level:ident, $($arg:tt)+) => {
        $crate::kernel::log_fmt($kernel, $crate::LogLevel::$level, format_args!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn line_buf_truncates_at_capacity_and_char_boundaries() {
        let mut l = LineBuf::new();
        let _ = write!(l, "a{}", 1);
        assert_eq!(l.as_str(), "a1");
        let mut l = LineBuf::new();
        for _ in 0..LineBuf::CAPACITY - 1 {
            let _ = l.write_str("x");
        }
        let _ = l.write_str("é");
        assert_eq!(l.as_str().len(), LineBuf::CAPACITY - 1);
    }
}
