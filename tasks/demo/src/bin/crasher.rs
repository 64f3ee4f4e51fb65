//! `crasher`: a server that answers `PING` and dies of an illegal instruction on `CRASH`, so
//! tests can watch init restart it and its clients recover.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::{Kernel, TaskId, klog};
    use zos_demo::{CRASH, PING, endpoints};
    use zos_runtime::Syscalls;

    fn main(me: TaskId) -> u32 {
        let k = Syscalls;
        let mut buf = [0u8; 64];
        klog!(&k, Info, "serving (generation {})", me.generation);
        loop {
            let Ok(m) = k.receive(endpoints::CRASHER, &mut buf, true) else {
                continue;
            };
            if m.tag == CRASH {
                klog!(&k, Warn, "crashing on request");
                // SAFETY: `unimp` is an illegal instruction: the kernel stops this task. No
                // memory is touched.
                unsafe { core::arch::asm!("unimp") };
            }
            let _ = k.reply(m.reply, PING.response(), &me.generation.to_le_bytes());
        }
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
