//! `mini-init`: a stand-in supervisor for kernel bring-up while the real `init` is not built
//! for the target. It starts every task marked start-at-boot, in index order, and restarts a task
//! that stopped with a fault or a non-zero exit. It keeps no registry.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod task {
    use kernel_abi::init_proto::{FAULT_REPORT, FaultReport};
    use kernel_abi::{
        EndpointId, ExitStatus, FaultKind, Kernel, Supervisor, Syscalls, TaskId, init_proto, klog,
    };

    fn main(_me: TaskId) -> u32 {
        let k = Syscalls;
        let mut name = [0u8; 32];
        let mut index = 1;
        while let Ok(info) = k.task_info(index, &mut name) {
            if info.word.start_at_boot {
                let shown = core::str::from_utf8(&name[..info.name_len.min(32)]).unwrap_or("?");
                match k.task_start(index) {
                    Ok(id) => klog!(&k, Info, "started {shown} as {:#x}", id.to_raw()),
                    Err(e) => klog!(&k, Error, "could not start {shown}: {e}"),
                }
            }
            index += 1;
        }
        let mut buf = [0u8; 64];
        loop {
            let Ok(m) = k.receive(EndpointId::INIT, &mut buf, true) else {
                continue;
            };
            if m.tag != FAULT_REPORT || !init_proto::is_from_kernel(&m.sender) {
                let _ = k.reply(m.reply, m.tag.response(), &[]);
                continue;
            }
            let Ok(report) = FaultReport::decode(&buf[..m.len]) else {
                continue;
            };
            let clean = report.kind == FaultKind::Exited
                && report.detail == u64::from(ExitStatus::SUCCESS.0);
            klog!(
                &k,
                Info,
                "task {:#x} stopped ({:?}, detail {:#x})",
                report.task.to_raw(),
                report.kind,
                report.detail
            );
            if !clean && report.kind != FaultKind::Exited {
                match k.task_start(report.task.index) {
                    Ok(id) => klog!(&k, Info, "restarted task as {:#x}", id.to_raw()),
                    Err(e) => klog!(&k, Error, "restart failed: {e}"),
                }
            }
        }
    }
    zos_demo::task_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    zos_demo::host_main();
}
