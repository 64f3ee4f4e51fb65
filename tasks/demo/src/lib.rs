//! Shared parts of the demo tasks: their little protocol, and `task_main!`, which wraps
//! zos-runtime's task runtime so each task is a plain `fn main(me: TaskId) -> u32`.
#![cfg_attr(target_os = "none", no_std)]
#![deny(missing_docs)]

use kernel_abi::Tag;

/// `pong`'s protocol (echo, credentials as stamped, their encoding): kernel-abi's, shared
/// with the host backend's conformance checks.
pub use kernel_abi::demo::{ECHO, WHOAMI, decode_credentials, encode_credentials};
/// `crasher`: answer.
pub const PING: Tag = Tag(0x2010);
/// `crasher`: execute an illegal instruction.
pub const CRASH: Tag = Tag(0x2012);

/// Endpoint numbers of the demo system (their order in `qemu/system.toml`).
pub mod endpoints {
    use kernel_abi::EndpointId;
    /// Served by `pong`.
    pub const PONG: EndpointId = EndpointId(1);
    /// Served by `crasher`.
    pub const CRASHER: EndpointId = EndpointId(2);
    /// Served by `spinner`, which never receives.
    pub const SINK: EndpointId = EndpointId(3);
}

/// Declares the task's main function, `fn(me: TaskId) -> u32` (the exit status), and puts
/// zos-runtime's task runtime (entry point, panic handler, heap) into the binary.
#[macro_export]
macro_rules! task_main {
    ($main:path) => {
        fn __zos_demo_main(me: kernel_abi::TaskId) -> kernel_abi::ExitStatus {
            kernel_abi::ExitStatus($main(me))
        }
        zos_runtime::task_entry!(__zos_demo_main);
    };
}

/// The `main` of a demo binary built for the host: says where it runs.
pub fn host_main() {
    #[cfg(not(target_os = "none"))]
    eprintln!("this is a Zero OS task; boot it with `cargo xtask run`");
}
