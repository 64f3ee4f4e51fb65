//! Init, the first Zero OS task, as host-testable logic: the service registry
//! ([`registry`]), supervision and restart policy ([`supervise`]), and the boot sequence and
//! main loop over the `kernel_abi::Supervisor` trait ([`service`]).
//!
//! Boot: init (task 0) enumerates the tasks (`TaskInfo`) and the system file's named endpoints
//! (`EndpointInfo`, seeding the registry), then starts every task flagged `start_at_boot` that
//! the kernel has not started, in task-index order. Then it serves its endpoint
//! ([`kernel_abi::EndpointId::INIT`]): `register`, `lookup` (which grants the endpoint to the
//! caller), `set_restart_policy`, and the kernel's fault reports, on which it restarts tasks
//! per their policy. It logs every start, restart, registration and refusal.
#![cfg_attr(not(any(test, feature = "host")), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "host")]
pub mod host;
pub mod registry;
pub mod service;
pub mod supervise;

pub use service::Init;
