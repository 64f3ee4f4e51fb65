//! Power-loss suite (littlefs style): record every program/erase of a workload once, then for
//! every cut point rebuild the medium with that operation not applied or torn, remount, and
//! accept only the allowed states: every acknowledged commit present and exact, the in-flight one
//! either fully present or absent, nothing else; the full integrity check must be clean.
//!
//! Default `cargo test`: every cut point of the small workload, a sample of the large one.
//! `ZOS_EXHAUSTIVE=1`: every cut point of the large one too. A failure prints a cut id;
//! `ZOS_CUT=<workload>:<op>:<mode>` replays just that cut.

mod common;

use std::collections::BTreeMap;

use storage_backend::block::{CutMode, NorEmulator, NorFlashDevice, TraceOp};
use storage_backend::{Db, FormatOptions, SoftwareEngine, Store};

type Dev = NorFlashDevice<NorEmulator>;
type Model = BTreeMap<(Db, Vec<u8>), Vec<u8>>;

const SECTORS: usize = 112;

fn opts() -> FormatOptions {
    FormatOptions {
        kernel_units: Some(40),
        segment_bytes: 12 * 1024,
        ..FormatOptions::default()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One committed transaction of the recorded run.
struct Commit {
    /// Device operations done when `commit()` was called.
    called_at: u64,
    /// Device operations done when it returned.
    returned_at: u64,
    /// The model after it.
    state: Model,
}

struct Recording {
    base: Vec<u8>,
    trace: Vec<TraceOp>,
    commits: Vec<Commit>,
}

fn value_for(rng: &mut Rng, i: u64) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => rng.below(5000) as usize,
        1 => 0,
        _ => rng.below(400) as usize,
    };
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Runs the workload of `ops` operations, recording the trace and the model after each commit.
fn record(ops: u64, seed: u64) -> Recording {
    let mut s = common::nor_store(SECTORS, &opts());
    s.sync().unwrap();
    let (mut dev, eng) = s.into_parts();
    let base = dev.flash().image().to_vec();
    dev.flash_mut().start_trace();
    let ops0 = dev.flash().stats().ops;
    let (_, keys) = common::engine();
    let mut s = Store::mount(dev, eng, keys).unwrap();
    let ops_now = |s: &Store<Dev, SoftwareEngine>| s.device().flash().stats().ops - ops0;
    let mut rng = Rng(seed);
    let mut model = Model::new();
    let mut commits = Vec::new();
    let mut i = 0;
    while i < ops {
        let db = if rng.below(5) == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        let n = 1 + rng.below(4);
        let mut next = model.clone();
        let mut t = s.begin(db).unwrap();
        for _ in 0..n {
            let key = format!("k{:02}", rng.below(48)).into_bytes();
            i += 1;
            if rng.below(4) == 0 {
                t.delete(&key).unwrap();
                next.remove(&(db, key));
            } else {
                let v = value_for(&mut rng, i);
                t.put(&key, &v).unwrap();
                next.insert((db, key), v);
            }
        }
        if rng.below(12) == 0 {
            // An abandoned transaction: its records reach the log but must never be visible.
            drop(t);
            continue;
        }
        let called_at = ops_now(t_store(&t));
        t.commit().unwrap();
        commits.push(Commit {
            called_at,
            returned_at: ops_now(&s),
            state: next.clone(),
        });
        model = next;
        if rng.below(8) == 0 {
            s.sync().unwrap();
        }
    }
    let (mut dev, _) = s.into_parts();
    Recording {
        base,
        trace: dev.flash_mut().take_trace(),
        commits,
    }
}

/// The store a transaction belongs to (for reading the operation counter).
fn t_store<'a>(
    t: &'a storage_backend::Txn<'_, Dev, SoftwareEngine>,
) -> &'a Store<Dev, SoftwareEngine> {
    t.store()
}

fn read_all(s: &mut Store<Dev, SoftwareEngine>) -> Result<Model, String> {
    let mut m = Model::new();
    for db in Db::ALL {
        let keys = s
            .scan_keys(db, b"", None, usize::MAX)
            .map_err(|e| format!("scan {db:?}: {e:?}"))?;
        for k in keys {
            let v = s
                .get(db, &k)
                .map_err(|e| format!("get {db:?} {k:?}: {e:?}"))?
                .ok_or("key vanished")?;
            m.insert((db, k), v);
        }
    }
    Ok(m)
}

/// Mounts the image of cut `k` and checks it; on success also writes after the crash and remounts.
fn check_cut(rec: &Recording, img: Vec<u8>, k: u64, write_after: bool) -> Result<(), String> {
    let acked = rec
        .commits
        .iter()
        .take_while(|c| c.returned_at <= k)
        .count();
    let in_flight = rec.commits.get(acked).filter(|c| c.called_at <= k);
    let empty = Model::new();
    let old = if acked == 0 {
        &empty
    } else {
        &rec.commits[acked - 1].state
    };
    let dev = NorFlashDevice::new(NorEmulator::from_image(img), common::NOR_BLOCK).unwrap();
    let (eng, keys) = common::engine();
    let mut s = Store::mount(dev, eng, keys).map_err(|e| format!("mount: {e:?}"))?;
    for db in Db::ALL {
        if let Some(e) = s.mount_error(db) {
            return Err(format!("{db:?} did not mount: {e:?}"));
        }
    }
    let got = read_all(&mut s)?;
    if &got != old && in_flight.is_none_or(|c| got != c.state) {
        let diff = got
            .iter()
            .find(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, _)| format!("extra/different {k:?}"))
            .or_else(|| {
                old.keys()
                    .find(|k| !got.contains_key(*k))
                    .map(|k| format!("missing {k:?}"))
            });
        return Err(format!(
            "state after remount is neither the last acknowledged commit ({acked}) nor the in-flight one: {diff:?}"
        ));
    }
    for db in Db::ALL {
        s.check(db).map_err(|e| format!("check {db:?}: {e:?}"))?;
    }
    if write_after {
        let mut t = s.begin(Db::Userspace).map_err(|e| format!("{e:?}"))?;
        t.put(b"after-crash", b"yes")
            .map_err(|e| format!("put after crash: {e:?}"))?;
        t.commit()
            .map_err(|e| format!("commit after crash: {e:?}"))?;
        s.sync().map_err(|e| format!("sync after crash: {e:?}"))?;
        let (dev, _) = s.into_parts();
        let (eng, keys) = common::engine();
        let mut s = Store::mount(dev, eng, keys).map_err(|e| format!("second mount: {e:?}"))?;
        let v = s
            .get(Db::Userspace, b"after-crash")
            .map_err(|e| format!("{e:?}"))?;
        if v.as_deref() != Some(&b"yes"[..]) {
            return Err("write after crash lost".into());
        }
        let mut got2 = read_all(&mut s)?;
        got2.remove(&(Db::Userspace, b"after-crash".to_vec()));
        if got2 != got {
            return Err("state changed across the second mount".into());
        }
        s.check(Db::Userspace)
            .map_err(|e| format!("second check: {e:?}"))?;
    }
    Ok(())
}

fn mode_name(m: CutMode) -> String {
    match m {
        CutMode::NotApplied => "none".into(),
        CutMode::Torn(n) => format!("torn{n}"),
    }
}

fn parse_mode(s: &str) -> CutMode {
    match s.strip_prefix("torn") {
        Some(n) => CutMode::Torn(n.parse().unwrap()),
        None => CutMode::NotApplied,
    }
}

/// Runs the cuts of `name` selected by `every` (1 = all).
fn run(name: &str, ops: u64, seed: u64, every: u64) {
    let only: Option<(u64, CutMode)> = std::env::var("ZOS_CUT").ok().and_then(|c| {
        let mut p = c.split(':');
        (p.next()? == name).then_some(())?;
        Some((p.next()?.parse().ok()?, parse_mode(p.next()?)))
    });
    if std::env::var("ZOS_CUT").is_ok() && only.is_none() {
        return;
    }
    let rec = record(ops, seed);
    assert!(rec.commits.len() as u64 * 2 > ops / 4, "workload too small");
    let mut emu = NorEmulator::from_image(rec.base.clone());
    let mut failures = Vec::new();
    let mut tested = 0;
    for (k, op) in rec.trace.iter().enumerate() {
        let k = k as u64;
        let selected = match only {
            Some((c, _)) => c == k,
            None => k.is_multiple_of(every),
        };
        if selected {
            let torn = CutMode::Torn((k as usize * 7919) % 4096 + 1);
            let modes = match only {
                Some((_, m)) => vec![m],
                None => vec![CutMode::NotApplied, torn],
            };
            for m in modes {
                let mut e = emu.clone();
                e.apply(op, Some(m));
                tested += 1;
                if let Err(msg) = check_cut(&rec, e.image().to_vec(), k, k.is_multiple_of(5)) {
                    eprintln!(
                        "power-loss failure: cut id {name}:{k}:{} — {msg}",
                        mode_name(m)
                    );
                    failures.push(format!("{name}:{k}:{}", mode_name(m)));
                }
            }
        }
        emu.apply(op, None);
    }
    // The complete run must also mount to the final state.
    if only.is_none()
        && let Err(msg) = check_cut(&rec, emu.image().to_vec(), rec.trace.len() as u64, true)
    {
        failures.push(format!("{name}:end — {msg}"));
    }
    eprintln!(
        "{name}: {} device operations, {} commits, {tested} cuts checked",
        rec.trace.len(),
        rec.commits.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing cuts, first: {:?} (replay with ZOS_CUT=<id>)",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

fn exhaustive() -> bool {
    std::env::var("ZOS_EXHAUSTIVE").is_ok_and(|v| v == "1")
}

#[test]
fn power_loss_small_every_cut() {
    run("small", 150, 0x5EED_0001, 1);
}

#[test]
fn power_loss_large_1000_ops() {
    let every = if exhaustive() { 1 } else { 4 };
    run("large", 1000, 0x5EED_0002, every);
}
