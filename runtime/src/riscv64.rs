//! The target backend for riscv64: raw `ecall` stubs and [`Syscalls`], the zero-sized type that
//! implements [`Kernel`] and [`Supervisor`] over them. See [`kernel_abi::syscall`] for the register
//! convention and each syscall's contract.

use core::arch::asm;

use kernel_abi::{
    Credentials, EndpointId, Errno, ExitStatus, Kernel, LogLevel, MAX_PAYLOAD, ReplyToken, Tag,
    TaskId,
    device::Device,
    kernel::{EndpointInfo, Received, Supervisor, TaskInfo},
    syscall::{RecvFlags, ReplyRecvWord, Sysno, TaskInfoWord, decode_ret},
};

/// Performs syscall `sysno` with six arguments; returns `a0..=a5` as the kernel left them.
///
/// # Safety
///
/// Every pointer argument must satisfy what [`kernel_abi::syscall`] documents for `sysno`: a
/// `(pointer, length)` pair the kernel reads must be valid for reads of that length, one it
/// writes must be valid for writes of that length and not aliased by any live reference.
#[inline(always)]
pub unsafe fn raw_syscall(sysno: Sysno, args: [usize; 6]) -> [usize; 6] {
    let [mut a0, mut a1, mut a2, mut a3, mut a4, mut a5] = args;
    // SAFETY: `ecall` traps to the kernel, which reads a7 and a0..a5, writes a0..a5 and
    // preserves every other register (the ABI's register convention). Memory the kernel reads
    // or writes through pointer arguments is valid per this function's contract.
    unsafe {
        asm!(
            "ecall",
            inout("a0") a0,
            inout("a1") a1,
            inout("a2") a2,
            inout("a3") a3,
            inout("a4") a4,
            inout("a5") a5,
            in("a7") sysno as usize,
            options(nostack),
        );
    }
    [a0, a1, a2, a3, a4, a5]
}

/// A syscall without pointer arguments.
#[inline(always)]
fn plain(sysno: Sysno, args: [usize; 6]) -> [usize; 6] {
    // SAFETY: callers pass no pointer arguments (checked at each call site below), so there
    // is no memory for the kernel to touch.
    unsafe { raw_syscall(sysno, args) }
}

/// The kernel, reached through `ecall`. Zero-sized; every task may create as many as it likes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Syscalls;

impl Syscalls {
    /// Stops the calling task (`Exit`).
    pub fn exit(status: ExitStatus) -> ! {
        plain(Sysno::Exit, [status.0 as usize, 0, 0, 0, 0, 0]);
        // The kernel never returns from `Exit`; should one do so, spin rather than run on.
        loop {
            core::hint::spin_loop();
        }
    }

    /// `DmaAlloc`: returns (virtual address, physical address) of `size` zeroed bytes.
    pub fn dma_alloc(size: usize) -> Result<(usize, u64), Errno> {
        let r = plain(Sysno::DmaAlloc, [size, 0, 0, 0, 0, 0]);
        decode_ret(r[0]).map(|virt| (virt, r[1] as u64))
    }

    /// `MapMmio`: maps the window of a device granted to this task.
    pub fn map_mmio(device: Device) -> Result<MmioWindow, Errno> {
        let r = plain(Sysno::MapMmio, [device.number(), 0, 0, 0, 0, 0]);
        decode_ret(r[0]).map(|virt| MmioWindow {
            virt,
            size: r[1],
            phys: r[2] as u64,
            irq: r[3] as u32,
        })
    }

    /// `WaitNotification`: waits for (or polls) the bits in `mask`; returns those that fired.
    pub fn wait_notification(mask: u32, blocking: bool) -> Result<u32, Errno> {
        let r = plain(
            Sysno::WaitNotification,
            [mask as usize, RecvFlags::new(blocking).0, 0, 0, 0, 0],
        );
        decode_ret(r[0]).map(|bits| bits as u32)
    }

    /// `WaitNotification`, blocking for at most `timeout_ns` nanoseconds (0: no limit): the
    /// bits in `mask` that fired, 0 when the timeout passed first.
    pub fn wait_notification_timeout(mask: u32, timeout_ns: u64) -> Result<u32, Errno> {
        let r = plain(
            Sysno::WaitNotification,
            [
                mask as usize,
                RecvFlags::BLOCKING.0,
                timeout_ns as usize,
                0,
                0,
                0,
            ],
        );
        decode_ret(r[0]).map(|bits| bits as u32)
    }

    /// `IrqAck`: unmasks the interrupt of a granted device.
    pub fn irq_ack(device: Device) -> Result<(), Errno> {
        decode_ret(plain(Sysno::IrqAck, [device.number(), 0, 0, 0, 0, 0])[0]).map(|_| ())
    }

    /// Writes raw bytes (not necessarily UTF-8 checked) to the debug log.
    pub fn debug_write(level: LogLevel, bytes: &[u8]) {
        // SAFETY: `bytes` is a live shared slice, valid for reads of its length.
        unsafe {
            raw_syscall(
                Sysno::DebugWrite,
                [
                    bytes.as_ptr() as usize,
                    bytes.len(),
                    level as usize,
                    0,
                    0,
                    0,
                ],
            );
        }
    }
}

/// `ConsoleWrite` (see [`Kernel::console_write`]).
fn console_write(bytes: &[u8]) -> Result<usize, Errno> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(Errno::InvalidArgument);
    }
    // SAFETY: `bytes` is a live shared slice, valid for reads of its length.
    let r = unsafe {
        raw_syscall(
            Sysno::ConsoleWrite,
            [bytes.as_ptr() as usize, bytes.len(), 0, 0, 0, 0],
        )
    };
    decode_ret(r[0])
}

/// `ConsoleRead` (see [`Kernel::console_read`]).
fn console_read(buf: &mut [u8], blocking: bool) -> Result<usize, Errno> {
    // SAFETY: `buf` is a live exclusive slice, valid for writes of its length and not aliased.
    let r = unsafe {
        raw_syscall(
            Sysno::ConsoleRead,
            [
                buf.as_mut_ptr() as usize,
                buf.len(),
                RecvFlags::new(blocking).0,
                0,
                0,
                0,
            ],
        )
    };
    let n = decode_ret(r[0])?;
    if n > buf.len() {
        return Err(Errno::InvalidArgument);
    }
    Ok(n)
}

/// A mapped device window, from [`Syscalls::map_mmio`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioWindow {
    /// Where the registers are in the task's address space.
    pub virt: usize,
    /// The window's size in bytes.
    pub size: usize,
    /// The physical base (for logs; drivers use `virt`).
    pub phys: u64,
    /// The device's interrupt number, 0 when none.
    pub irq: u32,
}

impl Kernel for Syscalls {
    fn call(
        &self,
        endpoint: EndpointId,
        tag: Tag,
        request: &[u8],
        reply: &mut [u8],
    ) -> Result<(Tag, usize), Errno> {
        if request.len() > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        // SAFETY: `request` is a live shared slice (valid for reads), `reply` a live exclusive
        // slice (valid for writes, not aliased) of the lengths passed.
        let r = unsafe {
            raw_syscall(
                Sysno::Call,
                [
                    endpoint.0 as usize,
                    tag.0 as usize,
                    request.as_ptr() as usize,
                    request.len(),
                    reply.as_mut_ptr() as usize,
                    reply.len(),
                ],
            )
        };
        let len = decode_ret(r[0])?;
        if len > reply.len() {
            return Err(Errno::BufferTooSmall);
        }
        Ok((Tag(r[1] as u32), len))
    }

    fn send(&self, endpoint: EndpointId, tag: Tag, payload: &[u8]) -> Result<(), Errno> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        // SAFETY: `payload` is a live shared slice, valid for reads of its length.
        let r = unsafe {
            raw_syscall(
                Sysno::Send,
                [
                    endpoint.0 as usize,
                    tag.0 as usize,
                    payload.as_ptr() as usize,
                    payload.len(),
                    0,
                    0,
                ],
            )
        };
        decode_ret(r[0]).map(|_| ())
    }

    fn receive(
        &self,
        endpoint: EndpointId,
        buf: &mut [u8],
        blocking: bool,
    ) -> Result<Received, Errno> {
        // SAFETY: `buf` is a live exclusive slice, valid for writes of its length.
        let r = unsafe {
            raw_syscall(
                Sysno::Receive,
                [
                    endpoint.0 as usize,
                    buf.as_mut_ptr() as usize,
                    buf.len(),
                    RecvFlags::new(blocking).0,
                    0,
                    0,
                ],
            )
        };
        received(r, buf.len())
    }

    fn reply_receive(
        &self,
        token: ReplyToken,
        tag: Tag,
        payload: &[u8],
        endpoint: EndpointId,
        buf: &mut [u8],
        blocking: bool,
    ) -> Result<Received, Errno> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        let cap = buf.len().min(MAX_PAYLOAD);
        let word = ReplyRecvWord {
            cap,
            flags: RecvFlags::new(blocking),
            endpoint: endpoint.0,
        };
        let Some(word) = word.to_raw() else {
            // An endpoint number past the packed field: the two-trap path carries it.
            self.reply(token, tag, payload)?;
            return self.receive(endpoint, buf, blocking);
        };
        // SAFETY: `payload` is a live shared slice valid for reads of its length, and `buf` a
        // live exclusive slice valid for writes of `cap` <= its length; they do not overlap
        // (one is borrowed shared, the other exclusively).
        let r = unsafe {
            raw_syscall(
                Sysno::ReplyRecv,
                [
                    token.to_raw() as usize,
                    tag.0 as usize,
                    payload.as_ptr() as usize,
                    payload.len(),
                    buf.as_mut_ptr() as usize,
                    word,
                ],
            )
        };
        received(r, cap)
    }

    fn reply(&self, token: ReplyToken, tag: Tag, payload: &[u8]) -> Result<(), Errno> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        // SAFETY: `payload` is a live shared slice, valid for reads of its length.
        let r = unsafe {
            raw_syscall(
                Sysno::Reply,
                [
                    token.to_raw() as usize,
                    tag.0 as usize,
                    payload.as_ptr() as usize,
                    payload.len(),
                    0,
                    0,
                ],
            )
        };
        decode_ret(r[0]).map(|_| ())
    }

    fn console_write(&self, bytes: &[u8]) -> Result<usize, Errno> {
        let mut done = 0;
        for piece in bytes.chunks(MAX_PAYLOAD) {
            done += console_write(piece)?;
        }
        Ok(done)
    }

    fn console_read(&self, buf: &mut [u8], blocking: bool) -> Result<usize, Errno> {
        console_read(buf, blocking)
    }

    fn shutdown(&self, status: ExitStatus) -> Result<(), Errno> {
        let r = plain(Sysno::Shutdown, [status.0 as usize, 0, 0, 0, 0, 0]);
        decode_ret(r[0]).map(|_| ())
    }

    fn monotonic_ns(&self) -> u64 {
        plain(Sysno::MonotonicTime, [0; 6])[0] as u64
    }

    fn wall_clock_ns(&self) -> u64 {
        decode_ret(plain(Sysno::WallClockTime, [0; 6])[0]).map_or(0, |ns| ns as u64)
    }

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), Errno> {
        for piece in out.chunks_mut(MAX_PAYLOAD) {
            // SAFETY: `piece` is a live exclusive slice, valid for writes of its length.
            let r = unsafe {
                raw_syscall(
                    Sysno::RandomBytes,
                    [piece.as_mut_ptr() as usize, piece.len(), 0, 0, 0, 0],
                )
            };
            decode_ret(r[0])?;
        }
        Ok(())
    }

    fn log(&self, level: LogLevel, text: &str) {
        Syscalls::debug_write(level, text.as_bytes());
    }

    fn yield_now(&self) {
        plain(Sysno::Yield, [0; 6]);
    }

    fn sleep_ns(&self, ns: u64) {
        plain(Sysno::Sleep, [ns as usize, 0, 0, 0, 0, 0]);
    }
}

impl Supervisor for Syscalls {
    fn task_info(&self, index: u16, name: &mut [u8]) -> Result<TaskInfo, Errno> {
        // SAFETY: `name` is a live exclusive slice, valid for writes of its length.
        let r = unsafe {
            raw_syscall(
                Sysno::TaskInfo,
                [
                    index as usize,
                    name.as_mut_ptr() as usize,
                    name.len(),
                    0,
                    0,
                    0,
                ],
            )
        };
        let name_len = decode_ret(r[0])?;
        let word = TaskInfoWord::from_raw(r[2]).ok_or(Errno::Unknown)?;
        Ok(TaskInfo {
            id: TaskId::from_raw(r[1] as u32),
            name_len,
            word,
        })
    }

    fn task_start(&self, index: u16) -> Result<TaskId, Errno> {
        let r = plain(Sysno::TaskStart, [index as usize, 0, 0, 0, 0, 0]);
        decode_ret(r[0]).map(|raw| TaskId::from_raw(raw as u32))
    }

    fn grant(&self, task: TaskId, endpoint: EndpointId) -> Result<(), Errno> {
        let r = plain(
            Sysno::Grant,
            [task.to_raw() as usize, endpoint.0 as usize, 0, 0, 0, 0],
        );
        decode_ret(r[0]).map(|_| ())
    }

    fn endpoint_info(&self, endpoint: EndpointId, name: &mut [u8]) -> Result<EndpointInfo, Errno> {
        // SAFETY: `name` is a live exclusive slice, valid for writes of its length.
        let r = unsafe {
            raw_syscall(
                Sysno::EndpointInfo,
                [
                    endpoint.0 as usize,
                    name.as_mut_ptr() as usize,
                    name.len(),
                    0,
                    0,
                    0,
                ],
            )
        };
        let server = decode_ret(r[0])?;
        Ok(EndpointInfo {
            server: TaskId::from_raw(server as u32),
            name_len: r[1],
        })
    }
}

/// The message a `Receive` or `ReplyRecv` returned in `r`, into a buffer of `cap` bytes.
fn received(r: [usize; 6], cap: usize) -> Result<Received, Errno> {
    let len = decode_ret(r[0])?;
    let sender = Credentials::from_regs([r[3] as u64, r[4] as u64, r[5] as u64]);
    let reply = ReplyToken::from_raw(r[2] as u64);
    match (sender, reply) {
        (Some(sender), Some(reply)) if len <= cap => Ok(Received {
            tag: Tag(r[1] as u32),
            len,
            sender,
            reply,
        }),
        // A kernel that breaks the register contract; refuse the message rather than trust
        // half-decoded credentials.
        _ => Err(Errno::Unknown),
    }
}
