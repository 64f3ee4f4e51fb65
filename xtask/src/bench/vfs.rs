//! `cargo xtask bench vfs`: the VFS service on the host backend (kernel-host), over
//! `storage-backend` on a RAM block device, driven through its client by a separate task, with
//! the host's own filesystem (`std::fs` in a temporary directory) as the peer on the same
//! workload. Runs `vfs-service`'s `bench` example in release mode, prints its
//! `vfs.<figure>: <value> <unit>` lines and writes them with the ratios to
//! `docs/benchmarks/vfs.md`. `--quick` shortens every measurement.

use std::process::{Command, ExitCode};

use xtask::paths::workspace_root;

/// Rename of a 10,000-entry directory must cost at most this many times a 1-entry one.
const RENAME_RATIO_LIMIT: f64 = 2.0;

/// Runs the suite.
pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "vfs-service",
        "--example",
        "bench",
        "--",
    ]);
    cmd.args(args);
    let out = cmd
        .output()
        .map_err(|e| format!("bench vfs: cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "bench vfs: the benchmark failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let figures: Vec<(String, f64, String)> = stdout
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let mut words = rest.split_whitespace();
            let value = words.next()?.parse().ok()?;
            Some((
                name.to_string(),
                value,
                words.next().unwrap_or("").to_string(),
            ))
        })
        .filter(|f| f.0.starts_with("vfs."))
        .collect();
    for (name, value, unit) in &figures {
        println!("{name}: {value:.1} {unit}");
    }
    write_report(&figures)?;
    let ratio = figures
        .iter()
        .find(|f| f.0 == "vfs.rename_dir_ratio_small_over_large")
        .map(|f| f.1);
    match ratio {
        Some(r) if (1.0 / RENAME_RATIO_LIMIT..=RENAME_RATIO_LIMIT).contains(&r) => {
            Ok(ExitCode::SUCCESS)
        }
        Some(r) => {
            eprintln!("xtask: rename of 10,000 entries vs 1 differs by {r:.2}x (limit 2x)");
            Ok(ExitCode::FAILURE)
        }
        None => Err("bench vfs: no rename figures".to_string()),
    }
}

fn write_report(figures: &[(String, f64, String)]) -> Result<(), String> {
    let mut md = String::from(
        "# VFS benchmark\n\nProduced by `cargo xtask bench vfs`: the VFS service on the \
         host backend (kernel-host; tasks as threads, every call a real IPC round trip), storing \
         into `storage-backend` (encrypted log-structured store) on a RAM block device, \
         driven through the client library. Peer: the host's filesystem through `std::fs` on \
         the same workload (no IPC, no encryption, page cache).\n\n\
         | figure | VFS | peer (std::fs) | VFS / peer |\n| --- | --- | --- | --- |\n",
    );
    for (name, value, unit) in figures {
        if name.starts_with("vfs.peer.") {
            continue;
        }
        let short = name.trim_start_matches("vfs.");
        let peer = figures
            .iter()
            .find(|f| f.0 == format!("vfs.peer.{short}"))
            .map(|f| f.1);
        let (peer_s, ratio) = match peer {
            Some(p) if p > 0.0 => (format!("{p:.1} {unit}"), format!("{:.3}", value / p)),
            _ => ("—".to_string(), "—".to_string()),
        };
        md.push_str(&format!(
            "| {short} | {value:.1} {unit} | {peer_s} | {ratio} |\n"
        ));
    }
    md.push_str(
        "\nA 4 KiB read or write takes two messages (at most 3,968 data bytes fit in one \
         4,096-byte message with its envelope); a 4 KiB whole-file write goes through a \
         handle (open, two writes, close). `commits.*` and `device_*.*` are counted in-process (the \
         VFS's store-commit counter and the RAM device's counters; deterministic): a small file \
         through a handle and a whole-file WRITE are one commit, a 1 MiB stream one commit per \
         65 messages, an idle collection pass nothing. `inproc.*` is the 64 MiB stream without \
         IPC, `*_writethrough` with the handle buffer off (a transaction per message, as before \
         buffering), measured in the same run. Renaming a directory rewrites two entries and the \
         accounting of its ancestors, whatever it holds. The VFS always runs on the encrypted \
         store (there is no in-memory store); `--quick` shortens every figure. Host figures \
         are wall-clock and noisy on a shared machine.\n",
    );
    let dir = workspace_root().join("docs").join("benchmarks");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("vfs.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))
}
