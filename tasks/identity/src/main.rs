//! The identity task: serves the endpoint its system-file entry names, finds the VFS through
//! init, and relays VFS requests from System tasks under its own identity (see the library).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::kernel::served_endpoint;
    use kernel_abi::{ExitStatus, Kernel, TaskId, init_proto, klog};
    use zos_identity::{Relay, Relayed};
    use zos_runtime::Syscalls;

    /// How often to ask init for the VFS before giving up (init seeds the registry from the
    /// system file before it starts this task, so the first try normally succeeds).
    const LOOKUP_TRIES: u32 = 100;

    fn main(me: TaskId) -> ExitStatus {
        let k = Syscalls;
        // The first endpoint the system file gives this task, whatever its name.
        let Some(own) = served_endpoint(&k, me, None) else {
            klog!(
                &k,
                Error,
                "identity: the system file gives this task no endpoint"
            );
            return ExitStatus(2);
        };
        let mut tries = 0;
        let vfs = loop {
            match init_proto::lookup(&k, vfs_api::SERVICE_NAME) {
                Ok(ep) => break ep,
                Err(e) if tries >= LOOKUP_TRIES => {
                    klog!(&k, Error, "identity: no VFS: {:?}", e);
                    return ExitStatus(1);
                }
                Err(_) => {
                    tries += 1;
                    k.sleep_ns(20_000_000);
                }
            }
        };
        klog!(
            &k,
            Info,
            "identity {}.{} relays on endpoint {}",
            me.index,
            me.generation,
            own.0
        );
        let mut relay = Relay::new(&k, own, vfs);
        loop {
            match relay.step() {
                Ok(Relayed::Refused) => klog!(&k, Warn, "identity: refused a non-System caller"),
                Ok(_) => {}
                // The caller died before the reply, or a message did not fit: go on serving.
                Err(e) => klog!(&k, Warn, "identity: {}", e),
            }
        }
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the identity task is a Zero OS task; its relay is tested on the host");
}
