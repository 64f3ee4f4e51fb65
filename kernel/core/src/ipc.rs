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

use super::Kernel;
use super::task::{Block, copy_between};
use crate::arch::riscv64::trap::reg;

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
    /// The frames of the message slots.
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

/// The receive registers for a delivered message.
fn set_received(k: &mut Kernel, receiver: usize, endpoint: u16, entry: &Entry) {
    let token = ReplyToken {
        caller: entry.sender.task,
        endpoint: EndpointId(endpoint),
    };
    let creds = entry.sender.to_regs();
    let f = &mut k.tasks[receiver].frame;
    f.regs[reg::A0] = entry.len;
    f.regs[reg::A1] = entry.tag as usize;
    f.regs[reg::A2] = token.to_raw() as usize;
    f.regs[reg::A3] = creds[0] as usize;
    f.regs[reg::A4] = creds[1] as usize;
    f.regs[reg::A5] = creds[2] as usize;
    k.tasks[receiver].block = Block::None;
}

impl Kernel {
    /// Whether `endpoint` exists and its server is alive; the owner's index.
    fn live_owner(&self, endpoint: usize) -> Result<usize, Errno> {
        if endpoint >= self.endpoint_count {
            return Err(Errno::InvalidArgument);
        }
        let owner = self.endpoints[endpoint].owner as usize;
        if !self.tasks[owner].is_alive() {
            return Err(Errno::PeerDied);
        }
        Ok(owner)
    }

    /// Queues or delivers a message from task `from` (payload at `ptr`, already checked
    /// readable). `reply` is the caller's reply buffer for a call, `None` for a send.
    pub fn post(
        &mut self,
        from: usize,
        endpoint: usize,
        tag: u32,
        ptr: usize,
        len: usize,
        reply: Option<(usize, usize)>,
    ) -> Result<(), Errno> {
        if endpoint >= self.endpoint_count || len > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        if self.tasks[from].grants & (1 << endpoint) == 0 {
            return Err(Errno::NotGranted);
        }
        let owner = self.live_owner(endpoint)?;
        let sender = self.tasks[from].credentials();
        // The server waits: copy straight into its buffer.
        if let Block::Receiving {
            endpoint: e,
            buf,
            cap,
        } = self.tasks[owner].block
            && e as usize == endpoint
            && len <= cap
        {
            copy_between(self, from, ptr, owner, buf, len);
            let entry = Entry {
                sender,
                tag,
                len,
                payload: Payload::Caller(ptr),
            };
            set_received(self, owner, endpoint as u16, &entry);
            if let Some((buf, cap)) = reply {
                self.tasks[from].block = Block::AwaitingReply {
                    endpoint: endpoint as u16,
                    buf,
                    cap,
                };
            }
            return Ok(());
        }
        let ep = &mut self.endpoints[endpoint];
        if ep.queue.len() >= ep.depth as usize {
            return Err(Errno::QueueFull);
        }
        let payload = match reply {
            Some(_) => Payload::Caller(ptr),
            None => {
                let slot = ep.free_slot().ok_or(Errno::QueueFull)?;
                let frame = ep.slots[slot as usize];
                ep.slots_used |= 1 << slot;
                let mut copied = true;
                if len > 0 {
                    // The slot frame is reached through a raw pointer because the copy also
                    // borrows the kernel (for the sender's page tables).
                    let dst: *mut u8 = self.mem.bytes(frame, len).as_mut_ptr();
                    // SAFETY: `dst` is this endpoint's slot frame (identity-mapped RAM, not
                    // shared with any task), `len` ≤ one frame.
                    let dst = unsafe { core::slice::from_raw_parts_mut(dst, len) };
                    copied = super::task::copy_user(self, from, ptr, dst, false);
                }
                if !copied {
                    self.endpoints[endpoint].slots_used &= !(1 << slot);
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
        let _ = self.endpoints[endpoint].queue.push_back(entry);
        if let Some((buf, cap)) = reply {
            self.tasks[from].block = Block::Calling {
                endpoint: endpoint as u16,
                buf,
                cap,
            };
        }
        self.wake_receiver_too_small(owner, endpoint);
        Ok(())
    }

    /// A server waiting on `endpoint` whose buffer is too small for the message just queued
    /// gets `BufferTooSmall` now (the message stays queued), rather than waiting forever.
    fn wake_receiver_too_small(&mut self, owner: usize, endpoint: usize) {
        if let Block::Receiving { endpoint: e, .. } = self.tasks[owner].block
            && e as usize == endpoint
        {
            self.tasks[owner].wake_err(Errno::BufferTooSmall);
        }
    }

    /// Queues a message from the kernel itself (fault reports) on `endpoint`.
    pub fn post_kernel_message(
        &mut self,
        endpoint: usize,
        tag: u32,
        data: &[u8],
    ) -> Result<(), Errno> {
        let owner = self.live_owner(endpoint)?;
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
        } = self.tasks[owner].block
            && e as usize == endpoint
            && data.len() <= cap
        {
            let mut copy = [0u8; 64];
            let n = data.len().min(copy.len());
            copy[..n].copy_from_slice(&data[..n]);
            if !super::task::copy_user(self, owner, buf, &mut copy[..n], true) {
                return Err(Errno::InvalidArgument);
            }
            set_received(self, owner, endpoint as u16, &entry(n, Payload::Slot(0)));
            return Ok(());
        }
        let ep = &mut self.endpoints[endpoint];
        if ep.queue.len() >= ep.depth as usize {
            return Err(Errno::QueueFull);
        }
        let slot = ep.free_slot().ok_or(Errno::QueueFull)?;
        ep.slots_used |= 1 << slot;
        let frame = ep.slots[slot as usize];
        let _ = ep.queue.push_back(entry(data.len(), Payload::Slot(slot)));
        self.mem.bytes(frame, data.len()).copy_from_slice(data);
        self.wake_receiver_too_small(owner, endpoint);
        Ok(())
    }

    /// `Receive` by task `me` on `endpoint` into `buf` (checked writable). Returns `Ok(true)`
    /// if a message was delivered, `Ok(false)` if the task should block.
    pub fn receive(
        &mut self,
        me: usize,
        endpoint: usize,
        buf: usize,
        cap: usize,
    ) -> Result<bool, Errno> {
        if endpoint >= self.endpoint_count || self.endpoints[endpoint].owner as usize != me {
            return Err(Errno::NotGranted);
        }
        let Some(entry) = self.endpoints[endpoint].queue.front().copied() else {
            return Ok(false);
        };
        if entry.len > cap {
            return Err(Errno::BufferTooSmall);
        }
        self.endpoints[endpoint].queue.pop_front();
        match entry.payload {
            Payload::Caller(ptr) => {
                let caller = entry.sender.task.index as usize;
                copy_between(self, caller, ptr, me, buf, entry.len);
                if let Block::Calling { buf, cap, .. } = self.tasks[caller].block {
                    self.tasks[caller].block = Block::AwaitingReply {
                        endpoint: endpoint as u16,
                        buf,
                        cap,
                    };
                }
            }
            Payload::Slot(slot) => {
                let frame = self.endpoints[endpoint].slots[slot as usize];
                let src = self.mem.bytes(frame, entry.len).as_mut_ptr();
                // SAFETY: the slot frame is kernel-owned RAM; `len` ≤ one frame; no other
                // reference to it is live.
                let data = unsafe { core::slice::from_raw_parts_mut(src, entry.len) };
                super::task::copy_user(self, me, buf, data, true);
                self.endpoints[endpoint].slots_used &= !(1 << slot);
            }
        }
        set_received(self, me, endpoint as u16, &entry);
        Ok(true)
    }

    /// `Reply` from task `me`: delivers to the caller named by the token if it still waits for
    /// this server; otherwise the reply is dropped. The payload was checked readable.
    pub fn reply(
        &mut self,
        me: usize,
        token: ReplyToken,
        tag: u32,
        ptr: usize,
        len: usize,
    ) -> Result<(), Errno> {
        let endpoint = token.endpoint.0 as usize;
        if endpoint >= self.endpoint_count || self.endpoints[endpoint].owner as usize != me {
            return Err(Errno::NotGranted);
        }
        let caller = token.caller.index as usize;
        if caller >= self.task_count || self.tasks[caller].id != token.caller {
            return Ok(());
        }
        let Block::AwaitingReply {
            endpoint: e,
            buf,
            cap,
        } = self.tasks[caller].block
        else {
            return Ok(());
        };
        if e as usize != endpoint || !self.tasks[caller].is_alive() {
            return Ok(());
        }
        if len > cap {
            self.tasks[caller].wake_err(Errno::BufferTooSmall);
            return Ok(());
        }
        copy_between(self, me, ptr, caller, buf, len);
        let t = &mut self.tasks[caller];
        t.frame.regs[reg::A0] = len;
        t.frame.regs[reg::A1] = tag as usize;
        t.block = Block::None;
        Ok(())
    }

    /// Task `index` stopped: everyone queued on or waiting for its endpoints gets `PeerDied`,
    /// and its queues are emptied.
    pub fn fail_endpoints_of(&mut self, index: usize) {
        for e in 0..self.endpoint_count {
            if self.endpoints[e].owner as usize != index {
                continue;
            }
            self.endpoints[e].queue.clear();
            self.endpoints[e].slots_used = 0;
            for t in self.tasks[..self.task_count].iter_mut() {
                match t.block {
                    Block::Calling { endpoint, .. } | Block::AwaitingReply { endpoint, .. }
                        if endpoint as usize == e =>
                    {
                        t.wake(encode_ret(Err(Errno::PeerDied)));
                    }
                    _ => {}
                }
            }
        }
    }

    /// A stopped task's queued calls are withdrawn (its memory goes away); queued sends stay,
    /// since their payload is in the kernel's slots.
    pub fn withdraw_calls_of(&mut self, id: TaskId) {
        for e in 0..self.endpoint_count {
            let ep = &mut self.endpoints[e];
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
}
