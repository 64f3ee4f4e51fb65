//! `/tmp` filled until the store refuses: nobody may be locked out afterwards.
//!
//! Each attack runs twice: on a store whose userspace database is full by its byte limit
//! (refusals `ResourceLimitExceeded`), and on one whose medium is full (refusals `NoSpace`).
//! The second is ignored for now: on a full medium the store still refuses some of these
//! removals with `NoSpace` (boot's emptying of `/tmp`, an unlink in a full home), see the
//! README's "What does not work yet"; run them with `--ignored`. What already holds on a full
//! medium — boot completes, again and again — is checked by `a_full_medium_never_stops_boot`.

use storage_backend::Db;
use vfs_service::{Ctx, Limits, Vfs, VfsError};

use crate::common::{RamVfs, ram_store, ram_store_with};
use crate::env::{ALICE, BOB, TestEnv, app, system};

/// A small store: 1 MiB of kernel database, 3 MiB of userspace.
const STORE_MIB: u64 = 4;

/// The whole content of `path`, read in message-sized ranges.
fn read_all(vfs: &mut RamVfs, ctx: &Ctx<'_>, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let r = vfs
            .read_file(ctx, path, out.len() as u64, None, None)
            .unwrap();
        if r.data.is_empty() {
            return out;
        }
        out.extend_from_slice(&r.data);
    }
}

fn full(e: &VfsError) -> bool {
    matches!(e, VfsError::NoSpace | VfsError::ResourceLimitExceeded)
}

/// Boots a new filesystem with Alice's and Bob's homes, then has Bob's application write
/// files into `/tmp` (which counts against no quota) until the store refuses: large ones
/// first, then ever smaller ones, so the store ends full to its last record. Returns the
/// files written, in order.
fn fill_tmp(vfs: &mut RamVfs, env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let sys = system(env);
    vfs.create_home(&sys, ALICE).unwrap();
    vfs.create_home(&sys, BOB).unwrap();
    let bob = app(env, 20, BOB);
    vfs.mkdir(&bob, "/tmp/dir", false, None).unwrap();
    let mut files = Vec::new();
    let mut refused = 0;
    for size in [32 * 1024, 4096, 512, 16, 0] {
        loop {
            let path = if files.len() % 3 == 0 {
                format!("/tmp/dir/f{}", files.len())
            } else {
                format!("/tmp/f{}", files.len())
            };
            let data: Vec<u8> = (0..size).map(|i| (i * 7 + files.len()) as u8).collect();
            match vfs.write_file(&bob, &path, &data, None, None) {
                Ok(()) => files.push((path, data)),
                Err(e) if full(&e) => {
                    refused += 1;
                    break;
                }
                Err(e) => panic!("filling {path}: {e:?}"),
            }
            assert!(files.len() < 100_000, "the store never filled up");
        }
    }
    assert_eq!(refused, 5, "every size was refused in the end");
    // Full indeed: not even an empty directory fits any more.
    let e = vfs.mkdir(&bob, "/tmp/one-more", false, None).unwrap_err();
    assert!(full(&e), "{e:?}");
    files
}

/// A store whose userspace database may hold 1.5 MiB of keys and values (of 3 MiB).
fn limited_store() -> RamVfs {
    let limits = storage_backend::Limits {
        max_objects: u64::MAX,
        max_bytes: 1536 * 1024,
    };
    Vfs::new(ram_store_with(STORE_MIB, limits), Limits::default())
}

/// A store with no limit but its medium.
fn unlimited_store() -> RamVfs {
    Vfs::new(ram_store(STORE_MIB), Limits::default())
}

#[test]
fn a_store_filled_through_tmp_to_its_limit_locks_nobody_out() {
    tmp_attack(limited_store());
}

#[test]
#[ignore = "on a full medium the store still refuses some removals (see module doc)"]
fn a_medium_filled_through_tmp_locks_nobody_out() {
    tmp_attack(unlimited_store());
}

#[test]
fn a_full_medium_never_stops_boot() {
    // What the product needs first: whatever the store still refuses on a full medium (see
    // the module doc), boot completes — the VFS serves, reads work — instead of stopping with
    // an error at every power-on.
    let env = TestEnv::new();
    let mut vfs = unlimited_store();
    vfs.boot(&env).unwrap();
    let files = fill_tmp(&mut vfs, &env);
    for round in 2..5 {
        let store = vfs.into_store();
        vfs = Vfs::new(store, Limits::default());
        let report = vfs.boot(&env).unwrap();
        assert_eq!(report.boot_count, round, "{report:?}");
        let sys = system(&env);
        let (path, data) = files[files.len() / 2].clone();
        if vfs.exists(&sys, &path) == Ok(true) {
            assert!(read_all(&mut vfs, &sys, &path) == data, "{path}");
        }
        assert!(vfs.exists(&sys, "/home").unwrap());
    }
}

#[test]
fn boot_completes_on_a_store_full_to_its_limit_of_files_it_may_not_delete() {
    home_attack(limited_store());
}

#[test]
#[ignore = "on a full medium the store still refuses some removals (see module doc)"]
fn boot_completes_on_a_full_medium_of_files_it_may_not_delete() {
    home_attack(unlimited_store());
}

fn tmp_attack(mut vfs: RamVfs) {
    let env = TestEnv::new();
    vfs.boot(&env).unwrap();
    let files = fill_tmp(&mut vfs, &env);
    let sys = system(&env);
    let bob = app(&env, 20, BOB);

    // READ works on the full store, even when it is due an access-time update.
    env.skip_days(2);
    let (path, data) = files[1].clone();
    assert!(read_all(&mut vfs, &bob, &path) == data);
    let (path, data) = files[files.len() / 2].clone();
    assert!(read_all(&mut vfs, &sys, &path) == data);

    // Unlink works for the owner and for System.
    vfs.unlink(&bob, &files[1].0).unwrap();
    vfs.unlink(&sys, &files[2].0).unwrap();
    assert_eq!(
        vfs.exists(&sys, &files[1].0),
        Ok(false),
        "the owner's unlink took effect"
    );
    assert_eq!(vfs.exists(&sys, &files[2].0), Ok(false));
    // And rmdir -r of a directory full of files.
    vfs.rmdir(&bob, "/tmp/dir", true).unwrap();
    assert_eq!(vfs.exists(&sys, "/tmp/dir"), Ok(false));

    // Restart the VFS on the same medium: boot succeeds and empties /tmp.
    let in_tmp = vfs.usage(&sys, "/tmp").unwrap().entries;
    assert!(in_tmp > 30, "{in_tmp}");
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, Limits::default());
    let report = vfs.boot(&env).unwrap();
    assert_eq!(report.boot_count, 2);
    assert_eq!(report.tmp_cleaned, in_tmp, "{report:?}");
    assert_eq!(report.skipped_writes, 0, "{report:?}");
    let sys = system(&env);
    let listing = vfs.readdir(&sys, "/tmp", None).unwrap();
    assert!(listing.entries.is_empty());
    let machine = vfs
        .read_file(&sys, "/system/config/machine.json", 0, None, None)
        .unwrap();
    let text = String::from_utf8(machine.data).unwrap();
    assert!(text.contains("\"boot_count\":2"), "{text}");
    assert_eq!(vfs.reclaimable().unwrap().objects, 0);

    // A user at 0 % of her quota saves 4 KB.
    let alice = app(&env, 21, ALICE);
    let four_kb = vec![0x5a; 4096];
    let doc = format!("/home/{ALICE}/Documents/report.txt");
    vfs.write_file(&alice, &doc, &four_kb, None, None).unwrap();
    assert!(read_all(&mut vfs, &alice, &doc) == four_kb);
    assert!(vfs.store_mut().check(Db::Userspace).is_ok());
}

/// Full through a user's home this time: boot has nothing it may free, and must still come
/// up, with every file intact.
fn home_attack(mut vfs: RamVfs) {
    let env = TestEnv::new();
    vfs.boot(&env).unwrap();
    let sys = system(&env);
    vfs.create_home(&sys, ALICE).unwrap();
    vfs.set_quota(&sys, ALICE, u64::MAX).unwrap();
    let alice = app(&env, 21, ALICE);
    let mut written = Vec::new();
    for size in [32 * 1024, 1024, 16] {
        loop {
            let path = format!("/home/{ALICE}/Documents/f{}", written.len());
            let data = vec![written.len() as u8; size];
            match vfs.write_file(&alice, &path, &data, None, None) {
                Ok(()) => written.push((path, data)),
                Err(e) if full(&e) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    for round in 2..5 {
        let store = vfs.into_store();
        vfs = Vfs::new(store, Limits::default());
        let report = vfs.boot(&env).unwrap();
        assert_eq!(report.boot_count, round);
    }
    let sys = system(&env);
    for (path, data) in written.iter().step_by(7) {
        assert!(&read_all(&mut vfs, &sys, path) == data, "{path}");
    }
    // Deleting one file makes room again.
    vfs.unlink(&alice, &written[0].0).unwrap();
    vfs.collect_all().unwrap();
    vfs.write_file(&alice, &written[0].0, b"back", None, None)
        .unwrap();
}
