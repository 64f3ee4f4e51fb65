//! The VFS in QEMU (issue 6): the product image (`qemu/system.toml`: init, the VFS task on
//! virtio-blk with the virtio-crypto engine, the shell) driven through the console. Each test
//! boots its own machine with a fresh disk and key. Run by `cargo xtask test` (they need the
//! image it builds, passed as ZOS_SYSTEM_KERNEL).

use std::time::Duration;

use system_tests::qemu::{Boot, baked_system_machine, boot, fresh_system_machine};
use system_tests::transcript;
use xtask::machine::Machine;

const DEADLINE: Duration = Duration::from_secs(90);

/// Boots `machine` with `script` on the console, after one empty line; asserts a clean
/// power-off.
///
/// The empty line absorbs a firmware race: QEMU's 16550 takes one input byte before OpenSBI
/// enables (and clears) the UART's FIFO, so under load the first byte of the input can be lost.
fn session(machine: &Machine, script: &str) -> Boot {
    let run = boot(machine, format!("\n{script}").as_bytes(), DEADLINE);
    assert_eq!(
        run.status,
        Some(0),
        "QEMU did not power off cleanly:\n{}",
        run.console
    );
    run
}

/// What the shell printed: the console without the log lines interleaved with it (the VFS
/// may still be logging its boot while the shell runs the first command).
fn shell(run: &Boot) -> String {
    transcript::without_logs(&run.console)
}

/// The boot count recorded in `/system/config/machine.json`, as the shell printed it.
fn boot_count(console: &str) -> u64 {
    let at = console
        .find("\"boot_count\":")
        .unwrap_or_else(|| panic!("no machine.json on the console:\n{console}"));
    console[at + "\"boot_count\":".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("bad boot count:\n{console}"))
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn the_shell_runs_a_piped_script_and_powers_off() {
    let machine = fresh_system_machine("vfs_pipe");
    let run = session(&machine, "mkdir /tmp/a\nls /tmp\nshutdown\n");
    assert!(
        shell(&run).contains("zos> ls /tmp\na\n"),
        "ls did not list the new directory:\n{}",
        run.console
    );
    assert!(
        run.console.contains("self-test 4 passed, 0 failed"),
        "no engine self-test:\n{}",
        run.console
    );
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn files_survive_a_reboot_and_the_boot_count_goes_up() {
    let machine = fresh_system_machine("vfs_persist");
    let first = session(
        &machine,
        "mkdir /data\necho kept across boots > /data/keep\ncat /system/config/machine.json\n\
         shutdown\n",
    );
    let second = session(
        &machine,
        "cat /data/keep\ncat /system/config/machine.json\nshutdown\n",
    );
    assert!(
        shell(&second).contains("zos> cat /data/keep\nkept across boots\n"),
        "the file did not survive the reboot:\n{}",
        second.console
    );
    assert_eq!(
        boot_count(&shell(&second)),
        boot_count(&shell(&first)) + 1,
        "boot count did not go up by one:\n{}\n---\n{}",
        first.console,
        second.console
    );
}

/// The userspace database's footer time on the disk of `machine` (the host's view, on a copy
/// whose integrity check must be clean).
fn footer_time(machine: &Machine, name: &str) -> u64 {
    let (mut image, _) = system_tests::logged_session::checked_copy(machine, name);
    image
        .store()
        .modified_ns(storage_backend::Db::Userspace)
        .expect("the userspace database is mounted")
}

/// Issue 15, item 7: `df` tells what protects the data (here the virtio-crypto engine) and
/// `shutdown` leaves the running system's footer on the disk: after a second session the
/// newest footer is that session's, seconds after the first one's.
#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn df_names_the_engine_and_shutdown_writes_the_footer() {
    let machine = fresh_system_machine("vfs_df_footer");
    let first = session(&machine, "echo x > /tmp/x\ndf\nshutdown\n");
    let out = shell(&first);
    assert!(
        out.contains("security: AES-256-GCM (hardware engine), integrity: SHA-256 hash chain\n")
            && out.contains("engine:   virtio-crypto\n")
            && out.contains("\nuserspace ")
            && out.contains("\nkernel "),
        "df did not show the databases and the engine:\n{}",
        first.console
    );
    let after_first = footer_time(&machine, "footer-1.img");
    std::thread::sleep(Duration::from_millis(1100));
    let second = session(&machine, "echo y > /tmp/y\nshutdown\n");
    assert!(
        !shell(&second).contains("sync failed"),
        "{}",
        second.console
    );
    let after_second = footer_time(&machine, "footer-2.img");
    assert!(
        after_second >= after_first + 1_000_000_000,
        "the second shutdown left no newer footer: {after_first} then {after_second}"
    );
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn a_wrong_key_is_refused_with_a_clear_message() {
    let machine = fresh_system_machine("vfs_wrong_key");
    session(&machine, "mkdir /data\nshutdown\n");
    std::fs::write(&machine.key, [0x5a; 32]).expect("replace the key");
    let run = boot(&machine, b"\nls /\nshutdown\n", DEADLINE);
    assert!(run.status.is_some(), "QEMU did not stop:\n{}", run.console);
    assert!(
        run.console
            .contains("does not open with this device's master key"),
        "no wrong-key message:\n{}",
        run.console
    );
    assert!(
        !run.console.contains("zos>"),
        "the shell ran on a disk that did not open:\n{}",
        run.console
    );
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn without_an_entropy_source_the_vfs_refuses_with_a_clear_message() {
    // No virtio-rng: the kernel's RandomBytes answers NotSupported, and the VFS, which needs
    // random container UUIDs and file salts, stops the machine instead of serving.
    let mut machine = fresh_system_machine("vfs_no_rng");
    machine.rng_device = false;
    let run = boot(&machine, b"\nls /\nshutdown\n", DEADLINE);
    // The machine stops (rather than waiting for input); the VFS's failure status shows in
    // the kernel's power-off line (QEMU's own exit status does not carry it).
    assert!(run.status.is_some(), "QEMU did not stop:\n{}", run.console);
    assert!(
        run.console
            .contains("kernel: vfs asked for power-off with status 2"),
        "the VFS did not stop the machine with its setup-failure status:\n{}",
        run.console
    );
    assert!(
        run.console.contains("kernel: no entropy source"),
        "no kernel warning:\n{}",
        run.console
    );
    assert!(
        run.console
            .contains("vfs: the kernel has no entropy source (RandomBytes is not supported"),
        "no clear VFS message:\n{}",
        run.console
    );
    assert!(
        !run.console.contains("zos> ls"),
        "the shell served without a VFS:\n{}",
        run.console
    );
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn without_the_crypto_device_the_software_engine_serves() {
    let mut machine = fresh_system_machine("vfs_no_crypto");
    machine.crypto_device = false;
    let run = session(&machine, "mkdir /tmp/b\nls /tmp\nshutdown\n");
    assert!(
        run.console.contains("crypto engine software"),
        "not the software engine:\n{}",
        run.console
    );
    assert!(
        shell(&run).contains("zos> ls /tmp\nb\n"),
        "ls did not list the new directory:\n{}",
        run.console
    );
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn no_marker_is_readable_in_the_raw_disk() {
    const NAME: &str = "zqx-name-marker-7f3a";
    const CONTENT: &str = "zqx-content-marker-91c4";
    let machine = fresh_system_machine("vfs_at_rest");
    let run = session(
        &machine,
        &format!("mkdir /data\necho {CONTENT} > /data/{NAME}\ncat /data/{NAME}\nsync\nshutdown\n"),
    );
    assert!(
        shell(&run).contains(&format!("{CONTENT}\n")),
        "the marker file was not written:\n{}",
        run.console
    );
    let disk = std::fs::read(&machine.disk).expect("read the disk image");
    for marker in [NAME, CONTENT] {
        assert!(
            !disk.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "`{marker}` is readable in the raw disk image"
        );
    }
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn a_disk_baked_by_zvfs_mounts_and_serves_its_files() {
    // What `cargo xtask run` does with a new disk: the host tool writes qemu/rootfs into it.
    let machine = baked_system_machine("vfs_baked");
    let run = session(&machine, "cat /system/welcome.txt\nshutdown\n");
    assert!(
        shell(&run).contains("Welcome to Zero OS."),
        "the baked file was not served:\n{}",
        run.console
    );
}

/// Item 5 of issue 6: the product image's identity tasks (two users, an application without a
/// user, a Runtime service) make isolation visible in the booted system through `as`.
#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn identity_tasks_show_isolation_between_users_and_classes() {
    const ALICE: &str = "0a11ce00-0000-4000-8000-000000000001";
    let machine = fresh_system_machine("vfs_identities");
    let diary = format!("/home/{ALICE}/diary");
    let run = session(
        &machine,
        &format!(
            "mkhome {ALICE}\n\
             as alice echo dear diary > {diary}\n\
             as bob cat {diary}\n\
             as guest ls /home/{ALICE}\n\
             as guest echo x > /system/config/x\n\
             as daemon cat {diary}\n\
             as alice cat {diary}\n\
             as bob echo mine > /tmp/b\n\
             as guest echo over > /tmp/b\n\
             as bob cat /tmp/b\n\
             shutdown\n"
        ),
    );
    let c = &shell(&run);
    for expected in [
        format!("zos> as bob cat {diary}\ncat: {diary}: permission denied\n"),
        format!("zos> as guest ls /home/{ALICE}\nls: /home/{ALICE}: permission denied\n"),
        "zos> as guest echo x > /system/config/x\nzos: /system/config/x: permission denied\n"
            .to_string(),
        // The Runtime service is judged by the system bits (system r on a user file).
        format!("zos> as daemon cat {diary}\ndear diary\n"),
        format!("zos> as alice cat {diary}\ndear diary\n"),
        // Bob's file in the world-writable /tmp is still his: a user-less application may
        // not overwrite it.
        "zos> as guest echo over > /tmp/b\nzos: /tmp/b: permission denied\n".to_string(),
        "zos> as bob cat /tmp/b\nmine\n".to_string(),
    ] {
        assert!(c.contains(&expected), "missing {expected:?} in:\n{c}");
    }
}
