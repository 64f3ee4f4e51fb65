//! Engine v2 power-loss suite (the v1 suite's method, `tests/power_loss.rs`): record every
//! program/erase of a workload once, then for EVERY cut point rebuild the medium with that
//! operation not applied and torn, mount, and accept only the last acknowledged commit or the
//! in-flight one; the full check (structure, every value, live counts) must pass; every fifth
//! cut also writes a transaction after the crash and remounts, and every 35th cuts again at
//! every operation of that first write (double cuts). The workload splits and merges pages,
//! rolls the journal, takes checkpoints (a small `T`) and reuses segments.
//!
//! A failure prints a cut id; `ZOS_CUT=<workload>:<op>:<mode>` replays just that cut.

mod common;

use common::Rng;
use common::v2::{Model, NorDev, mount_dev, mount_image, nor_opts, nor_region, read_all};

use storage_backend::block::{CutMode, NorEmulator, TraceOp};
use storage_backend::store::v2::V2Options;

const SECTORS: usize = 64;

struct Commit {
    called_at: u64,
    returned_at: u64,
    state: Model,
}

struct Recording {
    base: Vec<u8>,
    trace: Vec<TraceOp>,
    commits: Vec<Commit>,
    opts: V2Options,
}

/// Keys of the workload; the wide one (many keys) uses long ones, so the tree is tall and a
/// checkpoint's pages span index segments.
fn key(k: u64, keys: u64) -> Vec<u8> {
    if keys >= 200 {
        format!("wide{k:04}-{}", "w".repeat(40 + (k * 13 % 100) as usize)).into_bytes()
    } else {
        format!("key{k:03}-{}", "x".repeat((k * 7 % 60) as usize)).into_bytes()
    }
}

fn record(ops: u64, seed: u64, keys: u64, opts: V2Options, syncs: bool) -> Recording {
    let r = nor_region(if keys >= 200 { 3 * SECTORS } else { SECTORS }, opts);
    let (mut dev, _) = r.into_parts();
    let base = dev.flash().image().to_vec();
    dev.flash_mut().start_trace();
    let ops0 = dev.flash().stats().ops;
    let mut r = mount_dev(dev, opts).unwrap();
    let now = |r: &common::v2::NorRegion| r.device().flash().stats().ops - ops0;
    let mut rng = Rng(seed);
    let mut model = Model::new();
    let mut commits = Vec::new();
    let mut i = 0;
    while i < ops {
        let mut next = model.clone();
        r.begin().unwrap();
        for _ in 0..1 + rng.below(4) {
            i += 1;
            let k = key(rng.below(keys), keys);
            // Grow, then shrink (merges, root shrink), then grow again.
            let del = if (i * 3 / ops) == 1 { 5 } else { 1 };
            if rng.below(6) < del {
                next.remove(&k);
                r.delete(&k).unwrap();
            } else {
                let len = if rng.below(10) == 0 {
                    1500
                } else {
                    rng.below(150) as usize
                };
                let v: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
                next.insert(k.clone(), v.clone());
                r.put(&k, &v).unwrap();
            }
        }
        if rng.below(12) == 0 {
            r.abort();
            continue;
        }
        let called_at = now(&r);
        r.commit().unwrap();
        commits.push(Commit {
            called_at,
            returned_at: now(&r),
            state: next.clone(),
        });
        model = next;
        if syncs && rng.below(10) == 0 {
            r.sync().unwrap();
        }
    }
    // The workload must exercise what the suite is for.
    let c = r.tree_counters();
    let st = r.medium_stats();
    eprintln!(
        "workload: {c:?}, {st:?}, generation {}, {} segments",
        r.generation(),
        r.segment_count()
    );
    assert!(
        c.splits > 0 && c.merges + c.redistributions > 0,
        "no splits or merges: {c:?}"
    );
    assert!(r.generation() >= 4, "too few checkpoints");
    if keys >= 200 {
        assert!(
            c.splits >= 20,
            "the wide tree split only {} times",
            c.splits
        );
        assert!(st.page_writes > 200, "too few pages written: {st:?}");
    } else {
        assert!(
            st.segments_opened > u64::from(r.segment_count()),
            "no segment reuse: {st:?}"
        );
    }
    let (mut dev, _) = r.into_parts();
    Recording {
        base,
        trace: dev.flash_mut().take_trace(),
        commits,
        opts,
    }
}

fn write_after_crash(dev: NorDev, got: &Model, opts: V2Options) -> Result<(Model, NorDev), String> {
    let mut r = mount_dev(dev, opts).map_err(|e| format!("remount: {e:?}"))?;
    let mut expected = got.clone();
    r.begin().map_err(|e| format!("begin after crash: {e:?}"))?;
    r.put(b"after-crash", b"survives")
        .map_err(|e| format!("put after crash: {e:?}"))?;
    expected.insert(b"after-crash".to_vec(), b"survives".to_vec());
    if let Some(k) = got.keys().next().cloned() {
        r.delete(&k)
            .map_err(|e| format!("delete after crash: {e:?}"))?;
        expected.remove(&k);
    }
    r.commit()
        .map_err(|e| format!("commit after crash: {e:?}"))?;
    let (dev, _) = r.into_parts();
    let mut r = mount_dev(dev, opts).map_err(|e| format!("second remount: {e:?}"))?;
    let again = read_all(&mut r).map_err(|e| format!("read after second remount: {e:?}"))?;
    if again != expected {
        return Err("the write after the crash did not survive a remount".into());
    }
    r.check().map_err(|e| format!("second check: {e:?}"))?;
    let (dev, _) = r.into_parts();
    Ok((expected, dev))
}

fn second_cuts(
    crashed: &[u8],
    trace: &[TraceOp],
    before: &Model,
    after: &Model,
    opts: V2Options,
) -> Result<(), String> {
    let mut emu = NorEmulator::from_image(crashed.to_vec());
    for (k, op) in trace.iter().enumerate() {
        for m in [CutMode::NotApplied, CutMode::Torn((k * 613) % 4096 + 1)] {
            let mut e = emu.clone();
            e.apply(op, Some(m));
            let what = format!("second cut at {k} ({m:?})");
            let mut r = mount_image(e.image().to_vec(), opts)
                .map_err(|e| format!("{what}: mount: {e:?}"))?;
            let got = read_all(&mut r).map_err(|e| format!("{what}: read: {e:?}"))?;
            if &got != before && &got != after {
                return Err(format!(
                    "{what}: state is neither before nor after the write"
                ));
            }
            r.check().map_err(|e| format!("{what}: check: {e:?}"))?;
        }
        emu.apply(op, None);
    }
    Ok(())
}

fn check_cut(rec: &Recording, img: Vec<u8>, k: u64, after: u8) -> Result<(), String> {
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
    let mut r = mount_image(img, rec.opts).map_err(|e| format!("mount: {e:?}"))?;
    let got = read_all(&mut r).map_err(|e| format!("read: {e:?}"))?;
    if &got != old && in_flight.is_none_or(|c| got != c.state) {
        return Err(format!(
            "state is neither the last acknowledged commit ({acked}) nor the in-flight one"
        ));
    }
    r.check().map_err(|e| format!("check: {e:?}"))?;
    match after {
        0 => {}
        1 => {
            let (dev, _) = r.into_parts();
            write_after_crash(dev, &got, rec.opts)?;
        }
        _ => {
            let (mut dev, _) = r.into_parts();
            let crashed = dev.flash().image().to_vec();
            dev.flash_mut().start_trace();
            let (expected, mut dev) = write_after_crash(dev, &got, rec.opts)?;
            let trace = dev.flash_mut().take_trace();
            second_cuts(&crashed, &trace, &got, &expected, rec.opts)?;
        }
    }
    Ok(())
}

fn parse_mode(s: &str) -> CutMode {
    match s.strip_prefix("torn") {
        Some(n) => CutMode::Torn(n.parse().unwrap_or(1)),
        None => CutMode::NotApplied,
    }
}

fn mode_name(m: CutMode) -> String {
    match m {
        CutMode::NotApplied => "none".into(),
        CutMode::Torn(n) => format!("torn{n}"),
    }
}

fn run(name: &str, ops: u64, seed: u64, keys: u64, opts: V2Options, every: u64) {
    let only: Option<(u64, CutMode)> = std::env::var("ZOS_CUT").ok().and_then(|c| {
        let mut p = c.split(':');
        (p.next()? == name).then_some(())?;
        Some((p.next()?.parse().ok()?, parse_mode(p.next()?)))
    });
    if std::env::var("ZOS_CUT").is_ok() && only.is_none() {
        return;
    }
    let rec = record(ops, seed, keys, opts, every == 1);
    let mut emu = NorEmulator::from_image(rec.base.clone());
    let mut failures = Vec::new();
    let mut tested = 0;
    for (k, op) in rec.trace.iter().enumerate() {
        let k = k as u64;
        if only.map_or(k.is_multiple_of(every), |(c, _)| c == k) {
            let modes = match only {
                Some((_, m)) => vec![m],
                None => vec![
                    CutMode::NotApplied,
                    CutMode::Torn((k as usize * 7919) % 4096 + 1),
                ],
            };
            for m in modes {
                let mut e = emu.clone();
                e.apply(op, Some(m));
                tested += 1;
                let after = if k.is_multiple_of(35) {
                    2
                } else if k.is_multiple_of(5) {
                    1
                } else {
                    0
                };
                if let Err(msg) = check_cut(&rec, e.image().to_vec(), k, after) {
                    eprintln!(
                        "v2 power-loss failure: cut id {name}:{k}:{} — {msg}",
                        mode_name(m)
                    );
                    failures.push(format!("{name}:{k}:{}", mode_name(m)));
                }
            }
        }
        emu.apply(op, None);
    }
    if only.is_none()
        && let Err(msg) = check_cut(&rec, emu.image().to_vec(), rec.trace.len() as u64, 2)
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
        "{} failing cuts, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[test]
fn v2_power_loss_small_every_cut() {
    run("small", 420, 0x5EED_0001, 80, nor_opts(), 1);
}

/// Long tails: checkpoints only every 40 KiB of journal, so the journal rolls over several
/// segments between checkpoints and segments are reused while the tail is long (rule F must
/// keep every segment of the durable checkpoint's tail, whatever its live count).
#[test]
fn v2_power_loss_long_tail() {
    let opts = V2Options {
        ckpt_bytes: 40 * 1024,
        max_deltas: 64,
        ..nor_opts()
    };
    run("long-tail", 600, 0x5EED_0003, 40, opts, 2);
}

/// A wide index: 300 long keys (over 20 splits, 1-KiB pages), checkpoints of many pages
/// that span index segments; every fifth cut.
#[test]
fn v2_power_loss_wide_index() {
    run("wide", 450, 0x5EED_0004, 300, nor_opts(), 5);
}
