//! The store on QEMU virt's CFI parallel flash through the `zos-cfi-flash` driver (issue 16,
//! item 5): the flash check system (`qemu/flash-check.toml`) formats a fresh flash bank on the
//! first boot, and every later boot on the same flash image must find every record of the
//! boots before it — through QEMU's pflash model, its command set and its backing file.

use std::time::Duration;

use system_tests::qemu::{boot, flash_kernel, fresh_machine_with};

const DEADLINE: Duration = Duration::from_secs(180);

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn the_store_on_cfi_flash_survives_reboots() {
    let machine = fresh_machine_with(flash_kernel(), "flash_check");
    for generation in 1..=3u32 {
        let run = boot(&machine, b"", DEADLINE);
        let expected = format!(
            "flash-check: generation {generation}, {} records verified",
            (generation - 1) * 64
        );
        assert!(
            run.console.contains(&expected) && run.status == Some(0),
            "boot {generation}: expected `{expected}` and status 0, got {:?}:\n{}",
            run.status,
            run.console
        );
        assert_eq!(
            run.console.contains("no store on the flash, formatting"),
            generation == 1,
            "only the first boot formats:\n{}",
            run.console
        );
    }
    // The records are on the flash image, sealed: the bank is no longer erased, and a record
    // key the task wrote is not readable in it.
    let image = std::fs::read(&machine.flash).expect("read the flash image");
    assert!(image.iter().any(|&b| b != 0xFF), "nothing was programmed");
    assert!(
        !image.windows(10).any(|w| w == b"generation"),
        "a record key is readable in the raw flash"
    );
}
