//! Power-loss suite (littlefs style): record every program/erase of a workload once, then for
//! every cut point rebuild the medium with that operation not applied or torn, remount, and
//! accept only the allowed states: every acknowledged commit present and exact, the in-flight one
//! either fully present or absent, nothing else; the full integrity check must be clean.
//!
//! Default `cargo test`: every cut point of the small and the near-full workloads, a sample of
//! the large ones. `ZOS_EXHAUSTIVE=1`: every cut point of the large ones too, a longer near-full
//! run, and more double cuts (a second cut during the first write after a crash). A failure prints a cut id;
//! `ZOS_CUT=<workload>:<op>:<mode>` replays just that cut.

mod common;

use common::Rng;

use std::collections::BTreeMap;

use storage_backend::block::{CutMode, NorEmulator, NorFlashDevice, TraceOp};
use storage_backend::{Db, FormatOptions, SoftwareEngine, Store, StoreError};

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
    /// The model of the base image.
    initial: Model,
    trace: Vec<TraceOp>,
    commits: Vec<Commit>,
}

/// The shape of a workload.
#[derive(Clone, Copy)]
struct Shape {
    /// Distinct keys.
    keys: u64,
    /// One value in `big_one_in` is large (up to 8 KiB).
    big_one_in: u64,
    /// Fill the userspace database to `NoSpace` before the recorded run (and let the run's
    /// writes fail with `NoSpace`, which must change nothing).
    near_full: bool,
}

const MIXED: Shape = Shape {
    keys: 48,
    big_one_in: 10,
    near_full: false,
};
/// Few keys, many large values: the cleaner runs inside transactions all the time.
const CHURN: Shape = Shape {
    keys: 16,
    big_one_in: 3,
    near_full: false,
};
/// Many keys (some of them long): checkpoints span several segments.
const WIDE: Shape = Shape {
    keys: 5000,
    big_one_in: 100,
    near_full: false,
};
/// A full database churned by a few keys: commit records land at segment ends, every
/// transaction starts with upkeep (checkpoints, cleaning), some writes fail with `NoSpace`.
const NEAR_FULL: Shape = Shape {
    keys: 6,
    big_one_in: 4,
    near_full: true,
};

fn value_for(rng: &mut Rng, i: u64, shape: Shape) -> Vec<u8> {
    let len = match rng.below(shape.big_one_in) {
        0 => rng.below(8000) as usize,
        1 => 0,
        _ => rng.below(400) as usize,
    };
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Fills the userspace database with values of up to 8 KiB until it answers `NoSpace`.
fn fill(s: &mut Store<Dev, SoftwareEngine>, rng: &mut Rng, model: &mut Model) {
    for i in 0.. {
        let key = format!("fill-{i:04}").into_bytes();
        let len = 1 + rng.below(8000) as usize;
        let v: Vec<u8> = (0..len).map(|j| (i * 7 + j) as u8).collect();
        let mut t = s.begin(Db::Userspace).unwrap();
        match t.put(&key, &v).and_then(|()| t.commit()) {
            Ok(()) => {
                model.insert((Db::Userspace, key), v);
            }
            Err(StoreError::NoSpace) => break,
            Err(e) => panic!("fill {i}: {e:?}"),
        }
    }
}

/// Runs the workload of `ops` operations, recording the trace and the model after each commit.
fn record(ops: u64, seed: u64, shape: Shape) -> Recording {
    let mut s = common::nor_store(SECTORS, &opts());
    let mut rng = Rng(seed);
    let mut model = Model::new();
    if shape.near_full {
        fill(&mut s, &mut rng, &mut model);
    }
    s.sync().unwrap();
    let initial = model.clone();
    let (mut dev, eng) = s.into_parts();
    let base = dev.flash().image().to_vec();
    dev.flash_mut().start_trace();
    let ops0 = dev.flash().stats().ops;
    let (_, keys) = common::engine();
    let mut s = Store::mount(dev, eng, keys).unwrap();
    let ops_now = |s: &Store<Dev, SoftwareEngine>| s.device().flash().stats().ops - ops0;
    let mut commits = Vec::new();
    let mut i = 0;
    while i < ops {
        let db = if rng.below(5) == 0 {
            Db::Kernel
        } else {
            Db::Userspace
        };
        let n = 1 + rng.below(if shape.near_full { 3 } else { 4 });
        let mut next = model.clone();
        let mut t = s.begin(db).unwrap();
        let mut refused = false;
        for _ in 0..n {
            let k = rng.below(shape.keys);
            let mut key = format!("k{k:02}-{}", "x".repeat((k % 40) as usize)).into_bytes();
            i += 1;
            let r = if rng.below(4) == 0 {
                if shape.near_full && db == Db::Userspace && rng.below(2) == 0 {
                    // Delete some existing key (the fill's too): frees space.
                    let nth = rng.below(next.len().max(1) as u64) as usize;
                    if let Some((_, k)) = next.keys().nth(nth).cloned() {
                        key = k;
                    }
                }
                next.remove(&(db, key.clone()));
                t.delete(&key)
            } else {
                let v = value_for(&mut rng, i, shape);
                next.insert((db, key.clone()), v.clone());
                t.put(&key, &v)
            };
            match r {
                Ok(()) => {}
                Err(StoreError::NoSpace) if shape.near_full => {
                    refused = true;
                    break;
                }
                Err(e) => panic!("operation {i}: {e:?}"),
            }
        }
        if refused || rng.below(12) == 0 {
            // An abandoned (or refused) transaction: its records reach the log but must never
            // be visible.
            drop(t);
            continue;
        }
        let called_at = ops_now(t_store(&t));
        match t.commit() {
            Ok(()) => {}
            // A refused commit wrote no commit record: like an abandoned transaction.
            Err(StoreError::NoSpace) if shape.near_full => continue,
            Err(e) => panic!("commit after operation {i}: {e:?}"),
        }
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
        initial,
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

/// What a cut check does after the crashed image mounted and checked clean.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    Nothing,
    /// Write, sync and remount: the log must continue correctly after a crash.
    Write,
    /// The same, and cut again at every device operation of that first write after the crash.
    WriteWithCuts,
}

/// The first write after a crash: a small put, or (when the store is too full for it, which a
/// near-full workload may leave) the delete of one key, which must always go through. Syncs,
/// remounts and checks; returns the state it made and the device.
fn write_after_crash(
    mut s: Store<Dev, SoftwareEngine>,
    before: &Model,
) -> Result<(Model, Dev), String> {
    let mut expected = before.clone();
    let mut t = s.begin(Db::Userspace).map_err(|e| format!("{e:?}"))?;
    match t.put(b"after-crash", b"yes").and_then(|()| t.commit()) {
        Ok(()) => {
            expected.insert((Db::Userspace, b"after-crash".to_vec()), b"yes".to_vec());
        }
        Err(StoreError::NoSpace) => {
            let victim = before
                .keys()
                .find(|(db, _)| *db == Db::Userspace)
                .cloned()
                .ok_or("NoSpace on an empty database")?;
            let mut t = s.begin(Db::Userspace).map_err(|e| format!("{e:?}"))?;
            t.delete(&victim.1)
                .and_then(|()| t.commit())
                .map_err(|e| format!("delete on a full store after crash: {e:?}"))?;
            expected.remove(&victim);
        }
        Err(e) => return Err(format!("write after crash: {e:?}")),
    }
    s.sync().map_err(|e| format!("sync after crash: {e:?}"))?;
    let (dev, _) = s.into_parts();
    let (eng, keys) = common::engine();
    let mut s = Store::mount(dev, eng, keys).map_err(|e| format!("second mount: {e:?}"))?;
    if read_all(&mut s)? != expected {
        return Err("the write after the crash is not what the second mount shows".into());
    }
    s.check(Db::Userspace)
        .map_err(|e| format!("second check: {e:?}"))?;
    let (dev, _) = s.into_parts();
    Ok((expected, dev))
}

/// Double cuts: replays `trace` (the first write after a crash) onto the crashed image, cutting
/// at every operation (not applied, and torn); each must mount to `before` or `after`, clean.
fn second_cuts(
    crashed: &[u8],
    trace: &[TraceOp],
    before: &Model,
    after: &Model,
) -> Result<(), String> {
    let mut emu = NorEmulator::from_image(crashed.to_vec());
    for (k, op) in trace.iter().enumerate() {
        for m in [CutMode::NotApplied, CutMode::Torn((k * 613) % 4096 + 1)] {
            let mut e = emu.clone();
            e.apply(op, Some(m));
            let dev = NorFlashDevice::new(e, common::NOR_BLOCK).unwrap();
            let (eng, keys) = common::engine();
            let what = format!("second cut at {k} ({})", mode_name(m));
            let mut s =
                Store::mount(dev, eng, keys).map_err(|e| format!("{what}: mount: {e:?}"))?;
            for db in Db::ALL {
                if let Some(e) = s.mount_error(db) {
                    return Err(format!("{what}: {db:?} did not mount: {e:?}"));
                }
            }
            let got = read_all(&mut s)?;
            if &got != before && &got != after {
                return Err(format!(
                    "{what}: state is neither before nor after the write"
                ));
            }
            for db in Db::ALL {
                s.check(db)
                    .map_err(|e| format!("{what}: check {db:?}: {e:?}"))?;
            }
        }
        emu.apply(op, None);
    }
    Ok(())
}

/// Mounts the image of cut `k` and checks it; then does what `after` says.
fn check_cut(rec: &Recording, img: Vec<u8>, k: u64, after: After) -> Result<(), String> {
    let acked = rec
        .commits
        .iter()
        .take_while(|c| c.returned_at <= k)
        .count();
    let in_flight = rec.commits.get(acked).filter(|c| c.called_at <= k);
    let old = if acked == 0 {
        &rec.initial
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
    match after {
        After::Nothing => {}
        After::Write => {
            write_after_crash(s, &got)?;
        }
        After::WriteWithCuts => {
            let (mut dev, _) = s.into_parts();
            let crashed = dev.flash().image().to_vec();
            dev.flash_mut().start_trace();
            let (eng, keys) = common::engine();
            let s = Store::mount(dev, eng, keys).map_err(|e| format!("remount: {e:?}"))?;
            let (expected, mut dev) = write_after_crash(s, &got)?;
            let trace = dev.flash_mut().take_trace();
            second_cuts(&crashed, &trace, &got, &expected)?;
        }
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

/// Runs the cuts of `name` selected by `every` (1 = all); in a near-full workload, every cut
/// that is a multiple of `double_every` (and of 5) is also cut again during the first write after it.
fn run(name: &str, ops: u64, seed: u64, every: u64, shape: Shape) {
    let double_every = if exhaustive() { 5 } else { 35 };
    let only: Option<(u64, CutMode)> = std::env::var("ZOS_CUT").ok().and_then(|c| {
        let mut p = c.split(':');
        (p.next()? == name).then_some(())?;
        Some((p.next()?.parse().ok()?, parse_mode(p.next()?)))
    });
    if std::env::var("ZOS_CUT").is_ok() && only.is_none() {
        return;
    }
    let rec = record(ops, seed, shape);
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
                let after = if !k.is_multiple_of(5) {
                    After::Nothing
                } else if shape.near_full && k.is_multiple_of(double_every) {
                    After::WriteWithCuts
                } else {
                    After::Write
                };
                if let Err(msg) = check_cut(&rec, e.image().to_vec(), k, after) {
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
        && let Err(msg) = check_cut(
            &rec,
            emu.image().to_vec(),
            rec.trace.len() as u64,
            After::WriteWithCuts,
        )
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
    run("small", 150, 0x5EED_0001, 1, MIXED);
}

#[test]
fn power_loss_large_1000_ops() {
    let every = if exhaustive() { 1 } else { 4 };
    run("large", 1000, 0x5EED_0002, every, MIXED);
}

#[test]
fn power_loss_churn_cleaning_inside_transactions() {
    let every = if exhaustive() { 1 } else { 9 };
    run("churn", 400, 0x5EED_0003, every, CHURN);
}

#[test]
fn power_loss_wide_index_multi_segment_checkpoints() {
    let every = if exhaustive() { 1 } else { 11 };
    run("wide", 500, 0x5EED_0004, every, WIDE);
}

#[test]
fn power_loss_near_full_every_cut() {
    let ops = if exhaustive() { 400 } else { 40 };
    run("nearfull", ops, 0x5EED_0005, 1, NEAR_FULL);
}
