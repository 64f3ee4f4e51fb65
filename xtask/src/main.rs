//! `cargo xtask`: build, boot, test and measure Zero OS.
//!
//! ```text
//! cargo xtask run [--system FILE] [--no-crypto-device] [--no-rng-device] [--icount] [--gdb] [--plain-log]
//!                                                           build and boot in QEMU
//! cargo xtask test [--exhaustive]                           every test, lint and target build
//! cargo xtask bench <suite>                                 measurements, written to docs/benchmarks
//! cargo xtask fuzz <decode|dispatch|mount|all> [--runs N] [--time S] [--jobs N]   libFuzzer targets
//! ```

#![forbid(unsafe_code)]

use std::process::ExitCode;

mod bench;
mod cmd;
mod defmt_log;
mod fuzz;
mod image;
mod run;
mod test;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run [--system FILE] [--no-crypto-device] [--no-rng-device] [--icount] [--gdb] [--plain-log]
        build the kernel image and boot it in QEMU (riscv64 virt); exits with the guest's status.
        --system boots another system file (e.g. qemu/conformance.toml) on a new blank disk
        Kernel and task log records are defmt frames decoded here (stderr); --plain-log has the
        kernel print them as text on the console instead
  test [--exhaustive]
        formatting, clippy (host and targets), host tests, no_std builds for every board target,
        and the QEMU system tests; --exhaustive runs every power-loss cut point
  bench <suite>
        run a benchmark suite and write its results under docs/benchmarks/
  fuzz <decode|dispatch|mount|all> [--runs N] [--time SECONDS] [--jobs N] [--update-corpus] [--record]
       | <target> --replay FILE
        libFuzzer (cargo-fuzz, installed when missing) on the message decoder, the server's
        dispatch and mounts of patched images; 60 s per target unless --runs/--time say otherwise
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "run" => run::run(rest),
        "test" => test::test(rest),
        "bench" => bench::bench(rest),
        "fuzz" => fuzz::fuzz(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
