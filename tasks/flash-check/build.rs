//! Links the flash check task with zos-runtime's task layout (bare-metal target only).
fn main() {
    zos_runtime::task_link::link_task_binaries();
}
