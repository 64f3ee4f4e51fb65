//! Syscall dispatch: decode the registers (kernel-abi's convention: `a7` number, `a0`..`a5`
//! arguments, `a0` result or negated errno, extra results in `a1`..), validate every argument
//! against the caller's mappings, and run the operation. A broken contract faults the caller
//! ([`FaultKind::BadSyscall`]); a recoverable problem is an [`Errno`].

use kernel_abi::syscall::TaskInfoWord;
use kernel_abi::syscall::{LogLevel, RecvFlags};
use kernel_abi::{Device, Errno, FaultKind, MAX_PAYLOAD, Sysno, TaskId};
use qemu_kernel::frames::FRAME_SIZE;
use qemu_kernel::sv39::{self, Access, PTE_R, PTE_U, PTE_W};

use kernel_core::syscall::Outcome;

use super::mem::wipe;
use super::state::Kernel;
use super::task::{Block, DMA_BASE, LoadError, MMIO_BASE, MMIO_STRIDE};
use super::user;
use super::{console, log};
use crate::arch::riscv64::trap::reg;
use crate::arch::riscv64::{csr, sbi};

fn ret(result: Result<usize, Errno>) -> Outcome {
    Outcome::ret(result)
}

/// Runs the syscall in the current task's registers.
pub fn dispatch(k: &mut Kernel) {
    let me = k.current;
    let regs = &k.tasks[me].frame.regs;
    let number = regs[reg::A7];
    let args = [
        regs[reg::A0],
        regs[reg::A1],
        regs[reg::A2],
        regs[reg::A3],
        regs[reg::A4],
        regs[reg::A5],
    ];
    let outcome = match Sysno::from_raw(number) {
        Some(sysno) => run(k, me, sysno, args),
        None => Outcome::Fault,
    };
    match outcome {
        Outcome::Return(value) => k.tasks[me].frame.regs[reg::A0] = value,
        Outcome::Done => {}
        Outcome::Fault => k.stop_task(me, FaultKind::BadSyscall, number as u64),
    }
}

fn readable(k: &mut Kernel, me: usize, ptr: usize, len: usize) -> bool {
    let root = k.tasks[me].root;
    user::user_range_ok(&mut k.mem, root, ptr, len, Access::Read)
}

fn writable(k: &mut Kernel, me: usize, ptr: usize, len: usize) -> bool {
    let root = k.tasks[me].root;
    user::user_range_ok(&mut k.mem, root, ptr, len, Access::Write)
}

/// Copies between task `me`'s memory and the kernel (the range checked before).
fn copy_user(k: &mut Kernel, me: usize, va: usize, kernel: &mut [u8], to_user: bool) -> bool {
    let root = k.tasks[me].root;
    user::copy_user(&mut k.mem, root, va, kernel, to_user)
}

fn run(k: &mut Kernel, me: usize, sysno: Sysno, a: [usize; 6]) -> Outcome {
    // Send, Call, Receive and Reply: the kernel core.
    if let Some(outcome) = kernel_core::syscall::ipc(k, me, sysno, a) {
        return outcome;
    }
    match sysno {
        Sysno::DebugWrite => {
            let Some(level) = LogLevel::from_raw(a[2]) else {
                return Outcome::Fault;
            };
            let len = a[1].min(MAX_PAYLOAD);
            if !readable(k, me, a[0], len) {
                return Outcome::Fault;
            }
            let mut line = [0u8; MAX_PAYLOAD];
            copy_user(k, me, a[0], &mut line[..len], false);
            let text = &line[..len];
            let text = text.strip_suffix(b"\n").unwrap_or(text);
            log::task_line(k.tasks[me].name(), level, text);
            ret(Ok(a[1]))
        }
        Sysno::Exit => {
            k.stop_task(me, FaultKind::Exited, a[0] as u32 as u64);
            Outcome::Done
        }
        // Run by the kernel core above; never reached.
        Sysno::Send | Sysno::Call | Sysno::Receive | Sysno::Reply | Sysno::ReplyRecv => {
            Outcome::Fault
        }
        Sysno::MonotonicTime => ret(Ok(k.ticks_to_ns(csr::time()) as usize)),
        Sysno::WallClockTime => ret(k
            .wall_clock_ns()
            .map(|ns| ns as usize)
            .ok_or(Errno::NotSupported)),
        Sysno::RandomBytes => {
            let (buf, len) = (a[0], a[1]);
            if len > MAX_PAYLOAD {
                return ret(Err(Errno::InvalidArgument));
            }
            if !writable(k, me, buf, len) {
                return Outcome::Fault;
            }
            let mut bytes = [0u8; MAX_PAYLOAD];
            if let Err(e) = k.random_bytes(&mut bytes[..len]) {
                return ret(Err(e));
            }
            copy_user(k, me, buf, &mut bytes[..len], true);
            // The kernel keeps no copy of what the task got.
            wipe(&mut bytes[..len]);
            ret(Ok(0))
        }
        Sysno::Yield => {
            let prio = k.tasks[me].priority();
            k.sched.rotate(me, prio);
            k.tasks[me].frame.regs[reg::A0] = 0;
            // Let a peer of equal priority run now, if there is one.
            let ready = k.ready_list();
            if let Some(next) = k.sched.pick(&ready[..k.task_count]) {
                k.current = next;
            }
            Outcome::Done
        }
        Sysno::Sleep => {
            let ticks = k.ns_to_ticks(a[0] as u64);
            let until = csr::time().saturating_add(ticks);
            k.tasks[me].frame.regs[reg::A0] = 0;
            k.tasks[me].block = Block::Sleeping(until);
            k.timer_dirty = true;
            Outcome::Done
        }
        Sysno::DmaAlloc => dma_alloc(k, me, a[0]),
        Sysno::MapMmio => map_mmio(k, me, a[0]),
        Sysno::WaitNotification => {
            let (mask, flags) = (a[0] as u32, RecvFlags(a[1]));
            if !flags.is_valid() {
                return Outcome::Fault;
            }
            let pending = k.tasks[me].notifications & mask;
            if pending != 0 {
                k.tasks[me].notifications &= !pending;
                ret(Ok(pending as usize))
            } else if flags.is_nonblocking() {
                ret(Err(Errno::WouldBlock))
            } else {
                // A timeout (a2, nanoseconds, 0 = none) makes the task a sleeper too: it wakes
                // with no bits (a0 = 0) when the deadline passes first.
                let until =
                    (a[2] != 0).then(|| csr::time().saturating_add(k.ns_to_ticks(a[2] as u64)));
                k.tasks[me].block = Block::Notification { mask, until };
                k.timer_dirty |= until.is_some();
                Outcome::Done
            }
        }
        Sysno::IrqAck => match granted_device(k, me, a[0]) {
            Ok(device) => match k.devices[device.number()] {
                Some(w) if w.irq != 0 => {
                    if let Some(plic) = k.plic {
                        plic.set_enabled(w.irq, true);
                    }
                    ret(Ok(0))
                }
                _ => ret(Err(Errno::InvalidArgument)),
            },
            Err(e) => ret(Err(e)),
        },
        Sysno::TaskStart => {
            if me != 0 {
                return ret(Err(Errno::Denied));
            }
            if a[0] >= k.task_count || a[0] == 0 {
                return ret(Err(Errno::InvalidArgument));
            }
            match k.start_task(a[0]) {
                Ok(id) => ret(Ok(id.to_raw() as usize)),
                Err(LoadError::OutOfMemory) => ret(Err(Errno::OutOfResources)),
                Err(_) => ret(Err(Errno::InvalidArgument)),
            }
        }
        Sysno::TaskInfo => {
            let (index, buf, cap) = (a[0], a[1], a[2]);
            if index >= k.task_count {
                return ret(Err(Errno::InvalidArgument));
            }
            let name = k.tasks[index].name().as_bytes();
            let n = name.len().min(cap);
            if !writable(k, me, buf, n) {
                return Outcome::Fault;
            }
            let mut copy = [0u8; 64];
            let n = n.min(copy.len());
            copy[..n].copy_from_slice(&name[..n]);
            copy_user(k, me, buf, &mut copy[..n], true);
            let t = &k.tasks[index];
            let word = TaskInfoWord {
                state: t.state,
                class: t.credentials().class,
                priority: t.priority(),
                start_at_boot: t.desc.is_some_and(|d| d.start_at_boot),
            };
            let id = t.id.to_raw() as usize;
            let f = &mut k.tasks[me].frame;
            f.regs[reg::A0] = name.len();
            f.regs[reg::A1] = id;
            f.regs[reg::A2] = word.to_raw();
            Outcome::Done
        }
        Sysno::Grant => {
            if me != 0 {
                return ret(Err(Errno::Denied));
            }
            let grantee = TaskId::from_raw(a[0] as u32);
            let endpoint = a[1];
            if endpoint >= k.endpoint_count {
                return ret(Err(Errno::InvalidArgument));
            }
            let index = grantee.index as usize;
            if index >= k.task_count || k.tasks[index].id != grantee || !k.tasks[index].is_alive() {
                return ret(Err(Errno::PeerDied));
            }
            k.tasks[index].grants |= 1 << endpoint;
            ret(Ok(0))
        }
        Sysno::ConsoleWrite => {
            if !is_system(k, me) {
                return ret(Err(Errno::Denied));
            }
            let (ptr, len) = (a[0], a[1]);
            if len > MAX_PAYLOAD {
                return ret(Err(Errno::InvalidArgument));
            }
            if !console::present() {
                return ret(Err(Errno::NotSupported));
            }
            if !readable(k, me, ptr, len) {
                return Outcome::Fault;
            }
            let mut bytes = [0u8; MAX_PAYLOAD];
            copy_user(k, me, ptr, &mut bytes[..len], false);
            console::write_bytes(&bytes[..len]);
            ret(Ok(len))
        }
        Sysno::ConsoleRead => {
            let (buf, cap, flags) = (a[0], a[1], RecvFlags(a[2]));
            if !flags.is_valid() {
                return Outcome::Fault;
            }
            if !is_system(k, me) {
                return ret(Err(Errno::Denied));
            }
            if cap == 0 {
                return ret(Err(Errno::InvalidArgument));
            }
            if !console::present() {
                return ret(Err(Errno::NotSupported));
            }
            let cap = cap.min(MAX_PAYLOAD);
            if !writable(k, me, buf, cap) {
                return Outcome::Fault;
            }
            k.drain_console();
            if !k.input.is_empty() {
                ret(Ok(k.deliver_input(me, buf, cap)))
            } else if flags.is_nonblocking() {
                ret(Err(Errno::WouldBlock))
            } else {
                k.tasks[me].block = Block::ConsoleRead { buf, cap };
                Outcome::Done
            }
        }
        Sysno::Shutdown => {
            if !is_system(k, me) {
                return ret(Err(Errno::Denied));
            }
            let status = a[0] as u32;
            crate::klog!(
                info,
                "{} asked for power-off with status {}",
                k.tasks[me].name(),
                status
            );
            sbi::shutdown(status == 0)
        }
        Sysno::EndpointInfo => {
            let (endpoint, buf, cap) = (a[0], a[1], a[2]);
            if endpoint >= k.endpoint_count {
                return ret(Err(Errno::InvalidArgument));
            }
            let name = k.system().endpoints[endpoint].name.as_bytes();
            let n = name.len().min(cap).min(64);
            if !writable(k, me, buf, n) {
                return Outcome::Fault;
            }
            let mut copy = [0u8; 64];
            copy[..n].copy_from_slice(&name[..n]);
            copy_user(k, me, buf, &mut copy[..n], true);
            let owner = k.endpoints[endpoint].owner as usize;
            let id = k.tasks[owner].id.to_raw() as usize;
            let f = &mut k.tasks[me].frame;
            f.regs[reg::A0] = id;
            f.regs[reg::A1] = name.len();
            Outcome::Done
        }
    }
}

/// Whether task `me` is of class System (the console and power-off are theirs).
fn is_system(k: &Kernel, me: usize) -> bool {
    k.tasks[me].credentials().class == kernel_abi::ProcessClass::System
}

fn dma_alloc(k: &mut Kernel, me: usize, size: usize) -> Outcome {
    let Some(desc) = k.tasks[me].desc else {
        return ret(Err(Errno::Denied));
    };
    if desc.dma_size == 0 {
        return ret(Err(Errno::Denied));
    }
    if size == 0 {
        return ret(Err(Errno::InvalidArgument));
    }
    if size > desc.dma_size {
        return ret(Err(Errno::OutOfResources));
    }
    let bytes = size.div_ceil(FRAME_SIZE) * FRAME_SIZE;
    let used = k.tasks[me].dma_used;
    if used.saturating_add(bytes) > desc.dma_size {
        return ret(Err(Errno::OutOfResources));
    }
    let pages = bytes / FRAME_SIZE;
    let Some(pa) = k.mem.frames.alloc_contiguous(pages) else {
        return ret(Err(Errno::OutOfResources));
    };
    k.mem.bytes(pa, bytes).fill(0);
    let va = DMA_BASE + used;
    let root = k.tasks[me].root;
    for i in 0..pages {
        let off = i * FRAME_SIZE;
        if sv39::map_page(&mut k.mem, root, va + off, pa + off, PTE_R | PTE_W | PTE_U).is_err() {
            // No frame for a page table: give back the frames not mapped yet (the mapped ones
            // go with the address space) and account for the mapped part of the budget.
            for rest in i..pages {
                k.mem.frames.free(pa + rest * FRAME_SIZE);
            }
            k.tasks[me].dma_used = used + i * FRAME_SIZE;
            k.tasks[me].needs_satp_reload = true;
            return ret(Err(Errno::OutOfResources));
        }
    }
    k.tasks[me].dma_used = used + bytes;
    k.tasks[me].frame.regs[reg::A0] = va;
    k.tasks[me].frame.regs[reg::A1] = pa;
    k.tasks[me].needs_satp_reload = true;
    Outcome::Done
}

/// The device with syscall number `number`, if the system file grants it to task `me`.
fn granted_device(k: &Kernel, me: usize, number: usize) -> Result<Device, Errno> {
    let device = Device::from_number(number).ok_or(Errno::InvalidArgument)?;
    // The kernel drives the entropy device itself (RandomBytes); a task driving it too would
    // fight over its queue. xtask refuses such a grant; this is the kernel's own guard.
    if device == Device::VirtioRng {
        return Err(Errno::NotGranted);
    }
    let desc = k.tasks[me].desc.ok_or(Errno::NotGranted)?;
    if !desc.devices.contains(&device) {
        return Err(Errno::NotGranted);
    }
    Ok(device)
}

fn map_mmio(k: &mut Kernel, me: usize, number: usize) -> Outcome {
    let device = match granted_device(k, me, number) {
        Ok(device) => device,
        Err(e) => return ret(Err(e)),
    };
    let Some(window) = k.devices[device.number()] else {
        return ret(Err(Errno::NotSupported));
    };
    let grant = device.number();
    let base = window.regs.base / FRAME_SIZE * FRAME_SIZE;
    let offset = window.regs.base - base;
    let size = (offset + window.regs.size).div_ceil(FRAME_SIZE) * FRAME_SIZE;
    if size > MMIO_STRIDE || grant >= 32 {
        return ret(Err(Errno::InvalidArgument));
    }
    let va = MMIO_BASE + grant * MMIO_STRIDE;
    if k.tasks[me].mmio_mapped & (1 << grant) == 0 {
        let root = k.tasks[me].root;
        for off in (0..size).step_by(FRAME_SIZE) {
            if sv39::map_page(
                &mut k.mem,
                root,
                va + off,
                base + off,
                PTE_R | PTE_W | PTE_U,
            )
            .is_err()
            {
                return ret(Err(Errno::OutOfResources));
            }
        }
        k.tasks[me].mmio_mapped |= 1 << grant;
        k.tasks[me].needs_satp_reload = true;
    }
    let f = &mut k.tasks[me].frame;
    f.regs[reg::A0] = va + offset;
    f.regs[reg::A1] = window.regs.size;
    f.regs[reg::A2] = window.regs.base;
    f.regs[reg::A3] = window.irq as usize;
    Outcome::Done
}
