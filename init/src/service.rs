//! Init's main loop over the [`Supervisor`] trait: boot, then serve the registry and supervise.
//!
//! The same code runs on the target (over `zos_runtime::Syscalls`) and in host tests (over a
//! `kernel_host::TaskHandle` spawned as the supervisor serving [`EndpointId::INIT`]).

use heapless::Vec;
use kernel_abi::{
    Credentials, EndpointId, Errno, MAX_PAYLOAD, ProcessClass, Received, Supervisor, Tag, TaskId,
    TaskState,
    init_proto::{
        self, FaultReport, InitError, MAX_NAME, Request, ServiceName, TASK_STOPPED, TaskStopped,
    },
    klog,
};

use crate::{
    registry::Registry,
    supervise::{Config, Decision, MAX_TASKS, Supervision},
};

/// How many endpoints init looks at when seeding the registry.
pub const MAX_ENDPOINTS: u16 = 256;

/// The services init tells when a task stops ([`TASK_STOPPED`]), by registered name: those
/// that keep state per task (the VFS's open handles and their staged writes).
pub const STOP_NOTICE_SERVICES: &[&str] = &["vfs"];

/// How long init sleeps between looks at its queue while a delayed restart is pending.
const POLL_NS: u64 = 5_000_000;

/// One known task.
#[derive(Clone, Copy, Debug)]
struct Known {
    index: u16,
    name: Option<ServiceName>,
}

/// Init's state.
pub struct Init<'k, K: Supervisor + ?Sized> {
    kernel: &'k K,
    me: u16,
    /// Init's own incarnation, learnt at boot: to grant itself the endpoints it sends
    /// notices to.
    me_id: Option<TaskId>,
    registry: Registry,
    supervision: Supervision,
    tasks: Vec<Known, MAX_TASKS>,
    /// The last receive error logged, so a persistent one is logged once.
    last_receive_error: Option<Errno>,
    /// Stop notices a service's full queue refused, retried every turn of the loop (at most
    /// one per task slot: a newer incarnation's replaces nothing, each is its own notice, and
    /// beyond [`MAX_TASKS`] the oldest is dropped with a warning).
    pending_stops: Vec<TaskId, MAX_TASKS>,
}

impl<'k, K: Supervisor + ?Sized> Init<'k, K> {
    /// Init for the task in slot `me` (0 on the target: the system file puts init first).
    pub fn new(kernel: &'k K, me: u16, config: Config) -> Self {
        Self {
            kernel,
            me,
            me_id: None,
            registry: Registry::new(),
            supervision: Supervision::new(config),
            tasks: Vec::new(),
            last_receive_error: None,
            pending_stops: Vec::new(),
        }
    }

    /// The registry (for tests and diagnostics).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Learns the tasks and named endpoints, then starts every boot task that is not running
    /// yet, in task-index order (the system file's order). Returns how many it started.
    pub fn boot(&mut self) -> usize {
        let k = self.kernel;
        let mut to_start: Vec<u16, MAX_TASKS> = Vec::new();
        for index in 0..MAX_TASKS as u16 {
            let mut name = [0u8; MAX_NAME];
            let info = match k.task_info(index, &mut name) {
                Ok(info) => info,
                Err(Errno::InvalidArgument) => break,
                Err(e) => {
                    klog!(k, Error, "task_info({}) failed: {}", index, e);
                    break;
                }
            };
            let name = name
                .get(..info.name_len)
                .and_then(|n| ServiceName::new(n).ok());
            if self.tasks.push(Known { index, name }).is_err() {
                klog!(
                    k,
                    Warn,
                    "more than {} tasks; not supervising the rest",
                    MAX_TASKS
                );
                break;
            }
            if index == self.me {
                self.me_id = Some(info.id);
                continue;
            }
            self.supervision.track(info.id);
            if info.word.start_at_boot
                && info.word.state == TaskState::NotStarted
                && to_start.push(index).is_err()
            {
                break;
            }
        }
        self.seed_registry();
        let mut started = 0;
        for index in to_start {
            match k.task_start(index) {
                Ok(id) => {
                    self.supervision.track(id);
                    started += 1;
                    klog!(k, Info, "started {}", Named(self.name_of(index), id));
                }
                Err(e) => klog!(k, Error, "could not start task {}: {}", index, e),
            }
        }
        klog!(k, Info, "boot done: {} tasks started", started);
        started
    }

    /// Binds the system file's named endpoints.
    fn seed_registry(&mut self) {
        let k = self.kernel;
        for raw in 0..MAX_ENDPOINTS {
            let endpoint = EndpointId(raw);
            let mut name = [0u8; MAX_NAME];
            let info = match k.endpoint_info(endpoint, &mut name) {
                Ok(info) => info,
                Err(Errno::InvalidArgument) => break,
                Err(_) => continue,
            };
            if endpoint == EndpointId::INIT || info.name_len == 0 {
                continue;
            }
            match name.get(..info.name_len).map(ServiceName::new) {
                Some(Ok(n)) => {
                    if let Err(e) = self.registry.seed(n, endpoint, info.server) {
                        klog!(k, Warn, "endpoint {} ({}) not registered: {:?}", raw, n, e);
                    }
                }
                _ => klog!(
                    k,
                    Warn,
                    "endpoint {} has an invalid name; not registered",
                    raw
                ),
            }
        }
    }

    fn name_of(&self, index: u16) -> Option<ServiceName> {
        self.tasks
            .iter()
            .find(|t| t.index == index)
            .and_then(|t| t.name)
    }

    fn index_of(&self, name: &ServiceName) -> Option<u16> {
        self.tasks
            .iter()
            .find(|t| t.name.as_ref() == Some(name))
            .map(|t| t.index)
    }

    /// Serves forever: requests, fault reports, and due restarts.
    pub fn run(&mut self) -> ! {
        let mut buf = [0u8; MAX_PAYLOAD];
        loop {
            self.step(&mut buf);
        }
    }

    /// One turn of the loop: performs due restarts, then handles at most one message (waiting
    /// for it only as long as no restart is pending).
    pub fn step(&mut self, buf: &mut [u8; MAX_PAYLOAD]) {
        let k = self.kernel;
        self.restart_due();
        self.retry_stops();
        let blocking = self.supervision.next_deadline().is_none() && self.pending_stops.is_empty();
        match k.receive(EndpointId::INIT, buf, blocking) {
            Ok(msg) => {
                self.last_receive_error = None;
                let payload = buf.get(..msg.len).unwrap_or(&[]);
                self.handle(&msg, payload);
            }
            Err(Errno::WouldBlock) => k.sleep_ns(POLL_NS),
            Err(e) => {
                if self.last_receive_error != Some(e) {
                    klog!(k, Error, "receive on init's endpoint failed: {}", e);
                    self.last_receive_error = Some(e);
                }
                k.sleep_ns(POLL_NS);
            }
        }
    }

    fn restart_due(&mut self) {
        let k = self.kernel;
        while let Some(index) = self.supervision.take_due(k.monotonic_ns()) {
            match k.task_start(index) {
                Ok(id) => {
                    self.supervision.track(id);
                    klog!(k, Info, "restarted {}", Named(self.name_of(index), id));
                }
                Err(e) => klog!(k, Error, "could not restart task {}: {}", index, e),
            }
        }
    }

    /// Handles one message.
    pub fn handle(&mut self, msg: &Received, payload: &[u8]) {
        let k = self.kernel;
        let request = Request::parse(msg.tag, payload);
        let result = match request {
            Ok(Request::Fault(report)) => {
                if init_proto::is_from_kernel(&msg.sender) {
                    self.on_fault(&report);
                    return;
                }
                klog!(
                    k,
                    Warn,
                    "task {:?} forged a fault report; ignored",
                    msg.sender.task
                );
                Err(InitError::PermissionDenied)
            }
            Ok(Request::Register { name, endpoint }) => {
                self.on_register(&msg.sender, name, endpoint)
            }
            Ok(Request::Lookup { name }) => self.on_lookup(&msg.sender, name),
            Ok(Request::SetRestartPolicy { task, policy }) => {
                if msg.sender.class != ProcessClass::System {
                    Err(InitError::PermissionDenied)
                } else {
                    match self.index_of(&task) {
                        Some(index) if self.supervision.set_policy(index, policy) => {
                            klog!(k, Info, "restart policy of {} is now {:?}", task, policy);
                            Ok(None)
                        }
                        _ => Err(InitError::NotFound),
                    }
                }
            }
            Err(e) => Err(e),
        };
        let (out, len) = init_proto::encode_response(result);
        let tag = if msg.tag.is_request() {
            msg.tag.response()
        } else {
            Tag(msg.tag.0)
        };
        // A reply to a task that died meanwhile is dropped by the kernel; nothing to do.
        let _ = k.reply(msg.reply, tag, out.get(..len).unwrap_or(&[]));
    }

    fn on_register(
        &mut self,
        sender: &Credentials,
        name: ServiceName,
        endpoint: EndpointId,
    ) -> Result<Option<EndpointId>, InitError> {
        let k = self.kernel;
        let server = match k.endpoint_info(endpoint, &mut []) {
            Ok(info) => info.server,
            Err(_) => return Err(InitError::NotServer),
        };
        match self.registry.register(sender, name, endpoint, server) {
            Ok(()) => {
                klog!(
                    k,
                    Info,
                    "registered {} on endpoint {} by task {}",
                    name,
                    endpoint.0,
                    Id(sender.task)
                );
                Ok(None)
            }
            Err(e) => {
                klog!(
                    k,
                    Warn,
                    "register {} by task {} refused: {:?}",
                    name,
                    Id(sender.task),
                    e
                );
                Err(e)
            }
        }
    }

    fn on_lookup(
        &mut self,
        sender: &Credentials,
        name: ServiceName,
    ) -> Result<Option<EndpointId>, InitError> {
        let k = self.kernel;
        let endpoint = self.registry.lookup(&name).ok_or(InitError::NotFound)?;
        if let Err(e) = k.grant(sender.task, endpoint) {
            klog!(
                k,
                Warn,
                "grant of {} to task {} failed: {}",
                name,
                Id(sender.task),
                e
            );
            return Err(InitError::GrantFailed);
        }
        Ok(Some(endpoint))
    }

    fn on_fault(&mut self, report: &FaultReport) {
        let k = self.kernel;
        let who = Named(self.name_of(report.task.index), report.task);
        let now = k.monotonic_ns();
        match self.supervision.on_stop(report, now) {
            Decision::Restart { at_ns } => klog!(
                k,
                Warn,
                "{} stopped ({:?}, detail {:#x}); restart in {} ms",
                who,
                report.kind,
                report.detail,
                (at_ns - now) / 1_000_000
            ),
            Decision::Leave => klog!(
                k,
                Info,
                "{} stopped ({:?}, detail {:#x}); policy leaves it stopped",
                who,
                report.kind,
                report.detail
            ),
            Decision::GiveUp => klog!(
                k,
                Error,
                "{} stopped ({:?}, detail {:#x}); failed too often, giving up",
                who,
                report.kind,
                report.detail
            ),
            Decision::Stale => klog!(k, Debug, "stale fault report for {}", who),
        }
        self.tell_stopped(report.task);
        self.restart_due();
    }

    /// Tells the [`STOP_NOTICE_SERVICES`] that `task` stopped, without waiting for them. A
    /// notice the service's full queue refuses is kept and retried every turn of the loop, so
    /// a busy service still learns of every stopped task (a task that stops while the VFS is
    /// flooded would otherwise hold its handles until a later incarnation called in).
    fn tell_stopped(&mut self, task: TaskId) {
        if self.send_stopped(task) == Err(Errno::QueueFull) {
            if self.pending_stops.is_full() {
                let dropped = self.pending_stops.remove(0);
                klog!(
                    self.kernel,
                    Warn,
                    "too many stop notices pending; {} dropped",
                    Id(dropped)
                );
            }
            let _ = self.pending_stops.push(task);
        }
    }

    /// Sends the notices still pending, oldest first, until a queue is full again.
    fn retry_stops(&mut self) {
        while let Some(&task) = self.pending_stops.first() {
            if self.send_stopped(task) == Err(Errno::QueueFull) {
                return;
            }
            self.pending_stops.remove(0);
        }
    }

    /// Sends the notice that `task` stopped to every service that wants it; `QueueFull` if a
    /// service's queue had no room (other failures are logged: the notice is then moot).
    fn send_stopped(&mut self, task: TaskId) -> Result<(), Errno> {
        let mut result = Ok(());
        let k = self.kernel;
        let notice = TaskStopped { task }.encode();
        for raw in STOP_NOTICE_SERVICES {
            let Ok(name) = ServiceName::new(raw.as_bytes()) else {
                continue;
            };
            let Some(endpoint) = self.registry.lookup(&name) else {
                continue;
            };
            match k.endpoint_info(endpoint, &mut []) {
                // The service itself stopped: its state went with it.
                Ok(info) if info.server == task => continue,
                Ok(_) => {}
                Err(_) => continue,
            }
            let mut sent = k.send(endpoint, TASK_STOPPED, &notice);
            if sent == Err(Errno::NotGranted)
                && let Some(me) = self.me_id
                && k.grant(me, endpoint).is_ok()
            {
                sent = k.send(endpoint, TASK_STOPPED, &notice);
            }
            match sent {
                Ok(()) => {}
                Err(Errno::QueueFull) => result = Err(Errno::QueueFull),
                Err(e) => klog!(
                    k,
                    Warn,
                    "could not tell {} that {} stopped: {}",
                    name,
                    Id(task),
                    e
                ),
            }
        }
        result
    }
}

/// Displays a task id as `index.generation`.
struct Id(TaskId);

impl core::fmt::Display for Id {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.0.index, self.0.generation)
    }
}

/// Displays a task as `name (index.generation)`.
struct Named(Option<ServiceName>, TaskId);

impl core::fmt::Display for Named {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(name) => write!(f, "{} ({})", name, Id(self.1)),
            None => write!(f, "task {}", Id(self.1)),
        }
    }
}
