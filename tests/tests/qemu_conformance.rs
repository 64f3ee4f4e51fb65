//! The VFS conformance suite as a task in QEMU (`qemu/conformance.toml`): the same cases as the
//! host runner, against the VFS task on the real virtio-blk disk with the virtio-crypto engine,
//! the four callers' identities stamped by the QEMU kernel (the System conformance task itself
//! and three identity tasks relaying for it).

use std::time::Duration;

use system_tests::qemu::{boot, fresh_conformance_machine};
use xtask::system::System;

/// The `N passed, N failed` line the conformance task prints.
fn summary(console: &str) -> Option<(usize, usize)> {
    console.lines().rev().find_map(|line| {
        let (passed, rest) = line.trim().split_once(" passed, ")?;
        let failed = rest.strip_suffix(" failed")?;
        Some((passed.parse().ok()?, failed.parse().ok()?))
    })
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn the_suite_passes_in_qemu_on_the_disk_with_the_hardware_engine() {
    let machine = fresh_conformance_machine("conformance");
    let run = boot(&machine, b"", Duration::from_secs(240));
    println!("{}", run.console);
    assert!(
        run.console
            .contains("vfs: crypto engine hardware (virtio-crypto): self-test"),
        "the VFS did not serve with the hardware engine:\n{}",
        run.console
    );
    let (passed, failed) = summary(&run.console)
        .unwrap_or_else(|| panic!("no `N passed, N failed` line:\n{}", run.console));
    assert_eq!(failed, 0, "conformance cases failed in QEMU");
    // Every case ran (the 64 MiB one passes without moving 64 MiB: the disk is 64 MiB).
    let cases = vfs_conformance::cases::<kernel_host::TaskHandle>().len();
    assert_eq!(passed, cases, "not every case ran");
    assert_eq!(
        run.status,
        Some(0),
        "the conformance task did not power off cleanly"
    );
}

/// The identity tasks of the conformance system run for the users the suite expects.
#[test]
fn the_conformance_system_file_gives_the_suite_its_users() {
    let file = xtask::paths::workspace_root()
        .join("qemu")
        .join("conformance.toml");
    let system = System::load(&file).expect("qemu/conformance.toml loads");
    let user_of = |name: &str| {
        system
            .tasks
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no task `{name}`"))
            .user
    };
    assert_eq!(user_of("alice"), Some(*vfs_conformance::ALICE.as_bytes()));
    assert_eq!(user_of("bob"), Some(*vfs_conformance::BOB.as_bytes()));
    assert_eq!(user_of("guest"), None);
    assert_eq!(user_of("conformance"), None);
}
