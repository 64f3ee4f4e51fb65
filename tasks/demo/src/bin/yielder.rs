//! `yielder`: the benchmark's partner for context switches. Waits for the client's start
//! message (the number of rounds), then yields that many times (plus slack) and exits.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{EndpointId, Kernel, TaskId};
    use zos_runtime::Syscalls;

    fn main(_me: TaskId) -> u32 {
        let k = Syscalls;
        let mut buf = [0u8; 8];
        let Ok(m) = k.receive(EndpointId(2), &mut buf, true) else {
            return 1;
        };
        let rounds = if m.len == 8 {
            u64::from_le_bytes(buf)
        } else {
            0
        };
        for _ in 0..rounds + 2 {
            k.yield_now();
        }
        0
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
