//! The NIST AES-256-GCM known-answer vectors through QEMU's real virtio-crypto device (issue 6,
//! item 1): the bare-metal image of `tasks/qemu-kat`, booted on the machine of
//! `cargo xtask run`, composes GCM from the device's AES-CTR sessions and software GHASH, runs
//! the 375 NIST vectors (and the spec's) through it, cross-checks the software CTR, and formats
//! and mounts a store on the real virtio-blk disk with the device engine. `cargo xtask test`
//! builds the image and passes it as ZOS_KAT_IMAGE.

use std::path::PathBuf;
use std::time::Duration;

use system_tests::qemu::{boot, fresh_machine_with};

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn nist_vectors_pass_through_the_qemu_virtio_crypto_device() {
    let image = std::env::var_os("ZOS_KAT_IMAGE")
        .map(PathBuf::from)
        .expect("ZOS_KAT_IMAGE is not set: QEMU tests run through `cargo xtask test`");
    let mut machine = fresh_machine_with(image, "kat");
    // Guest instruction counts, as in the figures of drivers/virtio/DESIGN.md.
    machine.icount = true;
    let run = boot(&machine, b"", Duration::from_secs(240));
    println!("{}", run.console);
    let c = &run.console;
    assert!(
        c.contains("NIST gcmEncryptExtIV256 through the device engine: 375/375"),
        "not every NIST vector passed through the device:\n{c}"
    );
    assert!(c.contains("\n0 failed"), "a check failed:\n{c}");
    assert_eq!(
        run.status,
        Some(0),
        "the image did not exit with success:\n{c}"
    );
}
