//! The conformance task: runs the VFS conformance suite in QEMU against the VFS task, which
//! serves from the real virtio-blk disk through the hardware (or software) crypto engine.
//!
//! The suite needs four callers with kernel-stamped identities. This task is the System
//! caller; the other three are identity tasks of `qemu/conformance.toml` (`alice`, `bob`:
//! applications running for [`ALICE`] and [`BOB`]; `guest`: an application without a user),
//! which relay this task's VFS requests under their own identities (see `zos-identity`).
//!
//! Prints one line per case and `N passed, N failed` on the console, then powers the machine
//! off with status 0 when every case passed and 1 otherwise.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::init_proto::{self, RestartPolicy};
    use kernel_abi::{ExitStatus, Kernel, TaskId, klog};
    use vfs_api::client::Client;
    use vfs_conformance::{ALICE, BOB, World, run};
    use zos_runtime::Syscalls;

    /// The identity tasks' endpoint names in the system file.
    const IDENTITIES: [&str; 3] = ["alice", "bob", "guest"];

    fn say(k: &Syscalls, line: &str) {
        let _ = k.console_write(line.as_bytes());
        let _ = k.console_write(b"\n");
    }

    fn main(me: TaskId) -> ExitStatus {
        let k = Syscalls;
        klog!(&k, Info, "conformance {}.{} up", me.index, me.generation);
        // A second run would start from the first one's leftovers (homes, handles held by the
        // identity tasks) and report nonsense: after a panic the task stays down.
        if let Err(e) = init_proto::set_restart_policy(&k, "conformance", RestartPolicy::Never) {
            klog!(&k, Warn, "conformance: restart policy not set: {:?}", e);
        }
        let mut endpoints = [kernel_abi::EndpointId(0); 3];
        for (slot, name) in endpoints.iter_mut().zip(IDENTITIES) {
            match init_proto::lookup(&k, name) {
                Ok(ep) => *slot = ep,
                Err(e) => {
                    klog!(
                        &k,
                        Error,
                        "conformance: no identity task `{}`: {:?}",
                        name,
                        e
                    );
                    return finish(&k, false);
                }
            }
        }
        let system = match Client::connect(&k) {
            Ok(c) => c,
            Err(e) => {
                klog!(&k, Error, "conformance: no VFS: {:?}", e);
                return finish(&k, false);
            }
        };
        let [alice, bob, guest] = endpoints;
        let mut world = World {
            alice: Client::new(&k, alice),
            bob: Client::new(&k, bob),
            system,
            anon: Client::new(&k, guest),
            alice_id: ALICE,
            bob_id: BOB,
            // The disk is 64 MiB: the case that moves 64 MiB runs on the host only.
            large: false,
        };
        say(&k, "conformance: running the VFS suite");
        let summary = run(&mut world, "", &mut |line| say(&k, line));
        finish(&k, summary.failed.is_empty() && summary.passed > 0)
    }

    /// Powers the machine off: status 0 when `passed`, 1 otherwise.
    fn finish(k: &Syscalls, passed: bool) -> ExitStatus {
        let status = if passed {
            ExitStatus::SUCCESS
        } else {
            ExitStatus(1)
        };
        if let Err(e) = k.shutdown(status) {
            klog!(k, Error, "conformance: shutdown refused: {}", e);
        }
        status
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "the conformance task is a Zero OS task; `cargo xtask test` boots it in QEMU (the host \
         runner is tests/tests/conformance.rs)"
    );
}
