//! Links the shell task with kernel-abi's task layout (bare-metal target only).
fn main() {
    kernel_abi::task_link::link_task_binaries();
}
