//! Crash test of the product in QEMU (issue 6): the VFS keeps every acknowledged write, and an
//! interrupted command is all or nothing, when the machine dies at a random moment.
//!
//! # What it does
//!
//! One machine of the product image (`ZOS_SYSTEM_KERNEL`: init, the VFS task on virtio-blk
//! with the virtio-crypto engine, the shell) on one fresh disk. A first boot formats it and
//! makes `/data`; then `ROUNDS` rounds (default 40, `ZOS_CRASH_ROUNDS` to change it), each:
//!
//! 1. boots the disk behind a write log (QEMU's `blklogwrites`, see
//!    `system_tests::power_cut`) and, through the shell, walks `/data` (`ls -l` of every
//!    directory, `cat` of every file): the state the previous crash left must show, byte for
//!    byte, as the host read it (step 6);
//! 2. types a random workload on the console in one go: whole-file writes (`echo … > f`),
//!    appends (`>>`, growing files past one 3968-byte piece), overwrites with content of
//!    another length (shrinking multi-piece files to one piece too), `cp` (often of the
//!    largest, multi-piece file), `mkdir`, `mv` of files and directories, `rm`, `rmdir`,
//!    `rm -r`;
//! 3. picks one command of the workload and SIGKILLs QEMU a random delay (0 to 1 times the
//!    measured mean command time) after the shell started it, so that most kills land inside
//!    a command and some between two;
//! 4. reads the console: a command is *acknowledged* when the next prompt follows it (the VFS
//!    replies to a change only once it is committed, and the shell prompts only after the
//!    reply); at most one command was *in flight* (its line echoed, no prompt after it);
//! 5. turns the kill into a power cut by rebuilding the disk from its copy at boot and the
//!    write log: a third of the rounds keep every write (QEMU died, the host did not), a third
//!    drop a random tail of the sectors written since the guest's last FLUSH (a volatile disk
//!    cache losing power, the write in progress torn at a sector), a third cut at a random
//!    sector written during the workload, before the kill;
//! 6. copies the disk image and, on the copy, with the disk's key, runs the host integrity
//!    check of `zvfs` (both databases record by record, every file read back against its
//!    SHA-256, every directory's totals recounted): it must be clean. It runs on a copy so
//!    that the next boot recovers from exactly what the power cut left. Then it reads `/data`
//!    from the copy with the `zvfs` library and requires:
//!    - for a cut at the kill: exactly the model after the acknowledged commands, or exactly
//!      that plus the whole effect of the in-flight command;
//!    - for an earlier cut: exactly the model after some prefix of the started commands,
//!      or that plus the whole effect of the next one;
//!
//!    where "whole effect" allows only the intermediate states the protocol documents: `rm -r`
//!    is one transaction per entry (any entries gone, children before their directory), and
//!    an append that creates its file may leave the empty file OPEN with `create` commits.
//!
//! A last boot checks the final crash the same way and powers off cleanly. The test also
//! requires that an eighth of the kills fell inside a command, a fifth of the cuts lost
//! writes, and (over 10 rounds or more) three acknowledged writes of multi-piece files.
//!
//! # What it proves
//!
//! An acknowledged change that is lost, reverted or present in part; an in-flight change
//! visible in part (a file neither its old nor its new content, a half-made copy, a rename
//! seen at both names); a store the host tool or the VFS's own mount finds damaged after a
//! cut anywhere in a commit, the cleaner or a checkpoint; a disk that no longer boots: each
//! fails this test. So does a commit path that replies before its writes are on the device
//! or without a FLUSH: tried by hand, a virtio-blk adapter that held writes in RAM failed
//! round 0, one whose `flush` did nothing failed round 1.
//!
//! Reproduction: the seed is printed; `ZOS_CRASH_SEED=<seed>` replays the same workloads,
//! commands to kill in and cut choices; the exact kill instants depend on the emulator's
//! speed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use system_tests::logged_session::{self, Logs, tail};
use system_tests::power_cut;
use system_tests::qemu::{Live, fresh_system_machine};
use system_tests::transcript::{self, Step};
use vfs_api::protocol::limits::MAX_IO;
use vfs_api::protocol::messages::FileKind;
use xtask::machine::Machine;

/// Where the workload lives (`/tmp` is emptied at every boot).
const ROOT: &str = "/data";
/// Default number of crashes.
const ROUNDS: usize = 40;
/// Longest echo text: the shell keeps lines of up to 1024 characters.
const MAX_TEXT: usize = 900;
/// Bound on the workload's data, so that each round stays quick.
const MAX_TOTAL_BYTES: usize = 96 * 1024;
/// Bound on one file (appends stop growing it).
const MAX_FILE: usize = 6 * MAX_IO;
/// Time for a boot to reach the prompt.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Time for a batch of commands to be acknowledged.
const ACK_TIMEOUT: Duration = Duration::from_secs(120);

/// One entry below `/data`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(String),
}

/// Everything below `/data`, by absolute path (`/data` itself is not in it).
type Tree = BTreeMap<String, Node>;

/// A command of the workload.
#[derive(Clone, Debug)]
enum Op {
    /// `echo TEXT > PATH`: the whole file, created or replaced (one WRITE).
    Write {
        path: String,
        text: String,
    },
    /// `echo TEXT >> PATH`: OPEN (create, append), WRITE, CLOSE.
    Append {
        path: String,
        text: String,
    },
    Mkdir {
        path: String,
    },
    /// `rm FILE`.
    Rm {
        path: String,
    },
    /// `rmdir DIR` of an empty directory.
    Rmdir {
        path: String,
    },
    /// `rm -r DIR`.
    RmTree {
        path: String,
    },
    /// `mv FROM TO`, TO not existing.
    Mv {
        from: String,
        to: String,
    },
    /// `cp FROM TO`, TO not existing.
    Cp {
        from: String,
        to: String,
    },
}

impl Op {
    fn line(&self) -> String {
        match self {
            Op::Write { path, text } => format!("echo {text} > {path}"),
            Op::Append { path, text } => format!("echo {text} >> {path}"),
            Op::Mkdir { path } => format!("mkdir {path}"),
            Op::Rm { path } => format!("rm {path}"),
            Op::Rmdir { path } => format!("rmdir {path}"),
            Op::RmTree { path } => format!("rm -r {path}"),
            Op::Mv { from, to } => format!("mv {from} {to}"),
            Op::Cp { from, to } => format!("cp {from} {to}"),
        }
    }

    /// The command's whole effect.
    fn apply(&self, tree: &mut Tree) {
        match self {
            Op::Write { path, text } => {
                tree.insert(path.clone(), Node::File(format!("{text}\n")));
            }
            Op::Append { path, text } => {
                match tree
                    .entry(path.clone())
                    .or_insert(Node::File(String::new()))
                {
                    Node::File(content) => {
                        content.push_str(text);
                        content.push('\n');
                    }
                    Node::Dir => panic!("workload bug: append to directory {path}"),
                }
            }
            Op::Mkdir { path } => {
                tree.insert(path.clone(), Node::Dir);
            }
            Op::Rm { path } | Op::Rmdir { path } => {
                tree.remove(path);
            }
            Op::RmTree { path } => tree.retain(|p, _| !within(p, path)),
            Op::Mv { from, to } => {
                let moved: Vec<(String, Node)> = tree
                    .iter()
                    .filter(|(p, _)| within(p, from))
                    .map(|(p, n)| (format!("{to}{}", &p[from.len()..]), n.clone()))
                    .collect();
                tree.retain(|p, _| !within(p, from));
                tree.extend(moved);
            }
            Op::Cp { from, to } => {
                let node = tree
                    .get(from)
                    .cloned()
                    .unwrap_or_else(|| panic!("workload bug: cp of missing {from}"));
                tree.insert(to.clone(), node);
            }
        }
    }

    /// Whether `seen` is a state this command, interrupted anywhere, may leave behind
    /// `before`: none of its effect or all of it (plus the documented intermediate states).
    fn may_leave(&self, before: &Tree, seen: &Tree) -> bool {
        let mut after = before.clone();
        self.apply(&mut after);
        if seen == before || seen == &after {
            return true;
        }
        match self {
            // OPEN with `create` commits the empty file before the data is written.
            Op::Append { path, .. } if !before.contains_key(path) => {
                let mut created = before.clone();
                created.insert(path.clone(), Node::File(String::new()));
                seen == &created
            }
            // One transaction per entry, children first: any downward-closed part is gone,
            // everything else is exactly as before.
            Op::RmTree { path } => {
                let kept_exactly = seen.iter().all(|(p, n)| before.get(p) == Some(n));
                let removed: Vec<(&String, &Node)> = before
                    .iter()
                    .filter(|(p, _)| !seen.contains_key(*p))
                    .collect();
                let only_below = removed.iter().all(|(p, _)| within(p, path));
                let closed = removed
                    .iter()
                    .filter(|(_, n)| **n == Node::Dir)
                    .all(|(d, _)| !seen.keys().any(|p| p.starts_with(&format!("{d}/"))));
                kept_exactly && only_below && closed
            }
            _ => false,
        }
    }

    /// Whether the command writes a file of more than one content piece.
    fn writes_multi_piece(&self, after: &Tree) -> bool {
        let path = match self {
            Op::Write { path, .. } | Op::Append { path, .. } => path,
            Op::Cp { to, .. } => to,
            _ => return false,
        };
        matches!(after.get(path), Some(Node::File(c)) if c.len() > MAX_IO)
    }
}

/// `path` is `root` or below it.
fn within(path: &str, root: &str) -> bool {
    path == root || path.strip_prefix(root).is_some_and(|r| r.starts_with('/'))
}

/// SplitMix64: small, seedable, and the same on every host.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Makes random workloads that are valid for the model they start from.
struct Workload {
    rng: Rng,
    /// Makes every new name unique over the whole test.
    names: u64,
}

impl Workload {
    fn name(&mut self, prefix: char) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }

    /// Text for an echo: starts with `tag` (to tell versions apart when a check fails), then
    /// words of `[a-z0-9]` separated by single blanks (echo prints its words joined by one
    /// blank, so the file's content is this text and a newline exactly).
    fn text(&mut self, tag: &str, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut text = tag.to_string();
        while text.len() < len {
            text.push(' ');
            for _ in 0..=self.rng.below(10) {
                text.push(*self.rng.pick(ALPHABET) as char);
            }
        }
        text.truncate(len.max(tag.len()));
        text.truncate(text.trim_end().len());
        text
    }

    /// `count` commands, each valid after the ones before it, starting from `tree`.
    fn commands(&mut self, tree: &Tree, round: usize, count: usize) -> Vec<Op> {
        let mut tree = tree.clone();
        let mut ops = Vec::with_capacity(count);
        for i in 0..count {
            let op = self.command(&tree, &format!("r{round}c{i}"));
            op.apply(&mut tree);
            ops.push(op);
        }
        ops
    }

    fn command(&mut self, tree: &Tree, tag: &str) -> Op {
        let dirs: Vec<String> = std::iter::once(ROOT.to_string())
            .chain(
                tree.iter()
                    .filter(|(_, n)| **n == Node::Dir)
                    .map(|(p, _)| p.clone()),
            )
            .collect();
        let files: Vec<(String, usize)> = tree
            .iter()
            .filter_map(|(p, n)| match n {
                Node::File(c) => Some((p.clone(), c.len())),
                Node::Dir => None,
            })
            .collect();
        let total: usize = files.iter().map(|(_, len)| len).sum();
        let largest = files.iter().max_by_key(|(_, len)| *len).cloned();
        let crowded = tree.len() > 40 || total > MAX_TOTAL_BYTES;
        // Weights: writes dominate; removals catch up when the tree gets big.
        let choices: &[(u8, usize)] = &[
            (0, 14),                           // new file
            (1, 14),                           // overwrite
            (2, 20),                           // append
            (3, 3),                            // append creating
            (4, 8),                            // cp
            (5, 6),                            // mkdir
            (6, 8),                            // mv
            (7, if crowded { 30 } else { 7 }), // rm
            (8, if crowded { 10 } else { 3 }), // rmdir
            (9, if crowded { 12 } else { 3 }), // rm -r
        ];
        let sum: usize = choices.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(sum);
        let kind = choices
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or(0, |(k, _)| *k);
        let shallow: Vec<&String> = dirs.iter().filter(|d| d.matches('/').count() < 4).collect();
        match kind {
            1 if !files.is_empty() => {
                let (path, old) = self.rng.pick(&files).clone();
                let mut len = 1 + self.rng.below(MAX_TEXT);
                if len + 1 == old {
                    len = len % MAX_TEXT + 1;
                }
                Op::Write {
                    path,
                    text: self.text(tag, len),
                }
            }
            2 if !files.is_empty() => {
                let path = match &largest {
                    Some((p, len)) if *len < MAX_FILE && self.rng.below(3) > 0 => p.clone(),
                    _ => self.rng.pick(&files).0.clone(),
                };
                let grows = matches!(tree.get(&path), Some(Node::File(c)) if c.len() < MAX_FILE);
                let len = if grows {
                    400 + self.rng.below(MAX_TEXT - 400)
                } else {
                    1 + self.rng.below(40)
                };
                Op::Append {
                    path,
                    text: self.text(tag, len),
                }
            }
            3 => {
                let dir = self.rng.pick(&dirs).clone();
                let path = format!("{dir}/{}", self.name('a'));
                let len = 1 + self.rng.below(300);
                Op::Append {
                    path,
                    text: self.text(tag, len),
                }
            }
            4 if !files.is_empty() && total < MAX_TOTAL_BYTES => {
                let from = match &largest {
                    Some((p, _)) if self.rng.below(2) == 0 => p.clone(),
                    _ => self.rng.pick(&files).0.clone(),
                };
                let dir = self.rng.pick(&dirs).clone();
                let to = format!("{dir}/{}", self.name('c'));
                Op::Cp { from, to }
            }
            5 => {
                let parent = (*self.rng.pick(&shallow)).clone();
                Op::Mkdir {
                    path: format!("{parent}/{}", self.name('d')),
                }
            }
            6 if !tree.is_empty() => {
                let entries: Vec<&String> = tree.keys().collect();
                let from = (*self.rng.pick(&entries)).clone();
                let targets: Vec<&String> = shallow
                    .iter()
                    .copied()
                    .filter(|d| !within(d, &from))
                    .collect();
                let dir = (*self.rng.pick(&targets)).clone();
                let to = format!("{dir}/{}", self.name('m'));
                Op::Mv { from, to }
            }
            7 if !files.is_empty() => Op::Rm {
                path: self.rng.pick(&files).0.clone(),
            },
            8 | 9 if dirs.len() > 1 => {
                let below: Vec<&String> = dirs[1..].iter().collect();
                let empty: Vec<&String> = below
                    .iter()
                    .copied()
                    .filter(|d| !tree.keys().any(|p| p.starts_with(&format!("{d}/"))))
                    .collect();
                if kind == 8 && !empty.is_empty() {
                    Op::Rmdir {
                        path: (*self.rng.pick(&empty)).clone(),
                    }
                } else {
                    Op::RmTree {
                        path: (*self.rng.pick(&below)).clone(),
                    }
                }
            }
            _ => {
                let dir = self.rng.pick(&dirs).clone();
                let path = format!("{dir}/{}", self.name('f'));
                let len = 1 + self.rng.below(200);
                Op::Write {
                    path,
                    text: self.text(tag, len),
                }
            }
        }
    }
}

/// Boots `machine` behind a new write log.
fn boot(machine: &Machine, logs: &Logs) -> Live {
    logged_session::boot(machine, logs, BOOT_TIMEOUT)
}

/// Types `lines` and waits until each is acknowledged.
fn run(live: &mut Live, lines: &[String]) -> Vec<Step> {
    logged_session::run(live, lines, ACK_TIMEOUT)
}

/// Walks `/data` through the shell: `ls -l` of every directory, `cat` of every file, one
/// level at a time.
fn shell_tree(live: &mut Live) -> Tree {
    let mut tree = Tree::new();
    let mut dirs = vec![ROOT.to_string()];
    let mut files: Vec<String> = Vec::new();
    while !dirs.is_empty() || !files.is_empty() {
        let lines: Vec<String> = dirs
            .iter()
            .map(|d| format!("ls -l {d}"))
            .chain(files.iter().map(|f| format!("cat {f}")))
            .collect();
        let steps = run(live, &lines);
        let (listings, contents) = steps.split_at(dirs.len());
        for (file, step) in files.iter().zip(contents) {
            tree.insert(file.clone(), Node::File(step.output.clone()));
        }
        let mut next_dirs = Vec::new();
        let mut next_files = Vec::new();
        for (dir, step) in dirs.iter().zip(listings) {
            for entry in step.output.lines() {
                let kind = entry.chars().next();
                let name = entry.split_whitespace().last().unwrap_or_default();
                let path = format!("{dir}/{name}");
                match kind {
                    Some('d') => {
                        tree.insert(path.clone(), Node::Dir);
                        next_dirs.push(path);
                    }
                    Some('-') => next_files.push(path),
                    _ => panic!(
                        "unexpected listing line `{entry}` of {dir}:\n{}",
                        tail(&live.console())
                    ),
                }
            }
        }
        dirs = next_dirs;
        files = next_files;
    }
    tree
}

/// The host's view of the crashed disk: the full integrity check, then `/data`, on a copy of
/// the image.
fn host_tree(machine: &Machine) -> Tree {
    let (mut image, copy) = logged_session::checked_copy(machine, "after-crash.img");
    let mut tree = Tree::new();
    let stats = image
        .walk(ROOT)
        .unwrap_or_else(|e| panic!("walk {ROOT} on the host: {e}"));
    for stat in stats.into_iter().filter(|s| s.path != ROOT) {
        let node = match stat.kind {
            FileKind::Directory => Node::Dir,
            FileKind::File => {
                let mut content = Vec::new();
                image
                    .get(&stat.path, &mut content, &mut |_| {})
                    .unwrap_or_else(|e| panic!("read {} on the host: {e}", stat.path));
                Node::File(String::from_utf8(content).expect("workload content is ASCII"))
            }
            FileKind::Symlink(_) => panic!("unexpected symlink {}", stat.path),
        };
        tree.insert(stat.path, node);
    }
    drop(image);
    let _ = std::fs::remove_file(&copy);
    tree
}

/// Where two trees differ, for failure messages.
fn diff(expected: &Tree, seen: &Tree) -> String {
    let mut out = String::new();
    for path in expected
        .keys()
        .chain(seen.keys().filter(|p| !expected.contains_key(*p)))
    {
        let (a, b) = (expected.get(path), seen.get(path));
        if a != b {
            out.push_str(&format!(
                "  {path}: expected {a:?}\n  {path}:     seen {b:?}\n"
            ));
        }
    }
    out
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

#[test]
#[ignore = "needs the QEMU image; run by cargo xtask test"]
fn acknowledged_writes_survive_random_kills_and_in_flight_ones_are_all_or_nothing() {
    let seed = env_number("ZOS_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let rounds = env_number("ZOS_CRASH_ROUNDS").map_or(ROUNDS, |n| n.max(1) as usize);
    eprintln!("crash test: seed {seed} (ZOS_CRASH_SEED={seed} replays it), {rounds} rounds");
    let started = Instant::now();
    let mut workload = Workload {
        rng: Rng(seed),
        names: 0,
    };
    let machine = fresh_system_machine("vfs_crash");
    let logs = Logs {
        log: machine.disk.with_file_name("disk.log"),
        base: machine.disk.with_file_name("at-boot.img"),
    };

    // First boot: format and make /data, then power off cleanly, so that every power cut
    // below falls on a formatted disk.
    let mut live = boot(&machine, &logs);
    run(&mut live, &[format!("mkdir {ROOT}")]);
    live.send("shutdown\n");
    let setup = live.finish(BOOT_TIMEOUT);
    assert_eq!(
        setup.status,
        Some(0),
        "setup boot:\n{}",
        tail(&setup.console)
    );
    let mut live = boot(&machine, &logs);
    let mut model = Tree::new();
    // Mean time of one workload command, measured as the rounds go (kill delays scale by it).
    let mut mean_command = Duration::from_millis(100);
    let (mut in_flight_kills, mut in_flight_applied, mut multi_piece_acks) = (0, 0, 0);
    let (mut lossy_cuts, mut earlier_cuts) = (0, 0);

    for round in 0..rounds {
        let count = 10 + workload.rng.below(9);
        let ops = workload.commands(&model, round, count);
        let lines: Vec<String> = ops.iter().map(Op::line).collect();
        let mut input = lines.join("\n");
        input.push('\n');
        // All of it fits the pipe, so this never waits for the guest.
        assert!(input.len() < 48 * 1024);

        let base = transcript::steps(&live.console()).len();
        let target = workload.rng.below(ops.len());
        let delay_share = workload.rng.unit();
        // A third of the cuts keep every write (QEMU died, the host did not), a third lose a
        // random part of what was written since the last flush, a third fall at a random
        // earlier moment of the run. The kind goes by round, not by chance, so that every run
        // has its share of each (the checks below count on it); the moment is random.
        let (mode, roll) = (round % 3, workload.rng.next());
        let moment = match mode {
            0 => power_cut::Moment::Kill,
            1 => power_cut::Moment::KillLosingUnflushed(roll),
            _ => power_cut::Moment::Anywhere {
                from: std::fs::metadata(&logs.log).map_or(0, |m| m.len()),
                roll,
            },
        };
        live.send(&input);
        let mut first_start: Option<Instant> = None;
        let reached = live.wait_until(ACK_TIMEOUT, |c| {
            let started = transcript::steps(c).len().saturating_sub(base);
            if started >= 1 && first_start.is_none() {
                first_start = Some(Instant::now());
            }
            started > target
        });
        if !reached {
            panic!(
                "round {round}: command {target} never started:\n{}",
                tail(&live.kill())
            );
        }
        if let (Some(first), true) = (first_start, target > 0) {
            let measured = first.elapsed() / target as u32;
            mean_command = (mean_command + measured) / 2;
        }
        std::thread::sleep(mean_command.mul_f64(delay_share));
        let console = live.kill();
        let cut = power_cut::rebuild(&machine.disk, &logs.base, &logs.log, moment);
        if cut.kept < cut.written {
            lossy_cuts += 1;
        }

        let steps = transcript::steps(&console).split_off(base);
        let acked = steps.iter().take_while(|s| s.acknowledged).count();
        assert!(
            steps.len() <= acked + 1,
            "round {round}: more than one unacknowledged command:\n{}",
            tail(&console)
        );
        let mut before = model.clone();
        for (i, (step, op)) in steps.iter().zip(&ops).enumerate() {
            assert_eq!(
                step.line,
                op.line(),
                "round {round}: command {i} echoed differently"
            );
            if i < acked {
                assert!(
                    step.output.is_empty(),
                    "round {round}: `{}` failed:\n{}",
                    step.line,
                    tail(&console)
                );
                op.apply(&mut before);
                if op.writes_multi_piece(&before) {
                    multi_piece_acks += 1;
                }
            }
        }
        let in_flight = (steps.len() > acked).then(|| &ops[acked]);

        let seen = host_tree(&machine);
        let verdict = if !cut.keeps_flushed() {
            // Before the kill: the acknowledgements tell nothing about that moment, but the
            // disk must hold some prefix of the started commands, the next one all or
            // nothing.
            earlier_cuts += 1;
            let mut state = model.clone();
            let mut prefix = None;
            for (k, op) in ops.iter().enumerate().take(steps.len()) {
                if op.may_leave(&state, &seen) {
                    prefix = Some((k, seen != state));
                    break;
                }
                op.apply(&mut state);
            }
            match prefix {
                Some((k, applied)) => format!(
                    "and the power cut earlier, after {k} commands{}",
                    if applied {
                        " and during the next (done)"
                    } else {
                        ""
                    }
                ),
                None if seen == state => {
                    format!("and the power cut earlier, after {} commands", steps.len())
                }
                None => panic!(
                    "round {round} (seed {seed}): a power cut before the kill left a disk that \
                     is no prefix of the started commands; against all of them:\n{}",
                    diff(&state, &seen)
                ),
            }
        } else {
            match in_flight {
                None if seen == before => "between commands".to_string(),
                None => panic!(
                    "round {round} (seed {seed}): after {acked} acknowledged commands and none in \
                 flight, the disk differs from them:\n{}",
                    diff(&before, &seen)
                ),
                Some(op) if op.may_leave(&before, &seen) => {
                    in_flight_kills += 1;
                    let applied = seen != before;
                    if applied {
                        in_flight_applied += 1;
                    }
                    format!(
                        "during `{}` ({})",
                        shorten(&op.line()),
                        if applied { "done" } else { "not done" }
                    )
                }
                Some(op) => {
                    let mut after = before.clone();
                    op.apply(&mut after);
                    panic!(
                        "round {round} (seed {seed}): the disk is neither the {acked} acknowledged \
                     commands nor those plus `{}`:\nagainst the acknowledged state:\n{}\
                     against the state with it:\n{}",
                        op.line(),
                        diff(&before, &seen),
                        diff(&after, &seen)
                    );
                }
            }
        };
        eprintln!(
            "round {round}: {acked}/{} commands acknowledged, killed {verdict}; disk kept {} of \
             {} sectors written, {} flushed [{:.0?}]",
            ops.len(),
            cut.kept,
            cut.written,
            cut.flushed,
            started.elapsed()
        );

        live = boot(&machine, &logs);
        let through_shell = shell_tree(&mut live);
        assert!(
            through_shell == seen,
            "round {round} (seed {seed}): the rebooted system shows another tree than the \
             host check of the same disk:\n{}",
            diff(&seen, &through_shell)
        );
        model = seen;
    }

    live.send("shutdown\n");
    let last = live.finish(BOOT_TIMEOUT);
    assert_eq!(
        last.status,
        Some(0),
        "no clean power-off:\n{}",
        tail(&last.console)
    );
    eprintln!(
        "crash test: {rounds} kills, {in_flight_kills} inside a command ({in_flight_applied} of \
         them committed), {lossy_cuts} losing writes ({earlier_cuts} before the last flush), \
         {multi_piece_acks} acknowledged multi-piece writes, {:.0?}",
        started.elapsed()
    );
    // Power cuts that never drop a write would not test the flushes and the recovery.
    assert!(
        lossy_cuts * 5 >= rounds,
        "only {lossy_cuts} of {rounds} power cuts lost writes"
    );
    // A test whose kills all fall between commands would prove little.
    assert!(
        // The share depends on the host's speed (a loaded CI machine lands fewer): an eighth
        // is what a run must reach to count.
        in_flight_kills * 8 >= rounds,
        "only {in_flight_kills} of {rounds} kills landed inside a command"
    );
    assert!(
        multi_piece_acks >= 3 || rounds < 10,
        "only {multi_piece_acks} acknowledged writes of files above {MAX_IO} bytes"
    );
}

/// A command line cut for the log.
fn shorten(line: &str) -> String {
    if line.len() <= 60 {
        line.to_string()
    } else {
        format!("{}…{}", &line[..30], &line[line.len() - 25..])
    }
}
