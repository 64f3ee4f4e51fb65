//! [`TaskHandle`]: one task incarnation's view of the host kernel.

use std::{
    hash::{BuildHasher, Hasher},
    sync::{Arc, MutexGuard},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use super::{CallState, Exit, Message, Shared, State, Stopped};
use kernel_abi::{
    Credentials, EndpointId, Errno, ExitStatus, FaultKind, Kernel, LogLevel, MAX_PAYLOAD,
    ReplyToken, Tag, TaskId, TaskState,
    kernel::{EndpointInfo, Received, Supervisor, TaskInfo},
    syscall::TaskInfoWord,
};

/// Unwinds a task thread that faulted on purpose ([`TaskHandle::fault`]).
pub(super) struct Fault(pub(super) FaultKind, pub(super) u64);

/// A task's handle on the host kernel: implements [`Kernel`] (and [`Supervisor`], which answers
/// [`Errno::Denied`] unless the task was spawned as the supervisor).
///
/// The handle belongs to one incarnation: once the task is restarted or the kernel shut down,
/// the next operation through an old handle stops the old thread (it unwinds quietly).
#[derive(Clone)]
pub struct TaskHandle {
    shared: Arc<Shared>,
    id: TaskId,
}

impl TaskHandle {
    pub(super) fn new(shared: Arc<Shared>, id: TaskId) -> Self {
        Self { shared, id }
    }

    /// This incarnation's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The credentials the kernel stamps on this task's messages.
    pub fn credentials(&self) -> Credentials {
        let st = self.enter();
        match st.slot(self.id.index) {
            Some(slot) => slot.credentials(),
            None => Credentials::KERNEL,
        }
    }

    /// Stops the task with `status` (the `Exit` syscall); the supervisor gets a fault report
    /// of kind [`FaultKind::Exited`].
    pub fn exit(&self, status: ExitStatus) -> ! {
        std::panic::resume_unwind(Box::new(Exit(status)))
    }

    /// Stops the task as if the hardware had faulted it (for supervision tests).
    pub fn fault(&self, kind: FaultKind, detail: u64) -> ! {
        std::panic::resume_unwind(Box::new(Fault(kind, detail)))
    }

    /// Locks the kernel state on behalf of this incarnation; stops the thread if the
    /// incarnation is no longer current.
    fn enter(&self) -> MutexGuard<'_, State> {
        let st = self.shared.lock();
        if !st.is_current(self.id) {
            drop(st);
            std::panic::resume_unwind(Box::new(Stopped));
        }
        st
    }

    /// Waits for a change; stops the thread if the incarnation ended meanwhile.
    fn wait<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let st = self.shared.wait(st);
        if !st.is_current(self.id) {
            drop(st);
            std::panic::resume_unwind(Box::new(Stopped));
        }
        st
    }

    /// Checks and queues a message from this task on `endpoint`.
    fn enqueue(
        &self,
        st: &mut State,
        endpoint: EndpointId,
        tag: Tag,
        payload: &[u8],
        expects_reply: bool,
    ) -> Result<(), Errno> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        let me = st.slot(self.id.index).ok_or(Errno::InvalidArgument)?;
        let sender = me.credentials();
        if endpoint != EndpointId::INIT && !me.grants.contains(&endpoint) {
            // Whether the endpoint exists is nobody's business without a grant.
            return Err(Errno::NotGranted);
        }
        let ep = st.endpoint(endpoint).ok_or(Errno::InvalidArgument)?;
        let server_alive = ep
            .server
            .and_then(|s| st.slot(s))
            .is_some_and(|s| s.state == TaskState::Running);
        if !server_alive {
            return Err(Errno::PeerDied);
        }
        if ep.queue.len() >= ep.depth {
            return Err(Errno::QueueFull);
        }
        let ep = st
            .endpoints
            .get_mut(usize::from(endpoint.0))
            .ok_or(Errno::InvalidArgument)?;
        ep.queue.push_back(Message {
            tag,
            payload: payload.to_vec(),
            sender,
            expects_reply,
        });
        Ok(())
    }

    /// The console and `Shutdown` are for System-class tasks only.
    fn require_system(&self, st: &State) -> Result<(), Errno> {
        match st.slot(self.id.index) {
            Some(slot) if slot.spec.class == kernel_abi::ProcessClass::System => Ok(()),
            _ => Err(Errno::Denied),
        }
    }

    fn is_supervisor(&self, st: &State) -> bool {
        st.slot(self.id.index).is_some_and(|s| s.spec.supervisor)
    }
}

impl Kernel for TaskHandle {
    fn call(
        &self,
        endpoint: EndpointId,
        tag: Tag,
        request: &[u8],
        reply: &mut [u8],
    ) -> Result<(Tag, usize), Errno> {
        let mut st = self.enter();
        self.enqueue(&mut st, endpoint, tag, request, true)?;
        if let Some(me) = st.slot_mut(self.id.index) {
            me.call = CallState::Waiting {
                endpoint,
                received: false,
            };
        }
        self.shared.changed.notify_all();
        let outcome = loop {
            let done = st.slot_mut(self.id.index).and_then(|me| {
                if matches!(me.call, CallState::Done(_)) {
                    match std::mem::replace(&mut me.call, CallState::Idle) {
                        CallState::Done(outcome) => Some(outcome),
                        _ => None,
                    }
                } else {
                    None
                }
            });
            if let Some(outcome) = done {
                break outcome;
            }
            st = self.wait(st);
        };
        drop(st);
        let (tag, payload) = outcome?;
        let dest = reply
            .get_mut(..payload.len())
            .ok_or(Errno::BufferTooSmall)?;
        dest.copy_from_slice(&payload);
        Ok((tag, payload.len()))
    }

    fn send(&self, endpoint: EndpointId, tag: Tag, payload: &[u8]) -> Result<(), Errno> {
        let mut st = self.enter();
        self.enqueue(&mut st, endpoint, tag, payload, false)?;
        drop(st);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn receive(
        &self,
        endpoint: EndpointId,
        buf: &mut [u8],
        blocking: bool,
    ) -> Result<Received, Errno> {
        let mut st = self.enter();
        let ep = st.endpoint(endpoint).ok_or(Errno::InvalidArgument)?;
        if ep.server != Some(self.id.index) {
            return Err(Errno::NotGranted);
        }
        loop {
            let ep = st
                .endpoints
                .get_mut(usize::from(endpoint.0))
                .ok_or(Errno::InvalidArgument)?;
            if let Some(front) = ep.queue.front() {
                let dest = buf
                    .get_mut(..front.payload.len())
                    .ok_or(Errno::BufferTooSmall)?;
                dest.copy_from_slice(&front.payload);
                let Some(msg) = ep.queue.pop_front() else {
                    return Err(Errno::WouldBlock);
                };
                if msg.expects_reply
                    && let Some(caller) = st.slot_mut(msg.sender.task.index)
                    && caller.id == msg.sender.task
                    && let CallState::Waiting {
                        endpoint: waiting_on,
                        received,
                    } = &mut caller.call
                    && *waiting_on == endpoint
                {
                    *received = true;
                }
                return Ok(Received {
                    tag: msg.tag,
                    len: msg.payload.len(),
                    sender: msg.sender,
                    reply: ReplyToken {
                        caller: msg.sender.task,
                        endpoint,
                    },
                });
            }
            if !blocking {
                return Err(Errno::WouldBlock);
            }
            st = self.wait(st);
        }
    }

    fn reply(&self, token: ReplyToken, tag: Tag, payload: &[u8]) -> Result<(), Errno> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Errno::InvalidArgument);
        }
        let mut st = self.enter();
        let serves = st
            .endpoint(token.endpoint)
            .is_some_and(|e| e.server == Some(self.id.index));
        if !serves {
            return Err(Errno::NotGranted);
        }
        if let Some(caller) = st.slot_mut(token.caller.index)
            && caller.id == token.caller
            && caller.state == TaskState::Running
            && let CallState::Waiting {
                endpoint,
                received: true,
            } = caller.call
            && endpoint == token.endpoint
        {
            caller.call = CallState::Done(Ok((tag, payload.to_vec())));
            drop(st);
            self.shared.changed.notify_all();
        }
        // Otherwise the caller died, restarted or is not waiting: the reply is dropped.
        Ok(())
    }

    fn monotonic_ns(&self) -> u64 {
        drop(self.enter());
        u64::try_from(self.shared.boot.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wall_clock_ns(&self) -> u64 {
        drop(self.enter());
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), Errno> {
        drop(self.enter());
        // std's RandomState is keyed from the OS's entropy per instance; good enough for host
        // tests (nonces, ids), not a cryptographic generator.
        let state = std::collections::hash_map::RandomState::new();
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let mut h = state.build_hasher();
            h.write_usize(i);
            let v = h.finish().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }

    fn log(&self, level: LogLevel, text: &str) {
        let mut st = self.enter();
        let name = st.slot(self.id.index).map_or("?", |s| s.spec.name.as_str());
        let line = format!("[{}] {} {}", name, level.name(), text);
        if std::env::var_os("ZERO_HOST_LOG").is_some() {
            eprintln!("{line}");
        }
        st.log.push(line);
        drop(st);
        self.shared.changed.notify_all();
    }

    fn console_write(&self, bytes: &[u8]) -> Result<usize, Errno> {
        let mut st = self.enter();
        self.require_system(&st)?;
        st.console.output.extend_from_slice(bytes);
        if std::env::var_os("ZERO_HOST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(bytes));
        }
        drop(st);
        self.shared.changed.notify_all();
        Ok(bytes.len())
    }

    fn console_read(&self, buf: &mut [u8], blocking: bool) -> Result<usize, Errno> {
        let mut st = self.enter();
        self.require_system(&st)?;
        if buf.is_empty() {
            return Err(Errno::InvalidArgument);
        }
        loop {
            if !st.console.input.is_empty() {
                let n = buf.len().min(st.console.input.len());
                for (slot, byte) in buf.iter_mut().zip(st.console.input.drain(..n)) {
                    *slot = byte;
                }
                return Ok(n);
            }
            if st.console.input_closed {
                return Ok(0);
            }
            if !blocking {
                return Err(Errno::WouldBlock);
            }
            st = self.wait(st);
        }
    }

    fn shutdown(&self, status: ExitStatus) -> Result<(), Errno> {
        let mut st = self.enter();
        self.require_system(&st)?;
        st.console.shutdown = Some(status);
        st.shut_down = true;
        drop(st);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn yield_now(&self) {
        drop(self.enter());
        std::thread::yield_now();
    }

    fn sleep_ns(&self, ns: u64) {
        let deadline = Instant::now() + Duration::from_nanos(ns);
        let mut st = self.enter();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            st = self.shared.wait_timeout(st, deadline - now);
            if !st.is_current(self.id) {
                drop(st);
                std::panic::resume_unwind(Box::new(Stopped));
            }
        }
    }
}

impl Supervisor for TaskHandle {
    fn task_info(&self, index: u16, name: &mut [u8]) -> Result<TaskInfo, Errno> {
        let st = self.enter();
        let slot = st.slot(index).ok_or(Errno::InvalidArgument)?;
        let bytes = slot.spec.name.as_bytes();
        let n = bytes.len().min(name.len());
        name[..n].copy_from_slice(&bytes[..n]);
        Ok(TaskInfo {
            id: slot.id,
            name_len: bytes.len(),
            word: TaskInfoWord {
                state: slot.state,
                class: slot.spec.class,
                priority: slot.spec.priority,
                start_at_boot: slot.spec.start_at_boot,
            },
        })
    }

    fn task_start(&self, index: u16) -> Result<TaskId, Errno> {
        let st = self.enter();
        if !self.is_supervisor(&st) {
            return Err(Errno::Denied);
        }
        drop(st);
        super::start(&self.shared, index)
    }

    fn grant(&self, task: TaskId, endpoint: EndpointId) -> Result<(), Errno> {
        let st = self.enter();
        if !self.is_supervisor(&st) {
            return Err(Errno::Denied);
        }
        drop(st);
        super::grant(&self.shared, task, endpoint)
    }

    fn endpoint_info(&self, endpoint: EndpointId, name: &mut [u8]) -> Result<EndpointInfo, Errno> {
        let st = self.enter();
        let ep = st.endpoint(endpoint).ok_or(Errno::InvalidArgument)?;
        let server = ep
            .server
            .and_then(|s| st.slot(s))
            .map(|s| s.id)
            .ok_or(Errno::PeerDied)?;
        let bytes = ep.name.as_bytes();
        let n = bytes.len().min(name.len());
        name[..n].copy_from_slice(&bytes[..n]);
        Ok(EndpointInfo {
            server,
            name_len: bytes.len(),
        })
    }
}
