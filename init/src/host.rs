//! Init on the host backend (kernel-host), for host tests of tasks that find each other through
//! its registry (the shell, the identity tasks, the VFS clients). Only with the `host` feature.

use kernel_abi::{EndpointId, TaskId};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};

use crate::{Init, supervise::Config};

/// Spawns init as the supervisor serving [`EndpointId::INIT`], not started yet: spawn the
/// system's other tasks with `start_now(false)`, then start init with
/// `kernel.restart(id.index)`; like the target's init it seeds its registry from the named
/// endpoints and starts every boot task.
pub fn spawn_init(kernel: &HostKernel) -> TaskId {
    kernel.spawn(
        TaskSpec::new("init")
            .serves(EndpointId::INIT)
            .supervisor()
            .start_now(false),
        |h: TaskHandle| {
            let mut init = Init::new(&h, h.id().index, Config::default());
            init.boot();
            init.run();
        },
    )
}
