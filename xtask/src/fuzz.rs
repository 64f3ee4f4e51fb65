//! `cargo xtask fuzz`: the libFuzzer targets of `tests/fuzz` through cargo-fuzz.
//!
//! ```text
//! cargo xtask fuzz <decode|dispatch|mount|all> [--runs N] [--time SECONDS] [--jobs N] [--seed N] [--update-corpus] [--record]
//! cargo xtask fuzz <target> --replay FILE
//! ```
//!
//! Each job starts from the committed corpus (`tests/fuzz/corpus/<target>`, read only) and
//! writes what it finds to a working corpus under the target directory; crashes land in
//! `tests/fuzz/artifacts/<target>/` and replay with `--replay`. `--update-corpus` merges what
//! the run found into the committed corpus (libFuzzer's `-merge=1`: the smallest set of inputs
//! with the same coverage). `--record` appends the campaign's figures to `tests/fuzz/RUNS.md`. The summary line
//! `fuzz.<target>: <n> executions in <s> s, no crash` adds up every job's own count (libFuzzer's
//! `Done <n> runs` line), so the figure quoted in the README is the one measured.
//!
//! Builds use the pinned stable toolchain with `RUSTC_BOOTSTRAP=1` (cargo-fuzz passes flags that
//! are unstable on paper; no nightly toolchain can be installed here) and `--sanitizer none`:
//! the fuzzed crates have no `unsafe` code, so AddressSanitizer would find nothing safe Rust can
//! get wrong while running ten times slower. Panics, arithmetic overflow (debug assertions are
//! on), hangs and runaway memory are what the targets look for.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use xtask::paths::{target_dir, workspace_root};

use crate::cmd::{cargo_command, status};

/// The targets, each with the runs of the short pass `cargo xtask test` makes (a few seconds
/// each on top of replaying the committed corpus).
pub const TARGETS: &[(&str, u64)] = &[("decode", 200_000), ("dispatch", 3_000), ("mount", 3_000)];

/// The cargo-fuzz release xtask installs when `cargo fuzz` is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

struct Options {
    runs: Option<u64>,
    time: Option<u64>,
    jobs: u32,
    replay: Option<PathBuf>,
    update_corpus: bool,
    record: bool,
    /// libFuzzer's seed of job 0 (job `j` gets `seed + j`). Fixed for the short pass, so a
    /// failure there reproduces; a campaign passes its own (`--seed`), or it would replay the
    /// mutation sequence of the one before on much the same corpus.
    seed: u64,
}

/// `cargo xtask fuzz ...`.
pub fn fuzz(args: &[String]) -> Result<ExitCode, String> {
    let usage = "fuzz: usage: cargo xtask fuzz <decode|dispatch|mount|all> [--runs N] \
                 [--time SECONDS] [--jobs N] [--seed N] [--update-corpus] [--record] | <target> --replay FILE";
    let Some((target, rest)) = args.split_first() else {
        return Err(usage.to_string());
    };
    let mut opts = Options {
        runs: None,
        time: None,
        jobs: 1,
        replay: None,
        update_corpus: false,
        record: false,
        seed: 1,
    };
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("fuzz: {name} needs a value"))
                .cloned()
        };
        let number = |s: String| {
            s.parse::<u64>()
                .map_err(|_| format!("fuzz: `{s}` is not a number"))
        };
        match arg.as_str() {
            "--runs" => opts.runs = Some(number(value("--runs")?)?),
            "--time" => opts.time = Some(number(value("--time")?)?),
            "--jobs" => opts.jobs = number(value("--jobs")?)?.clamp(1, 64) as u32,
            "--seed" => opts.seed = number(value("--seed")?)?.clamp(1, u64::from(u32::MAX) - 64),
            "--replay" => opts.replay = Some(PathBuf::from(value("--replay")?)),
            "--update-corpus" => opts.update_corpus = true,
            "--record" => opts.record = true,
            other => return Err(format!("fuzz: unknown option `{other}`\n{usage}")),
        }
    }
    let targets: Vec<&str> = match target.as_str() {
        "all" => TARGETS.iter().map(|(t, _)| *t).collect(),
        t if TARGETS.iter().any(|(n, _)| *n == t) => vec![t],
        t => return Err(format!("fuzz: unknown target `{t}`\n{usage}")),
    };
    if opts.runs.is_none() && opts.time.is_none() && opts.replay.is_none() {
        opts.time = Some(60);
    }
    for t in targets {
        run(t, &opts)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The short pass of `cargo xtask test`: the committed corpus and a few thousand new inputs per
/// target.
pub fn short_pass() -> Result<(), String> {
    for (target, runs) in TARGETS {
        let opts = Options {
            runs: Some(*runs),
            time: None,
            jobs: 1,
            replay: None,
            update_corpus: false,
            record: false,
            seed: 1,
        };
        run(target, &opts)?;
    }
    Ok(())
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("tests").join("fuzz")
}

/// `cargo fuzz` with the options every invocation shares.
fn cargo_fuzz(subcommand: &str, target: &str) -> Command {
    let fuzz_target_dir = target_dir().join("fuzz");
    let mut c = cargo_command(&["fuzz", subcommand, "--sanitizer", "none", "--fuzz-dir"]);
    c.arg(fuzz_dir())
        .arg("--target-dir")
        .arg(fuzz_target_dir)
        .arg(target)
        .env("RUSTC_BOOTSTRAP", "1");
    c
}

/// Installs cargo-fuzz when `cargo fuzz` is missing.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = cargo_command(&["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    status(
        &format!("installing cargo-fuzz {CARGO_FUZZ_VERSION} (cargo install)"),
        &mut cargo_command(&[
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ]),
    )
}

fn run(target: &str, opts: &Options) -> Result<(), String> {
    ensure_cargo_fuzz()?;
    status(
        &format!("building fuzz target {target}"),
        &mut cargo_fuzz("build", target),
    )?;
    if let Some(file) = &opts.replay {
        let mut c = cargo_fuzz("run", target);
        c.arg(file);
        return status(&format!("replaying {} on {target}", file.display()), &mut c);
    }
    let corpus = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("fuzz: {}: {e}", corpus.display()))?;
    let work = target_dir().join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&work).map_err(|e| format!("fuzz: {}: {e}", work.display()))?;
    let artifacts = fuzz_dir().join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts)
        .map_err(|e| format!("fuzz: {}: {e}", artifacts.display()))?;
    // The commit fuzzed: the one checked out when the targets were built.
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let start = Instant::now();
    let mut children = Vec::new();
    for job in 0..opts.jobs {
        let log = work.join(format!("job-{job}.log"));
        let file =
            std::fs::File::create(&log).map_err(|e| format!("fuzz: {}: {e}", log.display()))?;
        let mut c = cargo_fuzz("run", target);
        c.arg(&work).arg(&corpus).arg("--");
        c.arg(format!("-seed={}", opts.seed + u64::from(job)));
        c.arg(format!(
            "-artifact_prefix={}/",
            artifacts.to_string_lossy().trim_end_matches('/')
        ));
        if let Some(runs) = opts.runs {
            c.arg(format!("-runs={runs}"));
        }
        if let Some(time) = opts.time {
            c.arg(format!("-max_total_time={time}"));
        }
        c.stdout(Stdio::null()).stderr(file);
        let child = c
            .spawn()
            .map_err(|e| format!("fuzz: could not start cargo fuzz: {e}"))?;
        children.push((child, log));
    }
    eprintln!(
        "xtask: fuzzing {target} with {} job(s) (logs: {})",
        opts.jobs,
        work.display()
    );
    let mut total = 0u64;
    let mut failed = Vec::new();
    for (mut child, log) in children {
        let ok = child.wait().is_ok_and(|s| s.success());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        match executions(&text) {
            Some(n) if ok => total += n,
            _ => failed.push(log),
        }
    }
    if let Some(log) = failed.first() {
        return Err(format!(
            "fuzz {target}: a job failed; its log ends with:\n{}\n(full log: {}; the input is in {})",
            tail(log),
            log.display(),
            artifacts.display()
        ));
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("fuzz.{target}: {total} executions in {seconds:.0} s, no crash");
    if opts.record {
        record(target, &commit, total, seconds, opts.jobs)?;
    }
    if opts.update_corpus {
        // libFuzzer's merge keeps the smallest set of inputs that covers everything both hold.
        let mut c = cargo_fuzz("run", target);
        c.arg(&corpus).arg(&work).args(["--", "-merge=1"]);
        status(
            &format!("merging new coverage into {}", corpus.display()),
            &mut c,
        )?;
    }
    Ok(())
}

/// Appends a campaign's figures to `tests/fuzz/RUNS.md` (the record the README sums up).
fn record(
    target: &str,
    commit: &str,
    executions: u64,
    seconds: f64,
    jobs: u32,
) -> Result<(), String> {
    use std::io::Write;
    let path = workspace_root().join("tests/fuzz/RUNS.md");
    let day = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| format!("fuzz: {}: {e}", path.display()))?;
    writeln!(
        f,
        "| {day} | {commit} | {target} | {executions} | {seconds:.0} | {jobs} |"
    )
    .map_err(|e| format!("fuzz: {}: {e}", path.display()))
}

/// libFuzzer's count of executions from its `Done <n> runs in <s> second(s)` line.
fn executions(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| {
        line.strip_prefix("Done ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::executions;

    #[test]
    fn reads_libfuzzers_count() {
        let log = "#1024 pulse\nDone 1055251 runs in 21 second(s)\n";
        assert_eq!(executions(log), Some(1_055_251));
        assert_eq!(executions("==1== ERROR: libFuzzer: deadly signal"), None);
    }
}
