//! The VFS over NOR flash, cut at every program and erase of a workload of multi-commit
//! operations: home creation (both databases, the registry), whole-file writes, a handle's
//! writes with a flush between, rename, `rmdir -r`, audited quota and owner changes, a reboot
//! (boot empties `/tmp`) and writes after it. After each cut the image must mount and boot, and
//! what it shows must be the state after the last acknowledged operation or, whole, the state
//! after the operation in flight — never a mix, never an audit entry or a registered user
//! without its change. (Issue 14's VFS-level power-loss suite; issue 15's cross-database
//! atomicity.)
//!
//! Every cut is tested with the interrupted operation not applied; torn operations on every
//! third cut (every cut with `ZOS_EXHAUSTIVE=1`). A write after boot follows every fifth cut.
//! `ZOS_CUT=<n>` checks one cut.

mod common;

use std::collections::BTreeMap;

use common::TestEnv;
use kernel_abi::ProcessClass;
use storage_backend::block::{CutMode, NorEmulator, NorFlashDevice, TraceOp};
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};
use uuid::Uuid;
use vfs_service::protocol::messages::{FileKind, Handle, OpenFlags};
use vfs_service::{Ctx, Limits, Vfs, VfsError};

type Dev = NorFlashDevice<NorEmulator>;
type NorVfs = Vfs<Dev, SoftwareEngine>;

const SECTORS: usize = 640;
const NOR_BLOCK: u32 = 256;
const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);
const BOB: Uuid = Uuid::from_u128(0x0b0b0000_0000_4000_8000_000000000002);

fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[0x11; 32]).unwrap();
    let userspace = e.import_key(&[0x22; 32]).unwrap();
    (e, DbKeys { kernel, userspace })
}

fn mount(img: Vec<u8>) -> Result<NorVfs, String> {
    let dev = NorFlashDevice::new(NorEmulator::from_image(img), NOR_BLOCK).unwrap();
    let (e, k) = engine();
    let store = Store::mount(dev, e, k).map_err(|e| format!("mount: {e:?}"))?;
    Ok(Vfs::new(store, Limits::default()))
}

fn ctx(env: &TestEnv, index: u16, class: ProcessClass, user: Option<Uuid>) -> Ctx<'_> {
    Ctx {
        caller: common::creds(index, class, user),
        env,
    }
}

fn docs(user: Uuid, name: &str) -> String {
    format!("/home/{user}/Documents/{name}")
}

/// What a client can see, less what boot rewrites (`/tmp`, `machine.json`) and times: every
/// entry with its kind, owner, permissions, size and content; the registered users, the audit
/// log and the quota limits.
fn snapshot(vfs: &mut NorVfs, env: &TestEnv) -> Result<BTreeMap<String, String>, String> {
    let sys = ctx(env, 2, ProcessClass::System, None);
    let mut out = BTreeMap::new();
    let mut dirs = vec![String::from("/")];
    while let Some(dir) = dirs.pop() {
        let mut cursor: Option<String> = None;
        loop {
            let page = vfs
                .readdir(&sys, &dir, cursor.as_deref())
                .map_err(|e| format!("readdir {dir}: {e:?}"))?;
            for e in page.entries {
                let st = vfs
                    .stat(&sys, &e.path, false)
                    .map_err(|err| format!("stat {}: {err:?}", e.path))?;
                let what = match st.kind {
                    FileKind::Directory => {
                        if e.path != "/tmp" {
                            dirs.push(e.path.clone());
                        }
                        String::from("dir")
                    }
                    FileKind::Symlink(target) => format!("link -> {target}"),
                    FileKind::File if e.path == "/system/config/machine.json" => continue,
                    FileKind::File => {
                        let mut data = Vec::new();
                        while (data.len() as u64) < st.size {
                            let r = vfs
                                .read_file(&sys, &e.path, data.len() as u64, None, None)
                                .map_err(|err| format!("read {}: {err:?}", e.path))?;
                            if r.data.is_empty() {
                                return Err(format!("{}: short read", e.path));
                            }
                            data.extend_from_slice(&r.data);
                        }
                        format!("file {}", String::from_utf8_lossy(&data))
                    }
                };
                out.insert(
                    e.path.clone(),
                    format!(
                        "{what} owner={:?} perms={:?} size={}",
                        st.owner, st.permissions, st.size
                    ),
                );
            }
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
    }
    let users = vfs
        .store_mut()
        .scan(Db::Kernel, b"users/", None, 100)
        .map_err(|e| format!("users: {e:?}"))?;
    out.insert("#users".into(), format!("{}", users.len()));
    let mut after = 0;
    let mut audit = Vec::new();
    loop {
        let page = vfs
            .audit_log(&sys, after)
            .map_err(|e| format!("audit: {e:?}"))?;
        for e in &page.entries {
            audit.push(e.action.clone());
            after = e.seq;
        }
        if !page.more {
            break;
        }
    }
    out.insert("#audit".into(), audit.join("; "));
    for user in [ALICE, BOB] {
        let q = vfs.quota(&sys, user).map_err(|e| format!("quota: {e:?}"))?;
        out.insert(format!("#quota {user}"), format!("{}", q.limit));
    }
    Ok(out)
}

/// One operation of the workload, or a reboot.
type Step = fn(&mut Option<NorVfs>, &TestEnv, &mut Option<Handle>) -> Result<(), VfsError>;

fn on(vfs: &mut Option<NorVfs>) -> &mut NorVfs {
    vfs.as_mut().expect("a mounted VFS")
}

fn steps() -> Vec<(&'static str, Step)> {
    vec![
        ("create_home bob", |v, env, _| {
            on(v).create_home(&ctx(env, 2, ProcessClass::System, None), BOB)
        }),
        ("write a", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).write_file(&a, &docs(ALICE, "a"), &b"A".repeat(5000), None, None)
        }),
        ("open b", |v, env, h| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            let flags = OpenFlags {
                write: true,
                create: true,
                ..Default::default()
            };
            *h = Some(on(v).open(&a, &docs(ALICE, "b"), flags, None, None)?.handle);
            Ok(())
        }),
        ("write b 1", |v, env, h| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v)
                .handle_write(&a, h.unwrap(), &[b'1'; 3968])
                .map(|_| ())
        }),
        ("write b 2", |v, env, h| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v)
                .handle_write(&a, h.unwrap(), &[b'2'; 3968])
                .map(|_| ())
        }),
        ("flush b", |v, env, h| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).handle_flush(&a, h.unwrap())
        }),
        ("write b 3", |v, env, h| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).handle_write(&a, h.unwrap(), &[b'3'; 100]).map(|_| ())
        }),
        ("close b", |v, env, h| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).handle_close(&a, h.take().unwrap())
        }),
        ("rename a a2", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).rename(&a, &docs(ALICE, "a"), &docs(ALICE, "a2"))
        }),
        ("mkdir -p tree", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).mkdir(&a, &docs(ALICE, "tree/x/y"), true, None)
        }),
        ("write tree f1", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).write_file(&a, &docs(ALICE, "tree/x/f1"), b"one", None, None)
        }),
        ("write tree f2", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).write_file(&a, &docs(ALICE, "tree/x/y/f2"), b"two", None, None)
        }),
        ("rmdir -r tree", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).rmdir(&a, &docs(ALICE, "tree"), true)
        }),
        ("mkdir /tmp/d/e", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).mkdir(&a, "/tmp/d/e", true, None)
        }),
        ("write /tmp/d/e/t", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).write_file(&a, "/tmp/d/e/t", &b"T".repeat(4500), None, None)
        }),
        ("set_quota alice", |v, env, _| {
            on(v).set_quota(&ctx(env, 2, ProcessClass::System, None), ALICE, 50 << 20)
        }),
        ("chown a2 bob", |v, env, _| {
            let sys = ctx(env, 2, ProcessClass::System, None);
            on(v).chown(&sys, &docs(ALICE, "a2"), Some(BOB))
        }),
        ("reboot", |v, env, _| {
            let (dev, _) = v.take().unwrap().into_store().into_parts();
            let (e, k) = engine();
            let store = Store::mount(dev, e, k).map_err(|_| VfsError::StorageError)?;
            let mut vfs = Vfs::new(store, Limits::default());
            vfs.boot(env)?;
            *v = Some(vfs);
            Ok(())
        }),
        ("write c", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).write_file(&a, &docs(ALICE, "c"), b"after reboot", None, None)
        }),
        ("symlink", |v, env, _| {
            let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
            on(v).symlink(&a, "c", &docs(ALICE, "link"))
        }),
    ]
}

struct Recording {
    base: Vec<u8>,
    trace: Vec<TraceOp>,
    /// Trace length when each step returned (its last device operation is before it).
    ends: Vec<usize>,
    /// The state before the first step, then after each.
    states: Vec<BTreeMap<String, String>>,
}

/// The state an image shows to a fresh mount (attach, no boot: nothing is written to it).
fn state_of(img: Vec<u8>, env: &TestEnv) -> BTreeMap<String, String> {
    let mut vfs = mount(img).unwrap();
    vfs.attach().unwrap();
    snapshot(&mut vfs, env).unwrap()
}

fn record(env: &TestEnv) -> Recording {
    let dev = NorFlashDevice::new(NorEmulator::new(SECTORS), NOR_BLOCK).unwrap();
    let (e, k) = engine();
    let opts = FormatOptions {
        kernel_units: Some(96),
        ..FormatOptions::default()
    };
    let mut vfs = Vfs::new(Store::format(dev, e, k, &opts).unwrap(), Limits::default());
    vfs.boot(env).unwrap();
    vfs.create_home(&ctx(env, 2, ProcessClass::System, None), ALICE)
        .unwrap();
    let (mut dev, _) = vfs.into_store().into_parts();
    let base = dev.flash().image().to_vec();
    dev.flash_mut().start_trace();
    let ops0 = dev.flash().stats().ops;
    let (e, k) = engine();
    let mut vfs = Vfs::new(Store::mount(dev, e, k).unwrap(), Limits::default());
    vfs.attach().unwrap();
    let mut v = Some(vfs);
    let mut states = vec![state_of(base.clone(), env)];
    let mut ends = Vec::new();
    let mut handle = None;
    for (name, step) in steps() {
        step(&mut v, env, &mut handle).unwrap_or_else(|e| panic!("step {name}: {e:?}"));
        // Between requests the server collects garbage; a cut there changes nothing visible.
        while on(&mut v).collect_garbage(64).unwrap() {}
        let flash = on(&mut v).store_mut().device().flash();
        ends.push((flash.stats().ops - ops0) as usize);
        states.push(state_of(flash.image().to_vec(), env));
    }
    let (mut dev, _) = v.take().unwrap().into_store().into_parts();
    let trace = dev.flash_mut().take_trace();
    assert_eq!(trace.len(), *ends.last().unwrap());
    Recording {
        base,
        trace,
        ends,
        states,
    }
}

fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let mut out = Vec::new();
    for (k, v) in a {
        if b.get(k) != Some(v) {
            out.push(format!("{k}: {v:?} vs {:?}", b.get(k)));
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("{k}: missing vs {:?}", b[k]));
    }
    out.join("\n  ")
}

/// Mounts and boots the image cut at trace index `cut`; its state must be the one after the
/// last step completed before the cut, or after the step in flight.
fn check(
    rec: &Recording,
    env: &TestEnv,
    img: Vec<u8>,
    cut: usize,
    write_after: bool,
) -> Result<(), String> {
    let done = rec.ends.iter().filter(|&&e| e <= cut).count();
    let mut vfs = mount(img)?;
    vfs.boot(env).map_err(|e| format!("boot: {e:?}"))?;
    let got = snapshot(&mut vfs, env)?;
    let before = &rec.states[done];
    let after = rec.states.get(done + 1);
    if &got != before && Some(&got) != after {
        return Err(format!(
            "{done} steps done; against the state before the step in flight:\n  {}\nagainst the state after it:\n  {}",
            diff(&got, before),
            after.map(|a| diff(&got, a)).unwrap_or_default()
        ));
    }
    if write_after {
        let a = ctx(env, 10, ProcessClass::Application, Some(ALICE));
        vfs.write_file(&a, &docs(ALICE, "after-cut"), b"still writable", None, None)
            .map_err(|e| format!("write after the cut: {e:?}"))?;
    }
    Ok(())
}

#[test]
fn vfs_power_loss_at_every_cut() {
    let env = TestEnv::new();
    let rec = record(&env);
    let exhaustive = std::env::var("ZOS_EXHAUSTIVE").is_ok_and(|v| v == "1");
    let only: Option<usize> = std::env::var("ZOS_CUT").ok().and_then(|c| c.parse().ok());
    let mut emu = NorEmulator::from_image(rec.base.clone());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (k, op) in rec.trace.iter().enumerate() {
        if only.is_none_or(|c| c == k) {
            let mut modes = vec![CutMode::NotApplied];
            if exhaustive || k % 3 == 0 {
                modes.push(CutMode::Torn((k * 7919) % 4096 + 1));
            }
            for m in modes {
                let mut e = emu.clone();
                e.apply(op, Some(m));
                checked += 1;
                if let Err(msg) = check(&rec, &env, e.image().to_vec(), k, k % 5 == 0) {
                    eprintln!("cut {k} ({m:?}): {msg}");
                    failures.push(k);
                }
            }
        }
        emu.apply(op, None);
    }
    let end = check(&rec, &env, emu.image().to_vec(), rec.trace.len(), true);
    assert!(end.is_ok(), "the complete run: {end:?}");
    eprintln!(
        "{} steps, {} device operations, {checked} cuts checked",
        rec.ends.len(),
        rec.trace.len()
    );
    // The workload must reach what it is meant to test.
    let last = rec.states.last().unwrap();
    assert!(last["#audit"].contains("create_home") && last["#audit"].contains("chown"));
    assert_eq!(last["#users"], "2");
    assert!(
        rec.trace.len() > 200,
        "{} device operations",
        rec.trace.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing cuts, first {:?} (ZOS_CUT=<n>)",
        failures.len(),
        &failures[..failures.len().min(8)]
    );
}
