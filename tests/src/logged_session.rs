//! A live session of the product image whose disk writes go to a log, as the power-cut tests
//! drive it: boot behind a fresh write log, type commands and wait until each is
//! acknowledged, read the disk back on the host through the image tool with its integrity
//! check. The log and the disk's copy at boot are what [`crate::power_cut::rebuild`] turns into
//! the disk a power cut leaves.

use std::path::PathBuf;
use std::time::Duration;

use xtask::machine::Machine;
use zvfs::image::Image;

use crate::power_cut;
use crate::qemu::Live;
use crate::transcript::{self, Step};

/// Where a boot's write log and the disk's copy at boot go.
pub struct Logs {
    /// The write log of the boot.
    pub log: PathBuf,
    /// The disk as it was when the boot started (the log's base).
    pub base: PathBuf,
}

/// The last 4,000 bytes of a console (on a character boundary), for failure messages.
pub fn tail(console: &str) -> &str {
    let mut at = console.len().saturating_sub(4000);
    while !console.is_char_boundary(at) {
        at += 1;
    }
    &console[at..]
}

/// Boots `machine` with its disk behind a new write log (the disk as it is now copied to the
/// log's base) and waits up to `timeout` for the shell's first prompt.
pub fn boot(machine: &Machine, logs: &Logs, timeout: Duration) -> Live {
    std::fs::copy(&machine.disk, &logs.base).expect("copy the disk at boot");
    std::fs::File::create(&logs.log).expect("start a new write log");
    let live = Live::start_command(power_cut::logged_command(machine, &logs.log));
    if !live.wait_until(timeout, transcript::ready) {
        panic!("no shell prompt after boot:\n{}", live.kill());
    }
    live
}

/// Types `lines`, waits up to `timeout` until every one is acknowledged and returns their
/// steps; every line must have been echoed as typed.
pub fn run<S: AsRef<str>>(live: &mut Live, lines: &[S], timeout: Duration) -> Vec<Step> {
    let base = transcript::steps(&live.console()).len();
    let mut input = lines
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join("\n");
    input.push('\n');
    live.send(&input);
    let done = live.wait_until(timeout, |c| {
        let steps = transcript::steps(c);
        steps.len() >= base + lines.len() && steps.last().is_some_and(|s| s.acknowledged)
    });
    let console = live.console();
    assert!(
        done,
        "commands not acknowledged in time:\n{}",
        tail(&console)
    );
    let steps = transcript::steps(&console).split_off(base);
    for (step, line) in steps.iter().zip(lines) {
        assert_eq!(
            step.line,
            line.as_ref(),
            "echo differs:\n{}",
            tail(&console)
        );
    }
    steps
}

/// Opens a copy of `machine`'s disk (named `name`, beside it) on the host with the image tool
/// and asserts that its full integrity check is clean. Returns the image and the copy's path.
pub fn checked_copy(machine: &Machine, name: &str) -> (Image, PathBuf) {
    let copy = machine.disk.with_file_name(name);
    std::fs::copy(&machine.disk, &copy).expect("copy the disk image");
    let key = zvfs::image::read_key(&machine.key).expect("read the disk's key");
    let mut image = Image::open(&copy, &key)
        .unwrap_or_else(|e| panic!("the disk does not open on the host: {e}"));
    let report = zvfs::fsck::fsck(&mut image);
    assert!(
        report.is_clean(),
        "integrity check of the disk failed: {:#?}",
        report.problems
    );
    (image, copy)
}
