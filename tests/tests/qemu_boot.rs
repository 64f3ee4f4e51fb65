//! Boot tests in QEMU: the image boots, reports the machine it found, and powers off cleanly.
//! Run by `cargo xtask test` (they need the kernel image it builds, so plain `cargo test` skips
//! them as ignored).

use std::time::Duration;

use system_tests::qemu::{boot, fresh_machine};

const DEADLINE: Duration = Duration::from_secs(60);

#[test]
#[ignore = "needs the QEMU image; run by `cargo xtask test`"]
fn boots_lists_every_attached_device_and_powers_off() {
    let machine = fresh_machine("boot_banner");
    let run = boot(&machine, b"", DEADLINE);
    assert_eq!(
        run.status,
        Some(0),
        "QEMU did not power off cleanly:\n{}",
        run.console
    );
    assert!(
        run.console.contains("memory: 256 MiB"),
        "no memory line:\n{}",
        run.console
    );
    for device in machine.attached_virtio_devices() {
        assert!(
            run.console
                .lines()
                .any(|l| l.starts_with("virtio-mmio[") && l.contains(&format!(": {device} "))),
            "banner does not list the {device} device:\n{}",
            run.console
        );
    }
    assert!(
        run.console.contains("boot ok"),
        "banner incomplete:\n{}",
        run.console
    );
}

#[test]
#[ignore = "needs the QEMU image; run by `cargo xtask test`"]
fn without_the_crypto_device_the_banner_lists_none() {
    let mut machine = fresh_machine("boot_no_crypto");
    machine.crypto_device = false;
    let run = boot(&machine, b"", DEADLINE);
    assert_eq!(
        run.status,
        Some(0),
        "QEMU did not power off cleanly:\n{}",
        run.console
    );
    assert!(
        !run.console.contains(": crypto "),
        "crypto device listed:\n{}",
        run.console
    );
    assert!(
        run.console.contains(": block "),
        "block device missing:\n{}",
        run.console
    );
}
