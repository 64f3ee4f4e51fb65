//! Running cargo and other programs with their output passed through.

use std::process::Command;

use xtask::paths::workspace_root;

/// Runs `cargo` with `args` in the workspace root; an error names the failed step.
pub fn cargo(step: &str, args: &[&str]) -> Result<(), String> {
    status(step, &mut cargo_command(args))
}

/// A `cargo` command with `args`, in the workspace root, not yet started.
pub fn cargo_command(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(workspace_root());
    command
}

/// Runs a prepared command; an error names the failed step.
pub fn status(step: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: {step}");
    match command.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{step} failed ({s})")),
        Err(e) => Err(format!(
            "{step}: could not start {:?}: {e}",
            command.get_program()
        )),
    }
}
