//! Init: the first Zero OS task. It keeps the service registry, starts the other tasks in order
//! and restarts faulted services. The logic lives in the library (`init::Init`); this binary
//! runs it over the raw syscalls with the shared task runtime (`zos_runtime::task_rt`).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod task {
    use init::{Init, supervise::Config};
    use kernel_abi::{ExitStatus, TaskId, klog};
    use zos_runtime::Syscalls;

    fn main(me: TaskId) -> ExitStatus {
        let k = Syscalls;
        klog!(&k, Info, "init {}.{} up", me.index, me.generation);
        let mut init = Init::new(&k, me.index, Config::default());
        init.boot();
        init.run()
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "init is a Zero OS task; boot it with `cargo xtask run` (its logic is tested on the host)"
    );
}
