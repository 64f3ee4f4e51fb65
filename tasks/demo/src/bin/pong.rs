//! `pong`: a server that echoes payloads and tells callers who the kernel says they are.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{Kernel, TaskId, klog};
    use zos_demo::{ECHO, WHOAMI, encode_credentials, endpoints};
    use zos_runtime::Syscalls;

    fn main(_me: TaskId) -> u32 {
        let k = Syscalls;
        let mut buf = [0u8; kernel_abi::MAX_PAYLOAD];
        klog!(&k, Info, "serving");
        loop {
            let Ok(m) = k.receive(endpoints::PONG, &mut buf, true) else {
                continue;
            };
            let _ = match m.tag {
                ECHO => k.reply(m.reply, ECHO.response(), &buf[..m.len]),
                WHOAMI => k.reply(m.reply, WHOAMI.response(), &encode_credentials(&m.sender)),
                other => k.reply(m.reply, other.response(), &[]),
            };
        }
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
