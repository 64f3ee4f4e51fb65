//! `cargo xtask fuzz mount [iterations] [seed]`: mounts mutated store images and exercises every
//! read and write path (`storage-backend/examples/fuzz_mount.rs`). Runs in the dev profile so
//! arithmetic overflow panics too; a failure prints the arguments that replay it.

use std::process::ExitCode;

/// Runs the named fuzz target.
pub fn fuzz(args: &[String]) -> Result<ExitCode, String> {
    match args.split_first() {
        Some((target, rest)) if target == "mount" => {
            let mut cargo_args = vec![
                "run",
                "-p",
                "storage-backend",
                "--example",
                "fuzz_mount",
                "--",
            ];
            cargo_args.extend(rest.iter().map(String::as_str));
            crate::cmd::cargo("fuzz mount", &cargo_args)?;
            Ok(ExitCode::SUCCESS)
        }
        Some((target, _)) => Err(format!("fuzz: unknown target `{target}` (targets: mount)")),
        None => Err("fuzz: name a target: mount".to_string()),
    }
}
