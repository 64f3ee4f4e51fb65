//! [`TaskSpec`]: how a task is created on the host kernel.

use kernel_abi::{EndpointId, ProcessClass, UserId};

#[cfg(doc)]
use crate::HostKernel;

/// How to create a task with [`HostKernel::spawn`].
#[derive(Clone, Debug)]
pub struct TaskSpec {
    pub(crate) name: String,
    pub(crate) class: ProcessClass,
    pub(crate) user: Option<UserId>,
    pub(crate) priority: u8,
    pub(crate) serves: Vec<EndpointId>,
    pub(crate) reaches: Vec<EndpointId>,
    pub(crate) supervisor: bool,
    pub(crate) start_now: bool,
    pub(crate) start_at_boot: bool,
}

impl TaskSpec {
    /// A System-class task without a user that serves and reaches nothing (except init's
    /// endpoint, which every task reaches), started at once.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            class: ProcessClass::System,
            user: None,
            priority: 0,
            serves: Vec::new(),
            reaches: Vec::new(),
            supervisor: false,
            start_now: true,
            start_at_boot: true,
        }
    }

    /// Sets the process class.
    pub fn class(mut self, class: ProcessClass) -> Self {
        self.class = class;
        self
    }

    /// Sets the user the task runs for.
    pub fn user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the priority reported by `task_info` (the host does not schedule by it).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// The task serves (receives on) `endpoint`; an endpoint has one server.
    pub fn serves(mut self, endpoint: EndpointId) -> Self {
        self.serves.push(endpoint);
        self
    }

    /// The task may send to `endpoint` from its start (a system-file grant).
    pub fn reaches(mut self, endpoint: EndpointId) -> Self {
        self.reaches.push(endpoint);
        self
    }

    /// The task is the supervisor: it may start tasks and grant endpoints, and receives fault
    /// reports if it serves [`EndpointId::INIT`].
    pub fn supervisor(mut self) -> Self {
        self.supervisor = true;
        self
    }

    /// Whether [`HostKernel::spawn`] starts the task (default) or leaves it
    /// [`TaskState::NotStarted`] for the supervisor to start.
    pub fn start_now(mut self, start: bool) -> Self {
        self.start_now = start;
        self
    }

    /// The `start_at_boot` flag reported by `task_info` (default true).
    pub fn start_at_boot(mut self, boot: bool) -> Self {
        self.start_at_boot = boot;
        self
    }
}
