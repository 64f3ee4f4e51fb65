//! `cargo xtask bench <suite>`: measurements against a peer on the same workload in the same run.
//! Each suite prints `<suite>.<figure>: <value> <unit>` lines and writes them, with the peer's
//! figures and the ratios, to `docs/benchmarks/<suite>.md`, which the README links.

use std::process::ExitCode;

mod ipc;
mod profile;
mod qemu;
mod storage;
mod vfs;

/// The suites, by name.
const SUITES: &[&str] = &["ipc", "vfs", "storage", "qemu"];

/// Runs the named suite.
pub fn bench(args: &[String]) -> Result<ExitCode, String> {
    let Some((suite, rest)) = args.split_first() else {
        return Err(format!("bench: name a suite: {}", SUITES.join(", ")));
    };
    if suite == "ipc" {
        return ipc::run(rest);
    }
    if suite == "vfs" {
        return vfs::run(rest);
    }
    if suite == "storage" {
        return storage::run(rest);
    }
    if suite == "qemu" {
        return qemu::run(rest);
    }
    Err(format!(
        "bench: unknown suite `{suite}` (suites: {})",
        SUITES.join(", ")
    ))
}
