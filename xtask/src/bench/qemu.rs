//! `cargo xtask bench qemu`: the VFS in QEMU, measured in guest instructions through the full
//! IPC path (client task → kernel → VFS task → store → virtio-blk / virtio-crypto and back).
//!
//! Boots the system of `qemu/bench-vfs.toml` (init, the product's VFS task, and the
//! `vfs-bench` client of `tasks/vfs-bench`) twice under `-icount shift=0`, each time on a
//! fresh disk with a fresh master key: with the virtio-crypto device (the VFS's hardware
//! engine) and without it (its software fallback). Checks from the VFS's boot log which engine
//! served each run, prints `qemu.<figure>.<median|p99>.<hw|sw>: <value> <unit>` lines, writes
//! all of `docs/benchmarks/qemu.md` from the run, and fails when a hardware-engine median
//! misses the target of issue 12 ([`TARGETS`]). `--profile` also loads the instruction-counting
//! plugin (`qemu/profile-plugin`) into the hardware run and writes the per-function profile of
//! each figure to `docs/benchmarks/qemu-profile.md` (see [`super::profile`]).

use std::process::{Command, ExitCode};
use std::time::Duration;

use xtask::machine::{DISK_BYTES, Machine};
use xtask::paths::{state_dir, workspace_root};
use xtask::provision;

use super::ipc::boot_command;
use super::profile;
use crate::image::build_kernel_for;

/// The targets of issue 12 for the rv64gc + virtio-crypto machine (hardware engine), on the
/// median: figure, most instructions per operation (per byte for the streams).
pub(super) const TARGETS: &[(&str, f64)] = &[
    ("stat", 10_000.0),
    ("read4k", 40_000.0),
    ("read4k_cold", 400_000.0),
    ("write4k", 800_000.0),
    ("mkdir", 300_000.0),
    ("stream_write", 200.0),
    ("stream_read", 120.0),
];

/// One run may take this long (formatting the new disk and every figure, under `-icount`).
const DEADLINE: Duration = Duration::from_secs(900);

/// One figure as the bench task reports it: instructions per operation.
#[derive(Clone, Debug)]
struct Figure {
    name: String,
    /// Bytes per operation (the per-byte figures divide by this).
    bytes: u64,
    mean: u64,
    median: u64,
    p99: u64,
    min: u64,
    max: u64,
    samples: u64,
    /// The profile region the bench task marked this figure's calls with.
    region: u64,
}

impl Figure {
    /// Streamed figures are per byte; the others per operation.
    fn per_byte(&self) -> bool {
        self.name.starts_with("stream_")
    }

    /// `value` in the figure's unit.
    fn per_unit(&self, value: u64) -> f64 {
        if self.per_byte() {
            value as f64 / self.bytes.max(1) as f64
        } else {
            value as f64
        }
    }

    /// `value` in the figure's unit, formatted.
    fn show(&self, value: u64) -> String {
        if self.per_byte() {
            format!("{:.1}", value as f64 / self.bytes.max(1) as f64)
        } else {
            value.to_string()
        }
    }

    fn unit(&self) -> &'static str {
        if self.per_byte() {
            "instructions/byte"
        } else {
            "instructions"
        }
    }
}

/// One engine's run.
struct Run {
    /// `hw` or `sw`.
    engine: &'static str,
    figures: Vec<Figure>,
}

/// Runs the suite.
pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut with_profile = false;
    for arg in args {
        match arg.as_str() {
            "--profile" => with_profile = true,
            _ => return Err(format!("bench qemu: unknown option `{arg}`")),
        }
    }
    let system = workspace_root().join("qemu").join("bench-vfs.toml");
    let kernel = build_kernel_for(&system)?;
    provision::ensure_qemu().map_err(|e| e.to_string())?;
    let plugin = if with_profile {
        Some(profile::build_plugin()?)
    } else {
        None
    };
    let mut runs = Vec::new();
    let mut profiled = None;
    for (engine, crypto_device) in [("hw", true), ("sw", false)] {
        let dir = state_dir().join(format!("bench-qemu-{engine}"));
        // A fresh disk and key each time: the VFS formats it, so every run measures the same
        // store state rather than what earlier runs left behind.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut machine = Machine::new(kernel.clone(), &dir).map_err(|e| format!("images: {e}"))?;
        machine.icount = true;
        machine.crypto_device = crypto_device;
        eprintln!("xtask: bench qemu: {engine} engine run (this takes a few minutes)");
        let mut cmd = machine.command();
        let out = dir.join("profile.txt");
        if let (Some(plugin), "hw") = (&plugin, engine) {
            cmd.arg("-plugin")
                .arg(format!("{},out={}", plugin.display(), out.display()));
        }
        let console = boot_command(cmd, DEADLINE)?;
        let figures = parse(&console, engine)?;
        for f in &figures {
            println!(
                "qemu.{}.median.{engine}: {} {}",
                f.name,
                f.show(f.median),
                f.unit()
            );
            println!(
                "qemu.{}.p99.{engine}: {} {}",
                f.name,
                f.show(f.p99),
                f.unit()
            );
        }
        if plugin.is_some() && engine == "hw" {
            profiled = Some((out, figures.clone()));
        }
        runs.push(Run { engine, figures });
    }
    let missed = missed_targets(&runs);
    write_report(&runs, &missed)?;
    if let Some((out, figures)) = profiled {
        let regions: Vec<profile::Region> = figures
            .iter()
            .map(|f| profile::Region {
                id: f.region,
                name: format!("`{}`", f.name),
                operations: f.samples,
                bytes: if f.per_byte() { f.bytes * f.samples } else { 0 },
            })
            .collect();
        profile::report(
            &out,
            &system,
            &kernel,
            &regions,
            "qemu-profile.md",
            PROFILE_INTRO,
        )?;
    }
    if missed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for m in &missed {
        eprintln!("xtask: bench qemu: target missed: {m}");
    }
    Ok(ExitCode::FAILURE)
}

/// What the profile page says about its method.
const PROFILE_INTRO: &str = "Written by `cargo xtask bench qemu --profile`: the hardware-engine run \
    of `cargo xtask bench qemu` with `qemu/profile-plugin` loaded into QEMU. The bench task marks \
    the measured calls of each figure (a HINT instruction before and after each counted call); \
    the plugin counts the guest instructions of every translation block executed between the \
    marks, and xtask attributes each block to the ELF whose code bytes it matches (kernel, VFS \
    task, bench task; every task is linked at the same address) and to the symbol that contains \
    it. With link-time optimisation, inlined code counts under the function it was inlined \
    into. Instructions outside every ELF are OpenSBI's (M-mode: the timer, the console).";

/// The targets the hardware run's medians miss, as sentences.
fn missed_targets(runs: &[Run]) -> Vec<String> {
    let Some(hw) = runs.iter().find(|r| r.engine == "hw") else {
        return vec!["no hardware-engine run".into()];
    };
    let mut missed = Vec::new();
    for (name, target) in TARGETS {
        match hw.figures.iter().find(|f| f.name == *name) {
            None => missed.push(format!("qemu.{name}: not measured")),
            Some(f) => {
                let v = f.per_unit(f.median);
                if v > *target {
                    missed.push(format!(
                        "qemu.{name}.median.hw {} > target {target} {}",
                        f.show(f.median),
                        f.unit()
                    ));
                }
            }
        }
    }
    missed
}

/// The figures of one run's console, after checking that the run completed on the engine it
/// was meant to use.
fn parse(console: &str, engine: &str) -> Result<Vec<Figure>, String> {
    if let Some(line) = console.lines().find(|l| l.contains("vfs-bench failed")) {
        return Err(format!(
            "the {engine} run failed: {line}\nconsole:\n{console}"
        ));
    }
    if !console.contains("vfs-bench done") {
        return Err(format!(
            "the {engine} run did not complete (no `vfs-bench done`); console:\n{console}"
        ));
    }
    let want = if engine == "hw" {
        "crypto engine hardware"
    } else {
        "crypto engine software"
    };
    if !console.contains(want) {
        return Err(format!(
            "the {engine} run was not served by the expected engine (no `{want}` in the VFS's \
             boot log); console:\n{console}"
        ));
    }
    let figures: Vec<Figure> = console.lines().filter_map(parse_line).collect();
    if figures.is_empty() {
        return Err(format!(
            "the {engine} run reported no figures; console:\n{console}"
        ));
    }
    Ok(figures)
}

/// `... vfs-bench figure <name> bytes=.. mean=.. median=.. p99=.. min=.. max=.. samples=..
/// region=..`.
fn parse_line(line: &str) -> Option<Figure> {
    let at = line.find("vfs-bench figure ")?;
    let mut words = line[at + "vfs-bench figure ".len()..].split_whitespace();
    let name = words.next()?.to_string();
    let mut field = |key: &str| -> Option<u64> {
        let word = words.next()?;
        word.strip_prefix(key)?.strip_prefix('=')?.parse().ok()
    };
    Some(Figure {
        name,
        bytes: field("bytes")?,
        mean: field("mean")?,
        median: field("median")?,
        p99: field("p99")?,
        min: field("min")?,
        max: field("max")?,
        samples: field("samples")?,
        region: field("region")?,
    })
}

/// The QEMU version line, for the report.
fn qemu_version() -> String {
    Command::new("qemu-system-riscv64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// What each figure is, for the report.
fn describe(name: &str) -> &'static str {
    match name {
        "stat" => "`Client::stat` of a 4 KiB file: one Stat message",
        "read4k" => {
            "`Client::read_file` of a 4,096-byte file, read again and again: its records come \
             from the store's value cache (warm)"
        }
        "read4k_cold" => {
            "`Client::read_file` of a 4,096-byte file out of a cycle of 96 such files (384 KiB, \
             twice the VFS store's 192 KiB value cache): none of the file's records are cached, \
             they come from virtio-blk and are decrypted and authenticated (the directory's \
             records, shared by the cycle, may be)"
        }
        "write4k" => "`Client::write_file` of 4,096 bytes over an existing file",
        "read_msg" => "for comparison: one Read message of a 3,968-byte file (`read_at`)",
        "write_msg" => "for comparison: one Write message replacing a 3,968-byte file",
        "mkdir" => {
            "`Client::mkdir` of a new directory, all in one parent (which holds 10 to 209 entries \
             before a measured call)"
        }
        "stream_write" => {
            "1 MiB through a handle: Open, HandleWrites of ≤ 3,968 bytes, Close; per byte"
        }
        "stream_read" => {
            "the same 1 MiB back through a handle: Open, HandleReads of 3,968 bytes to the end, \
             Close; per byte"
        }
        _ => "",
    }
}

/// The target of `name` (hardware engine, median), if issue 12 sets one.
fn target(name: &str) -> Option<f64> {
    TARGETS.iter().find(|t| t.0 == name).map(|t| t.1)
}

fn write_report(runs: &[Run], missed: &[String]) -> Result<(), String> {
    let (Some(hw), Some(sw)) = (
        runs.iter().find(|r| r.engine == "hw"),
        runs.iter().find(|r| r.engine == "sw"),
    ) else {
        return Err("bench qemu: a run is missing".into());
    };
    let samples = |name: &str| {
        hw.figures
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.samples)
    };
    let mut md = format!(
        "# VFS benchmark in QEMU\n\n\
         Written, all of it, by `cargo xtask bench qemu` from its last run; nothing on this \
         page is edited by hand. {qemu}, riscv64 `virt`, one hart, `-icount shift=0`. The \
         system is `qemu/bench-vfs.toml`: init, the product's VFS task (same settings as \
         `qemu/system.toml`) and the `vfs-bench` client task (`tasks/vfs-bench`). Each engine \
         boots on a fresh {disk} MiB disk with a new master key, which the VFS formats; **hw** \
         runs with the virtio-crypto device (`cryptodev-backend-builtin`: AES-CTR on the \
         device, GHASH and SHA-256 in the task), **sw** without it (the VFS's software \
         fallback, `aes-gcm`); xtask checks the VFS's boot log for the engine it used.\n\n\
         The client counts retired instructions (`rdinstret`) around each client call. Under \
         `-icount` that is exact and covers every mode: the client library (encoding, \
         allocation, decoding), the kernel's IPC both ways, the VFS task (dispatch, permission \
         checks, store, crypto, the virtio drivers) and OpenSBI when a timer tick passes. These \
         are instructions, not cycles: a real core's caches, pipeline and memory latency are \
         not modelled. Small operations: {small} samples (stat {stat}) after 10 unmeasured \
         calls; streams: {stream} samples of 1 MiB after one unmeasured pass, each with new \
         pseudo-random content. A read's comparison with the bytes written happens outside \
         the counted window.\n\n\
         ## Figures\n\n\
         Instructions per operation (per byte for the streams). The median is the typical \
         cost, p99 the 99th percentile (nearest rank). Targets are issue 12's for this machine \
         (rv64gc + virtio-crypto, hardware engine, median); the software engine has none.\n\n\
         | figure | hw median | hw p99 | hw min | hw mean | target (hw median) | met | sw median | sw p99 | sw mean | unit |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |\n",
        qemu = qemu_version(),
        disk = DISK_BYTES >> 20,
        small = samples("read4k"),
        stat = samples("stat"),
        stream = samples("stream_write"),
    );
    for h in &hw.figures {
        let s = sw.figures.iter().find(|f| f.name == h.name);
        let sw_cell = |v: fn(&Figure) -> u64| s.map_or("-".to_string(), |s| s.show(v(s)));
        let (goal, met) = match target(&h.name) {
            Some(t) => (
                format!("≤ {t}"),
                if h.per_unit(h.median) <= t {
                    "yes"
                } else {
                    "**no**"
                },
            ),
            None => ("-".to_string(), "-"),
        };
        md.push_str(&format!(
            "| `qemu.{}` | {} | {} | {} | {} | {goal} | {met} | {} | {} | {} | {} |\n",
            h.name,
            h.show(h.median),
            h.show(h.p99),
            h.show(h.min),
            h.show(h.mean),
            sw_cell(|f| f.median),
            sw_cell(|f| f.p99),
            sw_cell(|f| f.mean),
            h.unit(),
        ));
    }
    if missed.is_empty() {
        md.push_str("\nEvery target is met.\n");
    } else {
        md.push_str(
            "\nTargets missed (so `cargo xtask bench qemu` exits with failure until they are \
             met):\n\n",
        );
        for m in missed {
            md.push_str(&format!("- {m}\n"));
        }
    }
    md.push_str("\n| figure | what one operation is |\n| --- | --- |\n");
    for h in &hw.figures {
        md.push_str(&format!("| `{}` | {} |\n", h.name, describe(&h.name)));
    }
    md.push_str("\nLargest sample of each figure (same units): ");
    let maxes: Vec<String> = hw
        .figures
        .iter()
        .map(|h| {
            let s = sw.figures.iter().find(|f| f.name == h.name);
            format!(
                "`{}` hw {}{}",
                h.name,
                h.show(h.max),
                s.map(|s| format!(", sw {}", s.show(s.max)))
                    .unwrap_or_default()
            )
        })
        .collect();
    md.push_str(&maxes.join("; "));
    md.push_str(".\n");
    md.push_str(NOTES);
    let dir = workspace_root().join("docs").join("benchmarks");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("qemu.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// What the figures include and exclude, and how to reproduce them. No figure appears here:
/// every number on the page comes from the run that wrote it.
const NOTES: &str = "
## What the figures include and exclude

- **Included:** everything the guest executes between the client's call and its return, in
  every task and mode. The VFS serves one request at a time and the client is the only other
  runnable task, so no unrelated work lands inside a sample except the handling of the 10 ms
  timer tick (once per 10 M instructions under `shift=0`).
- **Excluded:** the work QEMU does for the devices (the disk file, the builtin backend's AES):
  it is host time, not guest instructions. Under `-icount`, instructions are the only clock:
  these are not cycles, and a real core's caches and pipeline, or a real disk's latency, are not
  modelled. seL4's published figures, which the IPC page quotes, are cycles on real hardware.
- `read4k` and `stat` are warm: unmeasured calls first, and the store's cache of authenticated
  values serves the repeated file without a device read or decryption, which is why hw and sw
  agree on them. `read4k_cold` is the same call on files the cache no longer holds. The disk is
  freshly formatted.

## Device waiting

The VFS's drivers wait for each virtio request on the device's interrupt: they notify the
device, block in `WaitNotification` (the kernel idles in `wfi`, which retires nothing, while
QEMU completes the request on the host) and, once notified, acknowledge the interrupt at the
device and in the kernel (`IrqAck`). Host latency therefore does not turn into guest
instructions; what each request costs instead is a fixed path: two syscalls, the external
interrupt's trap, claim and task switch, and re-arming the timer for the wait's 50 ms timeout
(`drivers/virtio/DESIGN.md`). Writes spread more than reads: that is the store's work, which
differs between samples (commits that rewrite more metadata, reclaiming erase units).

## Reproduce

```
cargo xtask bench qemu             # add --profile for docs/benchmarks/qemu-profile.md
```

prints `qemu.<figure>.<median|p99>.<hw|sw>: <value> <unit>` for every figure and rewrites this
file. It fails when a run does not finish, reports an error, or is served by the other engine,
and when a hardware-engine median misses its target.
";

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "[INFO  vfs] vfs: crypto engine software: self-test 4 passed, 0 failed\n\
        [INFO  vfs-bench] vfs-bench figure stat bytes=0 mean=12 median=11 p99=19 min=10 max=20 samples=5 region=1\n\
        [INFO  vfs-bench] vfs-bench figure stream_read bytes=4 mean=10 median=8 p99=12 min=8 max=12 samples=2 region=7\n\
        [INFO  vfs-bench] vfs-bench done\n";

    #[test]
    fn figures_are_parsed_and_streams_are_per_byte() {
        let figures = parse(CONSOLE, "sw").unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].name, "stat");
        assert_eq!((figures[0].mean, figures[0].samples), (12, 5));
        assert_eq!((figures[0].p99, figures[0].region), (19, 1));
        assert_eq!(figures[0].show(figures[0].mean), "12");
        assert_eq!(figures[1].show(figures[1].mean), "2.5");
        assert_eq!(figures[1].unit(), "instructions/byte");
    }

    #[test]
    fn a_run_on_the_wrong_engine_or_unfinished_or_failed_is_an_error() {
        assert!(parse(CONSOLE, "hw").is_err());
        assert!(parse(&CONSOLE.replace("vfs-bench done", ""), "sw").is_err());
        let failed = format!("{CONSOLE}[ERROR vfs-bench] vfs-bench failed: stat: Ipc\n");
        assert!(parse(&failed, "sw").is_err());
    }

    #[test]
    fn a_median_over_its_target_or_a_figure_missing_is_a_missed_target() {
        let mut figures = parse(CONSOLE, "sw").unwrap();
        // Every target figure present and within its target: nothing missed.
        let fig = |name: &str, median: u64, bytes: u64| Figure {
            name: name.into(),
            bytes,
            mean: median,
            median,
            p99: median,
            min: median,
            max: median,
            samples: 1,
            region: 0,
        };
        figures.clear();
        for (name, t) in TARGETS {
            let bytes = if name.starts_with("stream_") { 1000 } else { 0 };
            let scale = if bytes > 0 { 1000.0 } else { 1.0 };
            figures.push(fig(name, (t * scale) as u64, bytes));
        }
        let runs = |figures: Vec<Figure>| {
            vec![Run {
                engine: "hw",
                figures,
            }]
        };
        assert!(missed_targets(&runs(figures.clone())).is_empty());
        // One instruction per byte over the stream target.
        let mut over = figures.clone();
        let at = over.iter().position(|f| f.name == "stream_read").unwrap();
        over[at].median += 1000;
        let missed = missed_targets(&runs(over));
        assert_eq!(missed.len(), 1);
        assert!(missed[0].contains("stream_read"), "{missed:?}");
        // A figure the run did not report.
        let mut short = figures;
        short.retain(|f| f.name != "read4k_cold");
        let missed = missed_targets(&runs(short));
        assert_eq!(missed, vec!["qemu.read4k_cold: not measured".to_string()]);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(parse_line("vfs-bench figure stat bytes=0 mean=x").is_none());
        assert!(parse_line("vfs-bench figure stat mean=1 bytes=0").is_none());
        assert!(
            parse_line("vfs-bench figure stat bytes=0 mean=1 median=1 min=1 max=1 samples=1")
                .is_none(),
            "a line without p99 and region is an older task's"
        );
    }
}
