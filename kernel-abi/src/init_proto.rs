//! Init's protocol (tags 0x1000-0x100F): the service registry, fault reports and restart
//! policies. Fixed little-endian layouts, so the kernel can write a fault report without a
//! serializer.
//!
//! Every task holds a grant for init's endpoint [`EndpointId::INIT`].
//!
//! | tag | name | from | request payload | response payload |
//! | --- | --- | --- | --- | --- |
//! | 0x1000 | [`REGISTER`] | System/Runtime task, by `call` | endpoint `u16`, then the name | status `u16` |
//! | 0x1002 | [`LOOKUP`] | any task, by `call` | the name | status `u16`, then on success endpoint `u16` |
//! | 0x1004 | [`FAULT_REPORT`] | the kernel only, as a message | [`FaultReport`] (16 bytes) | none |
//! | 0x1006 | [`SET_RESTART_POLICY`] | System task, by `call` | policy `u8`, then the task's name | status `u16` |
//! | 0x1008 | [`TASK_STOPPED`] | init to a service, as a message | [`TaskStopped`] (4 bytes) | none |
//!
//! Status 0 is success; anything else is an [`InitError`] code. Names are [`ServiceName`]s: 1 to
//! [`MAX_NAME`] bytes of `a-z 0-9 . _ -`.
//!
//! - **Register:** binds the name to the endpoint. Init checks through the kernel that the
//!   caller serves the endpoint, and that the caller's class is System or Runtime (the
//!   operating system, not a user program). Re-registering a name by a later incarnation of the
//!   same task (after a restart) replaces the binding; anyone else gets
//!   [`InitError::AlreadyRegistered`].
//! - **Lookup:** answers the endpoint and grants it to the caller, who can then `call` it.
//!   [`InitError::NotFound`] while the service has not registered (yet): clients retry.
//! - **Fault report:** the kernel tells init that a task stopped; init restarts it per its
//!   policy. Init ignores fault reports whose sender is not [`Credentials::KERNEL`].
//! - **Set restart policy:** a System task changes the policy of a task by name.
//! - **Task stopped:** init passes on what a fault report told it — this incarnation of a task
//!   is gone (exited, faulted or killed) — to the services that keep per-task state (the VFS's
//!   open handles), so they release it at once instead of when a later incarnation calls in.
//!   Sent without waiting (init never blocks on a service); a service believes it only from a
//!   System-class sender, and a lost notice (full queue) only delays the release.

use crate::{Credentials, EndpointId, Errno, FaultKind, Kernel, Tag, TaskId};

/// Register a service name → endpoint binding.
pub const REGISTER: Tag = Tag(0x1000);
/// Look a service up by name; init grants its endpoint to the caller.
pub const LOOKUP: Tag = Tag(0x1002);
/// The kernel reports a stopped task.
pub const FAULT_REPORT: Tag = Tag(0x1004);
/// Change a task's restart policy.
pub const SET_RESTART_POLICY: Tag = Tag(0x1006);

/// Init tells a service that a task stopped (a notice: sent, not called; no reply).
pub const TASK_STOPPED: Tag = Tag(0x1008);

/// The longest service or task name, in bytes.
pub const MAX_NAME: usize = 32;

/// Errors of init's protocol (the status `u16` of a response).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum InitError {
    /// The request's payload does not follow the layout.
    Malformed = 1,
    /// Empty, too long, or a byte outside `a-z 0-9 . _ -`.
    InvalidName = 2,
    /// The caller's class may not do this.
    PermissionDenied = 3,
    /// Another task already registered the name.
    AlreadyRegistered = 4,
    /// No service (or task) with that name.
    NotFound = 5,
    /// The registry has no room for another name.
    RegistryFull = 6,
    /// The caller does not serve the endpoint it tried to register.
    NotServer = 7,
    /// The kernel refused to grant the endpoint to the caller.
    GrantFailed = 8,
    /// A status this version does not know.
    Unknown = 0xFFFF,
}

impl InitError {
    /// Every defined error, in number order (excluding [`InitError::Unknown`]).
    pub const ALL: [InitError; 8] = [
        Self::Malformed,
        Self::InvalidName,
        Self::PermissionDenied,
        Self::AlreadyRegistered,
        Self::NotFound,
        Self::RegistryFull,
        Self::NotServer,
        Self::GrantFailed,
    ];

    /// Decodes a status; `Ok(())` for 0.
    pub const fn from_status(status: u16) -> Result<(), InitError> {
        if status == 0 {
            Ok(())
        } else if (status as usize) <= Self::ALL.len() {
            Err(Self::ALL[status as usize - 1])
        } else {
            Err(Self::Unknown)
        }
    }

    /// Encodes a result as a status.
    pub const fn to_status(result: Result<(), InitError>) -> u16 {
        match result {
            Ok(()) => 0,
            Err(e) => e as u16,
        }
    }
}

/// A checked service or task name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceName {
    len: u8,
    bytes: [u8; MAX_NAME],
}

impl ServiceName {
    /// Checks a name from untrusted bytes.
    pub const fn new(raw: &[u8]) -> Result<Self, InitError> {
        if raw.is_empty() || raw.len() > MAX_NAME {
            return Err(InitError::InvalidName);
        }
        let mut bytes = [0u8; MAX_NAME];
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')) {
                return Err(InitError::InvalidName);
            }
            bytes[i] = b;
            i += 1;
        }
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The name as text (always ASCII).
    pub fn as_str(&self) -> &str {
        // The constructor admits only ASCII bytes, so this never fails.
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
}

impl core::fmt::Debug for ServiceName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for ServiceName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What init does when a task stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RestartPolicy {
    /// Leave it stopped.
    Never = 0,
    /// Restart after a fault or a non-zero exit; leave a clean exit alone.
    OnFailure = 1,
    /// Restart whenever it stops.
    Always = 2,
}

impl RestartPolicy {
    /// Decodes the wire form.
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            0 => Some(Self::Never),
            1 => Some(Self::OnFailure),
            2 => Some(Self::Always),
            _ => None,
        }
    }
}

/// The kernel's report that a task stopped (payload of [`FAULT_REPORT`]).
///
/// Layout, 16 bytes little-endian: task id register form `u32` at 0, [`FaultKind`] `u8` at 4,
/// three zero bytes, detail `u64` at 8 (faulting address, exit status, syscall number — see
/// [`FaultKind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FaultReport {
    /// The incarnation that stopped.
    pub task: TaskId,
    /// Why.
    pub kind: FaultKind,
    /// Kind-specific detail.
    pub detail: u64,
}

impl FaultReport {
    /// The encoded size.
    pub const SIZE: usize = 16;

    /// Encodes the report.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..4].copy_from_slice(&self.task.to_raw().to_le_bytes());
        out[4] = self.kind as u8;
        out[8..16].copy_from_slice(&self.detail.to_le_bytes());
        out
    }

    /// Decodes a report from untrusted bytes.
    pub fn decode(raw: &[u8]) -> Result<Self, InitError> {
        let raw: &[u8; Self::SIZE] = raw.try_into().map_err(|_| InitError::Malformed)?;
        let [t0, t1, t2, t3, kind, p0, p1, p2, d @ ..] = *raw;
        if (p0, p1, p2) != (0, 0, 0) {
            return Err(InitError::Malformed);
        }
        Ok(Self {
            task: TaskId::from_raw(u32::from_le_bytes([t0, t1, t2, t3])),
            kind: FaultKind::from_raw(kind).ok_or(InitError::Malformed)?,
            detail: u64::from_le_bytes(d),
        })
    }
}

/// The payload of [`TASK_STOPPED`]: the incarnation that stopped.
///
/// Layout, 4 bytes little-endian: the task id's register form (`TaskId::to_raw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskStopped {
    /// The incarnation that stopped.
    pub task: TaskId,
}

impl TaskStopped {
    /// The encoded size.
    pub const SIZE: usize = 4;

    /// Encodes the notice.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        self.task.to_raw().to_le_bytes()
    }

    /// Decodes a notice from untrusted bytes.
    pub fn decode(raw: &[u8]) -> Result<Self, InitError> {
        let raw: [u8; Self::SIZE] = raw.try_into().map_err(|_| InitError::Malformed)?;
        Ok(Self {
            task: TaskId::from_raw(u32::from_le_bytes(raw)),
        })
    }
}

/// A request to init, parsed from untrusted bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// [`REGISTER`].
    Register {
        /// The service's name.
        name: ServiceName,
        /// The endpoint the caller serves it on.
        endpoint: EndpointId,
    },
    /// [`LOOKUP`].
    Lookup {
        /// The service's name.
        name: ServiceName,
    },
    /// [`FAULT_REPORT`].
    Fault(FaultReport),
    /// [`SET_RESTART_POLICY`].
    SetRestartPolicy {
        /// The task's name.
        task: ServiceName,
        /// Its new policy.
        policy: RestartPolicy,
    },
}

impl Request {
    /// Parses a message; [`InitError::Malformed`] for an unknown tag or a bad layout.
    pub fn parse(tag: Tag, payload: &[u8]) -> Result<Self, InitError> {
        match tag {
            REGISTER => match payload {
                [e0, e1, name @ ..] => Ok(Self::Register {
                    endpoint: EndpointId(u16::from_le_bytes([*e0, *e1])),
                    name: ServiceName::new(name)?,
                }),
                _ => Err(InitError::Malformed),
            },
            LOOKUP => Ok(Self::Lookup {
                name: ServiceName::new(payload)?,
            }),
            FAULT_REPORT => Ok(Self::Fault(FaultReport::decode(payload)?)),
            SET_RESTART_POLICY => match payload {
                [policy, name @ ..] => Ok(Self::SetRestartPolicy {
                    policy: RestartPolicy::from_raw(*policy).ok_or(InitError::Malformed)?,
                    task: ServiceName::new(name)?,
                }),
                _ => Err(InitError::Malformed),
            },
            _ => Err(InitError::Malformed),
        }
    }

    /// The message's tag.
    pub const fn tag(&self) -> Tag {
        match self {
            Self::Register { .. } => REGISTER,
            Self::Lookup { .. } => LOOKUP,
            Self::Fault(_) => FAULT_REPORT,
            Self::SetRestartPolicy { .. } => SET_RESTART_POLICY,
        }
    }

    /// Encodes the payload into `out`; returns its length. `out` needs at most
    /// `2 + MAX_NAME` bytes.
    pub fn encode(&self, out: &mut [u8; 2 + MAX_NAME]) -> usize {
        match self {
            Self::Register { name, endpoint } => {
                out[..2].copy_from_slice(&endpoint.0.to_le_bytes());
                let n = name.as_bytes();
                out[2..2 + n.len()].copy_from_slice(n);
                2 + n.len()
            }
            Self::Lookup { name } => {
                let n = name.as_bytes();
                out[..n.len()].copy_from_slice(n);
                n.len()
            }
            Self::Fault(report) => {
                out[..FaultReport::SIZE].copy_from_slice(&report.encode());
                FaultReport::SIZE
            }
            Self::SetRestartPolicy { task, policy } => {
                out[0] = *policy as u8;
                let n = task.as_bytes();
                out[1..1 + n.len()].copy_from_slice(n);
                1 + n.len()
            }
        }
    }
}

/// Encodes a response payload: the status, then the endpoint on a successful lookup. Returns
/// the bytes and their length.
pub fn encode_response(result: Result<Option<EndpointId>, InitError>) -> ([u8; 4], usize) {
    let mut out = [0u8; 4];
    match result {
        Ok(None) => (out, 2),
        Ok(Some(endpoint)) => {
            out[2..4].copy_from_slice(&endpoint.0.to_le_bytes());
            (out, 4)
        }
        Err(e) => {
            out[..2].copy_from_slice(&(e as u16).to_le_bytes());
            (out, 2)
        }
    }
}

/// Decodes a response payload: `Ok(Some(endpoint))` after a successful lookup, `Ok(None)` for
/// the other requests.
pub fn decode_response(payload: &[u8]) -> Result<Option<EndpointId>, InitError> {
    match payload {
        [s0, s1] => InitError::from_status(u16::from_le_bytes([*s0, *s1])).map(|()| None),
        [0, 0, e0, e1] => Ok(Some(EndpointId(u16::from_le_bytes([*e0, *e1])))),
        _ => Err(InitError::Malformed),
    }
}

/// Why a request to init failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InitCallError {
    /// The IPC itself failed.
    Kernel(Errno),
    /// Init refused.
    Init(InitError),
}

impl From<Errno> for InitCallError {
    fn from(e: Errno) -> Self {
        Self::Kernel(e)
    }
}

impl From<InitError> for InitCallError {
    fn from(e: InitError) -> Self {
        Self::Init(e)
    }
}

fn call_init<K: Kernel + ?Sized>(
    kernel: &K,
    request: &Request,
) -> Result<Option<EndpointId>, InitCallError> {
    let mut out = [0u8; 2 + MAX_NAME];
    let len = request.encode(&mut out);
    let mut reply = [0u8; 8];
    let (tag, n) = kernel.call(EndpointId::INIT, request.tag(), &out[..len], &mut reply)?;
    if tag != request.tag().response() {
        return Err(InitError::Malformed.into());
    }
    Ok(decode_response(
        reply.get(..n).ok_or(InitError::Malformed)?,
    )?)
}

/// Registers `name` as served on `endpoint` (which the calling task must serve).
pub fn register<K: Kernel + ?Sized>(
    kernel: &K,
    name: &str,
    endpoint: EndpointId,
) -> Result<(), InitCallError> {
    let name = ServiceName::new(name.as_bytes())?;
    call_init(kernel, &Request::Register { name, endpoint }).map(|_| ())
}

/// Looks `name` up; on success the caller holds a grant for the returned endpoint.
pub fn lookup<K: Kernel + ?Sized>(kernel: &K, name: &str) -> Result<EndpointId, InitCallError> {
    let name = ServiceName::new(name.as_bytes())?;
    call_init(kernel, &Request::Lookup { name })?.ok_or(InitCallError::Init(InitError::Malformed))
}

/// Sets the restart policy of the task called `task` (System callers only).
pub fn set_restart_policy<K: Kernel + ?Sized>(
    kernel: &K,
    task: &str,
    policy: RestartPolicy,
) -> Result<(), InitCallError> {
    let task = ServiceName::new(task.as_bytes())?;
    call_init(kernel, &Request::SetRestartPolicy { task, policy }).map(|_| ())
}

/// Whether a fault report came from the kernel (the only sender init believes).
pub fn is_from_kernel(sender: &Credentials) -> bool {
    *sender == Credentials::KERNEL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_in_init_range_and_even() {
        for t in [
            REGISTER,
            LOOKUP,
            FAULT_REPORT,
            SET_RESTART_POLICY,
            TASK_STOPPED,
        ] {
            assert!(crate::message::ranges::INIT.contains(&t.0));
            assert!(t.is_request());
            assert!(crate::message::ranges::INIT.contains(&t.response().0));
        }
    }

    #[test]
    fn task_stopped_round_trips_and_rejects_other_lengths() {
        let n = TaskStopped {
            task: TaskId {
                index: 7,
                generation: 3,
            },
        };
        assert_eq!(TaskStopped::decode(&n.encode()), Ok(n));
        assert_eq!(TaskStopped::decode(&[1, 2, 3]), Err(InitError::Malformed));
        assert_eq!(TaskStopped::decode(&[0; 5]), Err(InitError::Malformed));
    }

    #[test]
    fn errors_round_trip() {
        for (i, e) in InitError::ALL.iter().enumerate() {
            assert_eq!(*e as u16 as usize, i + 1);
            assert_eq!(
                InitError::from_status(InitError::to_status(Err(*e))),
                Err(*e)
            );
        }
        assert_eq!(InitError::from_status(0), Ok(()));
        assert_eq!(InitError::from_status(99), Err(InitError::Unknown));
    }

    #[test]
    fn names_are_checked() {
        assert!(ServiceName::new(b"vfs").is_ok());
        assert_eq!(ServiceName::new(b"vfs").map(|n| n.len), Ok(3));
        assert!(ServiceName::new(b"net-0.driver_x").is_ok());
        assert_eq!(ServiceName::new(b""), Err(InitError::InvalidName));
        assert_eq!(ServiceName::new(b"VFS"), Err(InitError::InvalidName));
        assert_eq!(ServiceName::new(b"a/b"), Err(InitError::InvalidName));
        assert_eq!(ServiceName::new(&[b'a'; 33]), Err(InitError::InvalidName));
        assert!(ServiceName::new(&[b'a'; 32]).is_ok());
    }

    #[test]
    fn fault_report_round_trips() {
        let r = FaultReport {
            task: TaskId {
                index: 3,
                generation: 1,
            },
            kind: FaultKind::MemoryAccess,
            detail: 0x8020_0000,
        };
        let bytes = r.encode();
        assert_eq!(&bytes[..8], &[3, 0, 1, 0, 1, 0, 0, 0]);
        assert_eq!(FaultReport::decode(&bytes), Ok(r));
        assert_eq!(FaultReport::decode(&bytes[..15]), Err(InitError::Malformed));
        let mut bad = bytes;
        bad[4] = 0;
        assert_eq!(FaultReport::decode(&bad), Err(InitError::Malformed));
        let mut bad = bytes;
        bad[5] = 1;
        assert_eq!(FaultReport::decode(&bad), Err(InitError::Malformed));
    }

    #[test]
    fn requests_round_trip() {
        let name = ServiceName::new(b"vfs").unwrap();
        let requests = [
            Request::Register {
                name,
                endpoint: EndpointId(5),
            },
            Request::Lookup { name },
            Request::Fault(FaultReport {
                task: TaskId::from_raw(7),
                kind: FaultKind::Exited,
                detail: 101,
            }),
            Request::SetRestartPolicy {
                task: name,
                policy: RestartPolicy::Never,
            },
        ];
        for r in requests {
            let mut out = [0u8; 2 + MAX_NAME];
            let n = r.encode(&mut out);
            assert_eq!(Request::parse(r.tag(), &out[..n]), Ok(r));
        }
        assert_eq!(Request::parse(REGISTER, &[1]), Err(InitError::Malformed));
        assert_eq!(Request::parse(Tag(0x1008), b"x"), Err(InitError::Malformed));
        assert_eq!(
            Request::parse(SET_RESTART_POLICY, &[9, b'a']),
            Err(InitError::Malformed)
        );
        for p in [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ] {
            assert_eq!(RestartPolicy::from_raw(p as u8), Some(p));
        }
    }

    #[test]
    fn responses_round_trip() {
        for r in [
            Ok(None),
            Ok(Some(EndpointId(9))),
            Err(InitError::NotFound),
            Err(InitError::PermissionDenied),
        ] {
            let (bytes, n) = encode_response(r);
            assert_eq!(decode_response(&bytes[..n]), r);
        }
        assert_eq!(decode_response(&[]), Err(InitError::Malformed));
        assert_eq!(decode_response(&[1, 0, 5, 0]), Err(InitError::Malformed));
    }
}
