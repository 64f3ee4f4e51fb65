//! `cargo xtask bench ipc`: IPC cost of the QEMU kernel in guest instructions.
//!
//! Boots the system of `qemu/bench.toml` under `-icount shift=0`, where the `bench` task counts
//! instructions with `rdinstret` around each call (64-byte and 4096-byte round trips, a null
//! syscall, and a yield-to-yield context switch), 10,000 samples per figure. Prints the
//! `ipc.<figure>: <value> <unit>` lines and writes them, with seL4's published RV64 fastpath
//! figures for comparison, to `docs/benchmarks/ipc.md`. Fails when a figure is missing from the
//! run (never reports 0 for it). `--profile` loads `qemu/profile-plugin` for the whole run and
//! writes where its instructions went to `docs/benchmarks/ipc-profile.md`.

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use xtask::machine::Machine;
use xtask::paths::{state_dir, workspace_root};
use xtask::provision;

use crate::image::build_kernel_for;

/// seL4's RV64 fastpath on the SiFive U540 (cycles), from seL4's published benchmarks.
const SEL4_CALL: u64 = 694;
const SEL4_REPLY: u64 = 740;
/// The target of issue 12 for a 64-byte round trip (seL4's RISC-V fastpath is about 1,434
/// cycles; ours are instructions).
const TARGET_RT64: u64 = 1_500;
/// The figures the bench task must report: a run without one of them is a failure.
const REQUIRED: &[&str] = &[
    "ipc.null_syscall.mean",
    "ipc.rt64.mean",
    "ipc.rt4096.mean",
    "ipc.yield_switch.mean",
];

/// Runs the suite.
pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut with_profile = false;
    for arg in args {
        match arg.as_str() {
            "--profile" => with_profile = true,
            _ => return Err(format!("bench ipc: unknown option `{arg}`")),
        }
    }
    let system = workspace_root().join("qemu").join("bench.toml");
    let kernel = build_kernel_for(&system)?;
    provision::ensure_qemu().map_err(|e| e.to_string())?;
    let dir = state_dir().join("bench");
    let mut machine = Machine::new(kernel.clone(), &dir).map_err(|e| format!("images: {e}"))?;
    machine.icount = true;
    let mut cmd = machine.command();
    let out = dir.join("profile.txt");
    if with_profile {
        let plugin = super::profile::build_plugin()?;
        cmd.arg("-plugin")
            .arg(format!("{},out={},all=on", plugin.display(), out.display()));
    }
    let console = boot_command(cmd, Duration::from_secs(300))?;
    let figures: Vec<(String, u64, String)> = console
        .lines()
        .filter_map(|line| {
            let at = line.find("ipc.")?;
            let (name, rest) = line[at..].split_once(':')?;
            let mut words = rest.split_whitespace();
            let value = words.next()?.parse().ok()?;
            Some((
                name.to_string(),
                value,
                words.next().unwrap_or("").to_string(),
            ))
        })
        .collect();
    if figures.is_empty() || !console.contains("bench done") {
        return Err(format!(
            "the benchmark did not complete; console:\n{console}"
        ));
    }
    for (name, value, unit) in &figures {
        println!("{name}: {value} {unit}");
    }
    let missing = missing_figures(&figures);
    if !missing.is_empty() {
        return Err(format!(
            "bench ipc: the run did not report {}; console:\n{console}",
            missing.join(", ")
        ));
    }
    let rt64 = figures
        .iter()
        .find(|f| f.0 == "ipc.rt64.mean")
        .map(|f| f.1)
        .ok_or("bench ipc: no ipc.rt64.mean")?;
    write_report(&figures, rt64)?;
    if with_profile {
        let regions = [super::profile::Region {
            id: 1,
            name: "the whole IPC benchmark run".into(),
            operations: 1,
            bytes: 0,
        }];
        super::profile::report(
            &out,
            &system,
            &kernel,
            &regions,
            "ipc-profile.md",
            PROFILE_INTRO,
        )?;
    }
    if rt64 > TARGET_RT64 {
        eprintln!("xtask: 64-byte round trip {rt64} > target {TARGET_RT64} instructions");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the IPC profile page says about its method.
const PROFILE_INTRO: &str = "Written by `cargo xtask bench ipc --profile`: the IPC benchmark \
    (`qemu/bench.toml`) with `qemu/profile-plugin` loaded into QEMU, counting every guest \
    instruction of the whole run (boot included, which is small beside the 40,000 measured \
    calls and their 400 warm-ups: 64-byte and 4 KiB round trips, null syscalls, yields). xtask \
    attributes each translation block to the ELF whose code bytes it matches (kernel, ping and \
    pong tasks, bench task; every task is linked at the same address) and to the symbol that \
    contains it. Instructions outside every ELF are OpenSBI's (M-mode).";

/// The required figures the run did not report.
fn missing_figures(figures: &[(String, u64, String)]) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .copied()
        .filter(|r| !figures.iter().any(|f| f.0 == *r))
        .collect()
}

/// Starts a prepared QEMU command, returns its console once QEMU exits.
pub(super) fn boot_command(mut cmd: Command, deadline: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start QEMU: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the benchmark timed out".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = reader.join().unwrap_or_default();
    Ok(String::from_utf8_lossy(&out).replace('\r', ""))
}

fn write_report(figures: &[(String, u64, String)], rt64: u64) -> Result<(), String> {
    let mut md = String::from(
        "# IPC benchmark (QEMU kernel)\n\n\
         Written by `cargo xtask bench ipc`. QEMU riscv64 `virt` under `-icount shift=0`; the \
         `bench` task counts retired instructions (`rdinstret`, every privilege mode: task, \
         kernel, and OpenSBI when a timer tick passes) around each operation, 10,000 samples \
         per figure after 100 warm-up calls. Server and client are separate tasks in separate \
         Sv39 address spaces; a round trip is `call` (client) + `receive` return and `reply` + \
         next `receive` (server), payload copied by the kernel both ways.\n\n\
         | figure | value | unit |\n| --- | ---: | --- |\n",
    );
    for (name, value, unit) in figures {
        md.push_str(&format!("| `{name}` | {value} | {unit} |\n"));
    }
    let sel4 = SEL4_CALL + SEL4_REPLY;
    md.push_str(&format!(
        "\n## Comparison\n\n\
         | | 64-byte round trip |\n| --- | ---: |\n\
         | this kernel (guest instructions) | {rt64} |\n\
         | target of issue 12 | ≤ {TARGET_RT64} |\n\
         | seL4 RV64 fastpath, SiFive U540 (cycles: call {SEL4_CALL} + reply {SEL4_REPLY}) | {sel4} |\n\n\
         Ratio to seL4: {:.2}×. The units differ: seL4's figure is cycles on an in-order \
         core with register-only fastpath messages; ours is instructions under emulation, \
         with the payload copied through the kernel. Treat the ratio as an order of magnitude, \
         not a precise comparison.\n",
        rt64 as f64 / sel4 as f64
    ));
    let dir = workspace_root().join("docs").join("benchmarks");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("ipc.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_missing_a_figure_names_it() {
        let fig = |n: &str| (n.to_string(), 1, "instructions".to_string());
        let all: Vec<_> = REQUIRED.iter().map(|n| fig(n)).collect();
        assert!(missing_figures(&all).is_empty());
        let some: Vec<_> = all
            .iter()
            .filter(|f| f.0 != "ipc.rt4096.mean")
            .cloned()
            .collect();
        assert_eq!(missing_figures(&some), vec!["ipc.rt4096.mean"]);
    }
}
