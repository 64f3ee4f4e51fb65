//! IPC: endpoints with bounded queues, and the send / receive / call / reply operations.
//!
//! An endpoint's queue holds at most `depth` entries (from the system file). A `send` copies its
//! payload into one of the endpoint's `depth` message slots (frames allocated at boot), so the
//! sender does not wait; a `call` leaves the payload in the caller's memory and the caller
//! blocked, and the kernel copies it straight into the receiver's buffer when the server
//! receives. When the receiver is already waiting, either kind is copied directly. Nothing is
//! ever allocated per message: a full queue is `QueueFull` to the sender.

use heapless::Deque;
use kernel_abi::syscall::encode_ret;
use kernel_abi::{Credentials, EndpointId, Errno, MAX_PAYLOAD, ReplyToken, TaskId};

use crate::{Block, Machine, wake, wake_err};

/// The deepest queue an endpoint may have.
pub const MAX_DEPTH: usize = 16;

/// Where a queued message's payload is.
#[derive(Clone, Copy, Debug)]
pub enum Payload {
    /// In the blocked caller's memory at this address.
    Caller(usize),
    /// In this message slot of the endpoint.
    Slot(u8),
}

/// A queued message.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The sender's credentials, stamped when it was queued.
    pub sender: Credentials,
    /// The tag.
    pub tag: u32,
    /// Payload length.
    pub len: usize,
    /// Where the payload is.
    pub payload: Payload,
}

/// One endpoint.
pub struct Endpoint {
    /// The task that receives from it.
    pub owner: u16,
    /// Queue capacity.
    pub depth: u8,
    /// Waiting messages, oldest first.
    pub queue: Deque<Entry, MAX_DEPTH>,
    /// The message slots: platform handles (on riscv64, the physical address of a frame)
    /// that [`Machine::user_to_slot`] and friends take.
    pub slots: [usize; MAX_DEPTH],
    /// Which slots hold a queued `send` (bit n = slot n).
    pub slots_used: u32,
}

impl Endpoint {
    /// An unused endpoint.
    pub const EMPTY: Endpoint = Endpoint {
        owner: 0,
        depth: 0,
        queue: Deque::new(),
        slots: [0; MAX_DEPTH],
        slots_used: 0,
    };

    fn free_slot(&self) -> Option<u8> {
        (0..self.depth).find(|&s| self.slots_used & (1 << s) == 0)
    }
}

/// The registers `Receive` returns for a delivered message: `a0` length, `a1` tag, `a2` the
/// reply token, `a3..=a5` the sender's credentials as the kernel stamped them.
pub fn received_regs(endpoint: u16, entry: &Entry) -> [usize; 6] {
    let token = ReplyToken {
        caller: entry.sender.task,
        endpoint: EndpointId(endpoint),
    };
    let creds = entry.sender.to_regs();
    [
        entry.len,
        entry.tag as usize,
        token.to_raw() as usize,
        creds[0] as usize,
        creds[1] as usize,
        creds[2] as usize,
    ]
}

/// Delivers `entry` to a receiver: its receive registers, and it runs again.
fn set_received<M: Machine + ?Sized>(m: &mut M, receiver: usize, endpoint: u16, entry: &Entry) {
    m.set_results(receiver, &received_regs(endpoint, entry));
    m.set_block(receiver, Block::None);
}

/// The bit of endpoint `e` in a grant mask (0 beyond the mask: never granted).
fn grant_bit(e: usize) -> u64 {
    1u64.checked_shl(e as u32).unwrap_or(0)
}

/// Whether `endpoint` exists and its server is alive; the owner's index.
fn live_owner<M: Machine + ?Sized>(m: &M, endpoint: usize) -> Result<usize, Errno> {
    let Some(ep) = m.endpoints().get(endpoint) else {
        return Err(Errno::InvalidArgument);
    };
    let owner = ep.owner as usize;
    if !m.task_alive(owner) {
        return Err(Errno::PeerDied);
    }
    Ok(owner)
}

/// Whether task `me` owns (receives from) `endpoint`.
fn owns<M: Machine + ?Sized>(m: &M, me: usize, endpoint: usize) -> bool {
    m.endpoints()
        .get(endpoint)
        .is_some_and(|ep| ep.owner as usize == me)
}

/// Queues or delivers a message from task `from` (payload at `ptr`, already checked
/// readable). `reply` is the caller's reply buffer for a call, `None` for a send.
pub fn post<M: Machine + ?Sized>(
    m: &mut M,
    from: usize,
    endpoint: usize,
    tag: u32,
    ptr: usize,
    len: usize,
    reply: Option<(usize, usize)>,
) -> Result<(), Errno> {
    if endpoint >= m.endpoints().len() || len > MAX_PAYLOAD {
        return Err(Errno::InvalidArgument);
    }
    if m.task_grants(from) & grant_bit(endpoint) == 0 {
        return Err(Errno::NotGranted);
    }
    let owner = live_owner(m, endpoint)?;
    // Stamped from the task table: nothing the sender passes can change it.
    let sender = m.credentials(from);
    // The server waits: copy straight into its buffer.
    if let Block::Receiving {
        endpoint: e,
        buf,
        cap,
    } = m.block(owner)
        && e as usize == endpoint
        && len <= cap
    {
        m.copy_between(from, ptr, owner, buf, len);
        let entry = Entry {
            sender,
            tag,
            len,
            payload: Payload::Caller(ptr),
        };
        set_received(m, owner, endpoint as u16, &entry);
        if let Some((buf, cap)) = reply {
            m.set_block(
                from,
                Block::AwaitingReply {
                    endpoint: endpoint as u16,
                    buf,
                    cap,
                },
            );
        }
        return Ok(());
    }
    let ep = &mut m.endpoints_mut()[endpoint];
    if ep.queue.len() >= ep.depth as usize {
        return Err(Errno::QueueFull);
    }
    let payload = match reply {
        Some(_) => Payload::Caller(ptr),
        None => {
            let slot = ep.free_slot().ok_or(Errno::QueueFull)?;
            let handle = ep.slots[slot as usize];
            ep.slots_used |= 1 << slot;
            if len > 0 && !m.user_to_slot(from, ptr, handle, len) {
                m.endpoints_mut()[endpoint].slots_used &= !(1 << slot);
                return Err(Errno::InvalidArgument);
            }
            Payload::Slot(slot)
        }
    };
    let entry = Entry {
        sender,
        tag,
        len,
        payload,
    };
    // Capacity was checked above.
    let _ = m.endpoints_mut()[endpoint].queue.push_back(entry);
    if let Some((buf, cap)) = reply {
        m.set_block(
            from,
            Block::Calling {
                endpoint: endpoint as u16,
                buf,
                cap,
            },
        );
    }
    wake_receiver_too_small(m, owner, endpoint);
    Ok(())
}

/// A server waiting on `endpoint` whose buffer is too small for the message just queued
/// gets `BufferTooSmall` now (the message stays queued), rather than waiting forever.
fn wake_receiver_too_small<M: Machine + ?Sized>(m: &mut M, owner: usize, endpoint: usize) {
    if let Block::Receiving { endpoint: e, .. } = m.block(owner)
        && e as usize == endpoint
    {
        wake_err(m, owner, Errno::BufferTooSmall);
    }
}

/// Queues a message from the kernel itself (fault reports) on `endpoint`, from
/// [`Credentials::KERNEL`]. A message delivered straight into a waiting receiver's buffer is
/// cut to 64 bytes (kernel messages are small).
pub fn post_kernel_message<M: Machine + ?Sized>(
    m: &mut M,
    endpoint: usize,
    tag: u32,
    data: &[u8],
) -> Result<(), Errno> {
    let owner = live_owner(m, endpoint)?;
    let entry = |len, payload| Entry {
        sender: Credentials::KERNEL,
        tag,
        len,
        payload,
    };
    if let Block::Receiving {
        endpoint: e,
        buf,
        cap,
    } = m.block(owner)
        && e as usize == endpoint
        && data.len() <= cap
    {
        let n = data.len().min(64);
        if !m.copy_to_user(owner, buf, &data[..n]) {
            return Err(Errno::InvalidArgument);
        }
        set_received(m, owner, endpoint as u16, &entry(n, Payload::Slot(0)));
        return Ok(());
    }
    let ep = &mut m.endpoints_mut()[endpoint];
    if ep.queue.len() >= ep.depth as usize {
        return Err(Errno::QueueFull);
    }
    let slot = ep.free_slot().ok_or(Errno::QueueFull)?;
    ep.slots_used |= 1 << slot;
    let handle = ep.slots[slot as usize];
    let _ = ep.queue.push_back(entry(data.len(), Payload::Slot(slot)));
    m.write_slot(handle, data);
    wake_receiver_too_small(m, owner, endpoint);
    Ok(())
}

/// `Receive` by task `me` on `endpoint` into `buf` (checked writable). Returns `Ok(true)`
/// if a message was delivered, `Ok(false)` if the task should block.
#[inline(always)]
pub fn receive<M: Machine + ?Sized>(
    m: &mut M,
    me: usize,
    endpoint: usize,
    buf: usize,
    cap: usize,
) -> Result<bool, Errno> {
    if !owns(m, me, endpoint) {
        return Err(Errno::NotGranted);
    }
    let Some(entry) = m.endpoints()[endpoint].queue.front().copied() else {
        return Ok(false);
    };
    if entry.len > cap {
        return Err(Errno::BufferTooSmall);
    }
    m.endpoints_mut()[endpoint].queue.pop_front();
    match entry.payload {
        Payload::Caller(ptr) => {
            let caller = entry.sender.task.index as usize;
            m.copy_between(caller, ptr, me, buf, entry.len);
            if let Block::Calling { buf, cap, .. } = m.block(caller) {
                m.set_block(
                    caller,
                    Block::AwaitingReply {
                        endpoint: endpoint as u16,
                        buf,
                        cap,
                    },
                );
            }
        }
        Payload::Slot(slot) => {
            let handle = m.endpoints()[endpoint].slots[slot as usize];
            m.slot_to_user(handle, me, buf, entry.len);
            m.endpoints_mut()[endpoint].slots_used &= !(1 << slot);
        }
    }
    set_received(m, me, endpoint as u16, &entry);
    Ok(true)
}

/// `Reply` from task `me`: delivers to the caller named by the token if it still waits for
/// this server; otherwise the reply is dropped. The payload was checked readable. Inlined into
/// both `Reply` and `ReplyRecv` (a call of its own lengthens every round trip).
#[inline(always)]
pub fn reply<M: Machine + ?Sized>(
    m: &mut M,
    me: usize,
    token: ReplyToken,
    tag: u32,
    ptr: usize,
    len: usize,
) -> Result<(), Errno> {
    let endpoint = token.endpoint.0 as usize;
    if !owns(m, me, endpoint) {
        return Err(Errno::NotGranted);
    }
    let caller = token.caller.index as usize;
    if caller >= m.task_count() || m.task_id(caller) != token.caller {
        return Ok(());
    }
    let Block::AwaitingReply {
        endpoint: e,
        buf,
        cap,
    } = m.block(caller)
    else {
        return Ok(());
    };
    if e as usize != endpoint || !m.task_alive(caller) {
        return Ok(());
    }
    if len > cap {
        wake_err(m, caller, Errno::BufferTooSmall);
        return Ok(());
    }
    m.copy_between(me, ptr, caller, buf, len);
    m.set_results(caller, &[len, tag as usize]);
    m.set_block(caller, Block::None);
    Ok(())
}

/// Task `index` stopped: everyone queued on or waiting for its endpoints gets `PeerDied`,
/// and its queues are emptied.
pub fn fail_endpoints_of<M: Machine + ?Sized>(m: &mut M, index: usize) {
    for e in 0..m.endpoints().len() {
        if m.endpoints()[e].owner as usize != index {
            continue;
        }
        let ep = &mut m.endpoints_mut()[e];
        ep.queue.clear();
        ep.slots_used = 0;
        for t in 0..m.task_count() {
            match m.block(t) {
                Block::Calling { endpoint, .. } | Block::AwaitingReply { endpoint, .. }
                    if endpoint as usize == e =>
                {
                    wake(m, t, encode_ret(Err(Errno::PeerDied)));
                }
                _ => {}
            }
        }
    }
}

/// A stopped task's queued calls are withdrawn (its memory goes away); queued sends stay,
/// since their payload is in the kernel's slots.
pub fn withdraw_calls_of<M: Machine + ?Sized>(m: &mut M, id: TaskId) {
    for ep in m.endpoints_mut() {
        let n = ep.queue.len();
        for _ in 0..n {
            if let Some(entry) = ep.queue.pop_front() {
                let withdrawn =
                    matches!(entry.payload, Payload::Caller(_)) && entry.sender.task == id;
                if !withdrawn {
                    let _ = ep.queue.push_back(entry);
                }
            }
        }
    }
}
