//! The shell task: finds the VFS through init, then runs the `zos>` session on the kernel's
//! console (`ConsoleRead` / `ConsoleWrite`). `shutdown` powers the machine off with status 0
//! (`Shutdown`); the end of console input ends the task with status 0.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{ExitStatus, Kernel, TaskId, klog};
    use vfs_api::client::Client;
    use zos_runtime::Syscalls;
    use zos_shell::{KernelConsole, Outcome, Shell};

    /// How long to wait for the VFS to register with init (it mounts and checks the disk
    /// first).
    const CONNECT_TIMEOUT_NS: u64 = 30_000_000_000;

    fn main(me: TaskId) -> ExitStatus {
        let k = Syscalls;
        klog!(&k, Info, "shell {}.{} up", me.index, me.generation);
        let start = k.monotonic_ns();
        let mut told = false;
        let client = loop {
            match Client::connect(&k) {
                Ok(c) => break c,
                Err(e) => {
                    if !told {
                        told = true;
                        let _ = k.console_write(b"zos: waiting for the vfs service...\n");
                    }
                    if k.monotonic_ns().saturating_sub(start) > CONNECT_TIMEOUT_NS {
                        klog!(&k, Error, "shell: no VFS: {:?}", e);
                        return ExitStatus(1);
                    }
                    k.sleep_ns(20_000_000);
                }
            }
        };
        let _ = k.console_write(b"Zero OS shell; `help` lists the commands\n");
        let mut console = KernelConsole::new(&k);
        let mut shell = Shell::new(client);
        match shell.run(&mut console) {
            Outcome::Shutdown => {
                if let Err(e) = k.shutdown(ExitStatus::SUCCESS) {
                    klog!(&k, Error, "shell: shutdown refused: {}", e);
                    return ExitStatus(1);
                }
                ExitStatus::SUCCESS
            }
            Outcome::EndOfInput => ExitStatus::SUCCESS,
            Outcome::ConsoleFailed(e) => {
                klog!(&k, Error, "shell: {}", e);
                ExitStatus(1)
            }
        }
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "the shell is a Zero OS task; boot it with `cargo xtask run` (its logic is tested on the host)"
    );
}
