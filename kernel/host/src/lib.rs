//! The host backend: a "kernel" that runs tasks as std threads, for host tests of every service.
//!
//! It keeps the target's contract: bounded endpoint queues ([`Errno::QueueFull`]), grants
//! ([`Errno::NotGranted`]), credentials stamped from the task table (a task cannot claim any but
//! its own), generations in task ids, [`Errno::PeerDied`] for callers of a task that dies (never
//! a hang), dropped replies to dead or restarted callers, and fault reports to the supervisor's
//! endpoint ([`EndpointId::INIT`]) from [`Credentials::KERNEL`].
//!
//! ```
//! use kernel_abi::{Kernel, Tag};
//! use kernel_host::{HostKernel, TaskSpec};
//!
//! let k = HostKernel::new();
//! let ep = k.endpoint("echo", 4);
//! k.spawn(TaskSpec::new("echo").serves(ep), move |h| {
//!     let mut buf = [0u8; 64];
//!     while let Ok(m) = h.receive(ep, &mut buf, true) {
//!         let _ = h.reply(m.reply, m.tag.response(), &buf[..m.len]);
//!     }
//! });
//! let (tx, rx) = std::sync::mpsc::channel();
//! k.spawn(TaskSpec::new("client").reaches(ep), move |h| {
//!     let mut reply = [0u8; 64];
//!     let _ = tx.send(h.call(ep, Tag(0x10), b"hi", &mut reply).map(|(t, n)| (t, reply[..n].to_vec())));
//! });
//! assert_eq!(rx.recv().unwrap(), Ok((Tag(0x11), b"hi".to_vec())));
//! ```
//!
//! A task is a closure `Fn(TaskHandle)`; it may run several times (each restart calls it again
//! on a fresh thread with the next generation). A task that returns has exited; one that panics
//! has faulted (reported as [`FaultKind::Exited`] with [`ExitStatus::PANIC`], as the target's
//! panic handler does). A task that is restarted while its old thread still runs is reported
//! as [`FaultKind::Killed`] and stopped at that thread's next kernel operation.

//!
//! [`conformance`] holds the IPC conformance checks, generic over [`Kernel`](kernel_abi::Kernel):
//! they run on this backend (`kernel/host/tests/host_ipc.rs`); the kernel core's host tests
//! (`kernel/core/tests/ipc.rs`) cover the same cases on the QEMU kernel's IPC state machine.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conformance;

mod handle;
mod spec;

use std::{
    collections::{BTreeSet, VecDeque},
    panic::AssertUnwindSafe,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

pub use handle::TaskHandle;
pub use spec::TaskSpec;

use kernel_abi::{
    Credentials, EndpointId, Errno, ExitStatus, FaultKind, Tag, TaskId, TaskState,
    init_proto::FaultReport,
};

/// The body of a task: called with the task's handle each time the task (re)starts.
pub type TaskBody = Arc<dyn Fn(TaskHandle) + Send + Sync + 'static>;

/// One queued message.
struct Message {
    tag: Tag,
    payload: Vec<u8>,
    sender: Credentials,
    /// Sent by `call`: the sender waits for a reply.
    expects_reply: bool,
}

/// An endpoint: a bounded queue and its server.
struct Endpoint {
    name: String,
    depth: usize,
    server: Option<u16>,
    queue: VecDeque<Message>,
}

/// Where a task blocked in `call` stands.
#[derive(Debug)]
enum CallState {
    /// Not in a call.
    Idle,
    /// Waiting for the server of `endpoint`; `received` once the server took the request.
    Waiting {
        endpoint: EndpointId,
        received: bool,
    },
    /// The call completed with this outcome.
    Done(Result<(Tag, Vec<u8>), Errno>),
}

/// One task slot.
struct Slot {
    spec: TaskSpec,
    body: TaskBody,
    id: TaskId,
    state: TaskState,
    started_once: bool,
    grants: BTreeSet<EndpointId>,
    call: CallState,
}

impl Slot {
    fn credentials(&self) -> Credentials {
        Credentials {
            task: self.id,
            user: self.spec.user,
            class: self.spec.class,
        }
    }
}

/// Everything the host kernel knows, behind one lock.
struct State {
    endpoints: Vec<Endpoint>,
    tasks: Vec<Slot>,
    log: Vec<String>,
    shut_down: bool,
    console: Console,
}

/// The host console: input a test feeds, output tasks write, and the `Shutdown` status.
#[derive(Default)]
struct Console {
    input: VecDeque<u8>,
    input_closed: bool,
    output: Vec<u8>,
    shutdown: Option<ExitStatus>,
}

/// Shared between the [`HostKernel`] and every [`TaskHandle`].
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    boot: Instant,
}

/// Why a task thread unwinds without a panic hook run: the kernel stopped it.
struct Stopped;

/// Unwinds a task thread that `exit`ed with a status.
struct Exit(ExitStatus);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking task thread never holds the lock (tasks panic outside kernel code, and
        // kernel code does not panic), so poisoning is only a symptom; carry on with the data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    fn wait_timeout<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        self.changed
            .wait_timeout(guard, timeout)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0)
    }
}

impl State {
    fn slot(&self, index: u16) -> Option<&Slot> {
        self.tasks.get(usize::from(index))
    }

    fn slot_mut(&mut self, index: u16) -> Option<&mut Slot> {
        self.tasks.get_mut(usize::from(index))
    }

    /// Whether `id` is the running incarnation of its slot.
    fn is_current(&self, id: TaskId) -> bool {
        !self.shut_down
            && self
                .slot(id.index)
                .is_some_and(|s| s.id == id && s.state == TaskState::Running)
    }

    fn endpoint(&self, endpoint: EndpointId) -> Option<&Endpoint> {
        self.endpoints.get(usize::from(endpoint.0))
    }

    /// Records that incarnation `id` stopped: its callers get `PeerDied`, its own call is
    /// abandoned, and the supervisor hears about it (unless `report` is false).
    fn stop(&mut self, id: TaskId, state: TaskState, report: Option<(FaultKind, u64)>) {
        let Some(slot) = self.slot_mut(id.index) else {
            return;
        };
        if slot.id != id || slot.state != TaskState::Running {
            return;
        }
        slot.state = state;
        slot.call = CallState::Idle;
        let served: Vec<EndpointId> = slot.spec.serves.clone();
        for ep in &served {
            if let Some(e) = self.endpoints.get_mut(usize::from(ep.0)) {
                e.queue.clear();
            }
        }
        for t in &mut self.tasks {
            if let CallState::Waiting { endpoint, .. } = t.call
                && served.contains(&endpoint)
            {
                t.call = CallState::Done(Err(Errno::PeerDied));
            }
        }
        if let Some((kind, detail)) = report {
            self.report_fault(FaultReport {
                task: id,
                kind,
                detail,
            });
        }
    }

    /// Queues a fault report on init's endpoint. Like the target kernel, a report never fails
    /// for a full queue (there is at most one per stop).
    fn report_fault(&mut self, report: FaultReport) {
        let Some(init) = self.endpoints.get_mut(usize::from(EndpointId::INIT.0)) else {
            return;
        };
        let Some(server) = init.server else {
            return;
        };
        let alive = self
            .tasks
            .get(usize::from(server))
            .is_some_and(|s| s.state == TaskState::Running);
        if !alive {
            return;
        }
        if let Some(init) = self.endpoints.get_mut(usize::from(EndpointId::INIT.0)) {
            init.queue.push_back(Message {
                tag: kernel_abi::init_proto::FAULT_REPORT,
                payload: report.encode().to_vec(),
                sender: Credentials::KERNEL,
                expects_reply: false,
            });
        }
    }
}

/// The host "kernel". Dropping it stops every task at its next kernel operation.
pub struct HostKernel {
    shared: Arc<Shared>,
}

impl Default for HostKernel {
    fn default() -> Self {
        Self::new()
    }
}

impl HostKernel {
    /// A kernel with no tasks and one endpoint, [`EndpointId::INIT`] (named "init", depth 16,
    /// served by whichever task [`TaskSpec::serves`] it).
    pub fn new() -> Self {
        let k = Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    endpoints: Vec::new(),
                    tasks: Vec::new(),
                    log: Vec::new(),
                    shut_down: false,
                    console: Console::default(),
                }),
                changed: Condvar::new(),
                boot: Instant::now(),
            }),
        };
        let init = k.endpoint("init", 16);
        debug_assert_eq!(init, EndpointId::INIT);
        k
    }

    /// Creates an endpoint with a bounded queue of `depth` messages (at least 1).
    pub fn endpoint(&self, name: &str, depth: usize) -> EndpointId {
        let mut st = self.shared.lock();
        let id = EndpointId(u16::try_from(st.endpoints.len()).unwrap_or(u16::MAX));
        st.endpoints.push(Endpoint {
            name: name.to_owned(),
            depth: depth.max(1),
            server: None,
            queue: VecDeque::new(),
        });
        id
    }

    /// Adds a task and, unless [`TaskSpec::start_now`] said otherwise, starts it. Returns the
    /// id of its first incarnation.
    ///
    /// # Panics
    ///
    /// If the spec serves an endpoint that does not exist or already has a server (a test bug).
    pub fn spawn(
        &self,
        spec: TaskSpec,
        body: impl Fn(TaskHandle) + Send + Sync + 'static,
    ) -> TaskId {
        let (index, start_now) = {
            let mut st = self.shared.lock();
            let index = u16::try_from(st.tasks.len()).unwrap_or(u16::MAX);
            for ep in &spec.serves {
                let e = st
                    .endpoints
                    .get_mut(usize::from(ep.0))
                    .unwrap_or_else(|| panic!("{:?} does not exist", ep));
                assert!(e.server.is_none(), "{:?} already has a server", ep);
                e.server = Some(index);
            }
            let start_now = spec.start_now;
            st.tasks.push(Slot {
                grants: spec.reaches.iter().copied().collect(),
                spec,
                body: Arc::new(body),
                id: TaskId {
                    index,
                    generation: 0,
                },
                state: TaskState::NotStarted,
                started_once: false,
                call: CallState::Idle,
            });
            (index, start_now)
        };
        let first = TaskId {
            index,
            generation: 0,
        };
        if start_now {
            start(&self.shared, index).unwrap_or(first)
        } else {
            first
        }
    }

    /// Adds a task without a thread of its own and returns its handle, so test code can act
    /// as a client directly (`k.attach(TaskSpec::new("test").reaches(ep)).call(..)`).
    ///
    /// The handle is an ordinary running task to everyone else. If the task is restarted or
    /// the kernel shut down, the next operation through the handle unwinds the calling thread
    /// (as it would stop a task thread), so keep attached tasks out of restart tests. A restart
    /// of the slot runs an empty body that exits at once.
    ///
    /// # Panics
    ///
    /// As [`HostKernel::spawn`].
    pub fn attach(&self, spec: TaskSpec) -> TaskHandle {
        let spec = spec.start_now(false);
        let id = self.spawn(spec, |_| {});
        {
            let mut st = self.shared.lock();
            if let Some(slot) = st.slot_mut(id.index) {
                slot.state = TaskState::Running;
                slot.started_once = true;
            }
        }
        self.shared.changed.notify_all();
        TaskHandle::new(Arc::clone(&self.shared), id)
    }

    /// Starts or restarts task slot `index` (as the supervisor's `TaskStart` does): a running
    /// incarnation is stopped first (its callers get `PeerDied`), the new one gets the next
    /// generation and the spec's grants.
    pub fn restart(&self, index: u16) -> Result<TaskId, Errno> {
        start(&self.shared, index)
    }

    /// Lets `task` send to `endpoint` (as init's registry does through `Grant`).
    pub fn grant(&self, task: TaskId, endpoint: EndpointId) -> Result<(), Errno> {
        grant(&self.shared, task, endpoint)
    }

    /// The state of task slot `index`.
    pub fn task_state(&self, index: u16) -> Option<TaskState> {
        self.shared.lock().slot(index).map(|s| s.state)
    }

    /// The current (or last) incarnation of task slot `index`.
    pub fn task_id(&self, index: u16) -> Option<TaskId> {
        self.shared.lock().slot(index).map(|s| s.id)
    }

    /// Waits up to `timeout` until task slot `index` is no longer running; returns its state
    /// then.
    pub fn wait_stopped(&self, index: u16, timeout: Duration) -> Option<TaskState> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            let state = st.slot(index).map(|s| s.state)?;
            if state != TaskState::Running {
                return Some(state);
            }
            let now = Instant::now();
            if now >= deadline {
                return Some(state);
            }
            st = self.shared.wait_timeout(st, deadline - now);
        }
    }

    /// Waits up to `timeout` until a log line containing `needle` appears; returns whether it
    /// did.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if st.log.iter().any(|l| l.contains(needle)) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.shared.wait_timeout(st, deadline - now);
        }
    }

    /// Every log line so far, as `[task] LEVEL text`.
    pub fn log_lines(&self) -> Vec<String> {
        self.shared.lock().log.clone()
    }

    /// Types `bytes` on the host console: System-class tasks read them with
    /// [`Kernel::console_read`](kernel_abi::Kernel::console_read).
    pub fn console_feed(&self, bytes: &[u8]) {
        self.shared
            .lock()
            .console
            .input
            .extend(bytes.iter().copied());
        self.shared.changed.notify_all();
    }

    /// Ends console input: once the fed bytes are read, blocking reads return 0.
    pub fn console_close(&self) {
        self.shared.lock().console.input_closed = true;
        self.shared.changed.notify_all();
    }

    /// Everything written to the console so far (lossy UTF-8).
    pub fn console_output(&self) -> String {
        String::from_utf8_lossy(&self.shared.lock().console.output).into_owned()
    }

    /// Waits up to `timeout` until the console output contains `needle`; returns whether it
    /// did.
    pub fn wait_for_console(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if String::from_utf8_lossy(&st.console.output).contains(needle) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.shared.wait_timeout(st, deadline - now);
        }
    }

    /// Waits up to `timeout` for a task's `Shutdown`; returns its status (`None` on timeout).
    pub fn wait_for_shutdown(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(status) = st.console.shutdown {
                return Some(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = self.shared.wait_timeout(st, deadline - now);
        }
    }

    /// Stops every task at its next kernel operation. Also done on drop.
    pub fn shutdown(&self) {
        self.shared.lock().shut_down = true;
        self.shared.changed.notify_all();
    }
}

impl Drop for HostKernel {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts (or restarts) slot `index` on a new thread.
fn start(shared: &Arc<Shared>, index: u16) -> Result<TaskId, Errno> {
    let (id, body) = {
        let mut st = shared.lock();
        if st.shut_down {
            return Err(Errno::PeerDied);
        }
        let old = st.slot(index).ok_or(Errno::InvalidArgument)?.id;
        // Like the target kernel, stopping a running incarnation reports it as killed.
        st.stop(old, TaskState::Exited, Some((FaultKind::Killed, 0)));
        let slot = st.slot_mut(index).ok_or(Errno::InvalidArgument)?;
        if slot.started_once {
            slot.id = slot.id.next_generation();
        }
        slot.started_once = true;
        slot.state = TaskState::Running;
        slot.call = CallState::Idle;
        slot.grants = slot.spec.reaches.iter().copied().collect();
        (slot.id, Arc::clone(&slot.body))
    };
    shared.changed.notify_all();
    let thread_shared = Arc::clone(shared);
    let name = format!("task-{}.{}", id.index, id.generation);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let handle = TaskHandle::new(Arc::clone(&thread_shared), id);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| body(handle)));
        let (state, report) = match outcome {
            Ok(()) => (
                TaskState::Exited,
                Some((FaultKind::Exited, u64::from(ExitStatus::SUCCESS.0))),
            ),
            Err(payload) => {
                if payload.is::<Stopped>() {
                    (TaskState::Exited, None)
                } else if let Some(Exit(status)) = payload.downcast_ref::<Exit>() {
                    let state = if *status == ExitStatus::SUCCESS {
                        TaskState::Exited
                    } else {
                        TaskState::Faulted
                    };
                    (state, Some((FaultKind::Exited, u64::from(status.0))))
                } else if let Some(handle::Fault(kind, detail)) =
                    payload.downcast_ref::<handle::Fault>()
                {
                    (TaskState::Faulted, Some((*kind, *detail)))
                } else {
                    (
                        TaskState::Faulted,
                        Some((FaultKind::Exited, u64::from(ExitStatus::PANIC.0))),
                    )
                }
            }
        };
        thread_shared.lock().stop(id, state, report);
        thread_shared.changed.notify_all();
    });
    if spawned.is_err() {
        shared
            .lock()
            .stop(id, TaskState::Faulted, Some((FaultKind::Killed, 0)));
        shared.changed.notify_all();
        return Err(Errno::OutOfResources);
    }
    Ok(id)
}

/// Adds a grant.
fn grant(shared: &Shared, task: TaskId, endpoint: EndpointId) -> Result<(), Errno> {
    let mut st = shared.lock();
    if st.endpoint(endpoint).is_none() {
        return Err(Errno::InvalidArgument);
    }
    let slot = st.slot_mut(task.index).ok_or(Errno::InvalidArgument)?;
    if slot.id != task || slot.state != TaskState::Running {
        return Err(Errno::PeerDied);
    }
    slot.grants.insert(endpoint);
    Ok(())
}
