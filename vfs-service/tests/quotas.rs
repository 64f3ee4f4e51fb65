//! Quotas and limits that hold (issue 15 item 3), attacked: every rule is played against the
//! VFS on a real store, each test asserting the safe outcome. Each fails when its rule is
//! switched off: `/tmp` counted against nobody, staged versions not charged, entries free, one
//! shared identity without a quota, no reserve for System, limits not read from the kernel
//! database.

mod common;

use common::{RamVfs, TestEnv, creds, ram_store};
use kernel_abi::ProcessClass;
use uuid::Uuid;
use vfs_service::accounts::{ENTRY_COST, FsLimits, RESERVE_DIVISOR};
use vfs_service::permission::FilePermissions;
use vfs_service::protocol::messages::{OpenFlags, SeekFrom};
use vfs_service::{Ctx, Limits, Vfs, VfsError};

const ALICE: Uuid = Uuid::from_u128(0xa11ce);
const BOB: Uuid = Uuid::from_u128(0xb0b);

fn system(env: &TestEnv) -> Ctx<'_> {
    Ctx {
        caller: creds(1, ProcessClass::System, None),
        env,
    }
}

fn app(env: &TestEnv, index: u16, user: Option<Uuid>) -> Ctx<'_> {
    Ctx {
        caller: creds(index, ProcessClass::Application, user),
        env,
    }
}

fn booted(env: &TestEnv, limits: Limits) -> RamVfs {
    let mut vfs = Vfs::new(ram_store(16), limits);
    vfs.boot(env).unwrap();
    vfs.create_home(&system(env), ALICE).unwrap();
    vfs.create_home(&system(env), BOB).unwrap();
    vfs
}

fn create() -> OpenFlags {
    OpenFlags {
        write: true,
        create: true,
        ..Default::default()
    }
}

#[test]
fn filling_tmp_counts_against_the_quota_of_its_owner() {
    let env = TestEnv::new();
    let mut vfs = booted(&env, Limits::default());
    let sys = system(&env);
    let bob = app(&env, 20, Some(BOB));
    let base = vfs.quota(&bob, BOB).unwrap().used;
    vfs.set_quota(&sys, BOB, base + 100_000).unwrap();
    let mut written = 0u64;
    let err = loop {
        match vfs.write_file(&bob, &format!("/tmp/f{written}"), &[7; 3968], None, None) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 1000, "/tmp is not counted against Bob's quota");
    };
    assert_eq!(err, VfsError::QuotaExceeded);
    // Exactly what fits: 3,968 bytes and one entry each.
    assert_eq!(written, 100_000 / (3968 + ENTRY_COST));
    let q = vfs.quota(&bob, BOB).unwrap();
    assert!(q.used <= q.limit);
    // The refused write left nothing; Alice is not affected.
    assert!(!vfs.exists(&bob, &format!("/tmp/f{written}")).unwrap());
    let alice = app(&env, 21, Some(ALICE));
    vfs.write_file(&alice, "/tmp/alice", &[1; 3968], None, None)
        .unwrap();
    // Removing gives the quota back.
    vfs.unlink(&bob, "/tmp/f0").unwrap();
    vfs.write_file(&bob, "/tmp/again", &[7; 3968], None, None)
        .unwrap();
}

#[test]
fn staged_writes_count_and_many_handles_cannot_add_up_past_the_quota() {
    let env = TestEnv::new();
    let mut vfs = booted(&env, Limits::default());
    let sys = system(&env);
    let bob = app(&env, 20, Some(BOB));
    let base = vfs.quota(&bob, BOB).unwrap().used;
    let limit = base + 64 * 1024;
    vfs.set_quota(&sys, BOB, limit).unwrap();
    // One huge write far past the end: refused whole, nothing staged.
    let h = vfs
        .open(&bob, "/tmp/huge", create(), None, None)
        .unwrap()
        .handle;
    vfs.handle_seek(&bob, h, SeekFrom::Start(1 << 30)).unwrap();
    assert_eq!(
        vfs.handle_write(&bob, h, &[1; 10]).unwrap_err(),
        VfsError::QuotaExceeded
    );
    vfs.handle_discard(&bob, h).unwrap();
    // Eight handles each stage what they can, without committing anything.
    let mut staged = 0u64;
    let mut handles = Vec::new();
    for i in 0..8 {
        // Once the quota is used up, not even the new file's entry fits.
        let h = match vfs.open(&bob, &format!("/tmp/s{i}"), create(), None, None) {
            Ok(o) => o.handle,
            Err(e) => {
                assert_eq!(e, VfsError::QuotaExceeded);
                assert!(i >= 1, "the first handle could not even open");
                break;
            }
        };
        loop {
            match vfs.handle_write(&bob, h, &[2; 3968]) {
                Ok(n) => staged += u64::from(n),
                Err(e) => {
                    assert_eq!(e, VfsError::QuotaExceeded);
                    break;
                }
            }
            assert!(staged < 1 << 22, "staging is not charged");
        }
        handles.push(h);
    }
    // Together they stayed within the quota (the files' entries included).
    assert!(staged <= 64 * 1024, "{staged} bytes staged");
    assert!(staged >= 64 * 1024 - 9 * (3968 + ENTRY_COST), "{staged}");
    let q = vfs.quota(&bob, BOB).unwrap();
    assert!(q.used <= limit, "{q:?}");
    // They commit: still within the quota, and the charge is the same.
    for h in handles {
        vfs.handle_close(&bob, h).unwrap();
    }
    assert_eq!(vfs.quota(&bob, BOB).unwrap().used, q.used);
    // A truncating rewrite needs room for the new version while the old one stays.
    let h = vfs
        .open(
            &bob,
            "/tmp/s0",
            OpenFlags {
                truncate: true,
                ..create()
            },
            None,
            None,
        )
        .unwrap()
        .handle;
    assert_eq!(
        vfs.handle_write(&bob, h, &[3; 3968]).unwrap_err(),
        VfsError::QuotaExceeded
    );
    vfs.handle_discard(&bob, h).unwrap();
    // A DISCARD gives a staged charge back.
    vfs.set_quota(&sys, BOB, limit + 1000).unwrap();
    let h = vfs
        .open(
            &bob,
            "/tmp/s0",
            OpenFlags {
                truncate: true,
                ..create()
            },
            None,
            None,
        )
        .unwrap()
        .handle;
    let before = vfs.quota(&bob, BOB).unwrap().used;
    vfs.handle_write(&bob, h, &[3; 100]).unwrap();
    assert_eq!(vfs.quota(&bob, BOB).unwrap().used, before + 100);
    vfs.handle_discard(&bob, h).unwrap();
    assert_eq!(vfs.quota(&bob, BOB).unwrap().used, before);
}

#[test]
fn empty_entries_cost_a_minimum_and_the_entry_limits_hold() {
    let env = TestEnv::new();
    let mut vfs = booted(&env, Limits::default());
    let sys = system(&env);
    let bob = app(&env, 20, Some(BOB));
    // Empty files, directories and symlinks are not free.
    let base = vfs.quota(&bob, BOB).unwrap().used;
    vfs.set_quota(&sys, BOB, base + 30 * ENTRY_COST).unwrap();
    let mut made = 0;
    let err = loop {
        let r = match made % 3 {
            0 => vfs.write_file(&bob, &format!("/tmp/e{made}"), b"", None, None),
            1 => vfs.mkdir(&bob, &format!("/tmp/d{made}"), false, None),
            _ => vfs.symlink(&bob, "x", &format!("/tmp/l{made}")),
        };
        match r {
            Ok(()) => made += 1,
            Err(e) => break e,
        }
        assert!(made < 10_000, "empty entries cost nothing");
    };
    assert_eq!(err, VfsError::QuotaExceeded);
    // 30 entries' worth, less the symlinks' one-byte targets.
    assert!((29..=30).contains(&made), "{made}");

    // The filesystem's entry limits, separately for files and directories.
    let limits = Limits {
        max_files: 320,
        max_directories: 64,
        ..Limits::default()
    };
    let env = TestEnv::new();
    let mut vfs = booted(&env, limits);
    let sys = system(&env);
    let guest = app(&env, 30, None);
    let report = vfs.fs_report();
    let mut files = 0;
    let err = loop {
        match vfs.write_file(&guest, &format!("/tmp/g{files}"), b"", None, None) {
            Ok(()) => files += 1,
            Err(e) => break e,
        }
        assert!(files < 1000, "no file limit");
    };
    assert_eq!(err, VfsError::ResourceLimitExceeded);
    let reserve = 320 / RESERVE_DIVISOR;
    assert_eq!(report.files + files, 320 - reserve);
    // Directories are limited on their own: still possible after the files ran out.
    let mut dirs = 0;
    let err = loop {
        match vfs.mkdir(&guest, &format!("/tmp/h{dirs}"), false, None) {
            Ok(()) => dirs += 1,
            Err(e) => break e,
        }
        assert!(dirs < 1000, "no directory limit");
    };
    assert_eq!(err, VfsError::ResourceLimitExceeded);
    assert_eq!(report.directories + dirs, 64 - 64 / RESERVE_DIVISOR);
    // System still creates files, in its reserve, up to the limit itself.
    for i in 0..reserve {
        vfs.write_file(&sys, &format!("/system/r{i}"), b"", None, None)
            .unwrap();
    }
    assert_eq!(
        vfs.write_file(&sys, "/system/over", b"", None, None)
            .unwrap_err(),
        VfsError::ResourceLimitExceeded
    );
    let r = vfs.fs_report();
    assert_eq!(r.files, 320);
    assert_eq!(r.limits.max_files, 320);
}

#[test]
fn applications_without_a_user_have_a_quota_of_their_own() {
    let env = TestEnv::new();
    let mut vfs = booted(&env, Limits::default());
    let sys = system(&env);
    let guest = app(&env, 30, None);
    let other = app(&env, 31, None);
    // Their quota is the nil user's; they may read it, users may not.
    let apps = Uuid::nil();
    let before = vfs.quota(&guest, apps).unwrap().used;
    assert_eq!(
        vfs.quota(&app(&env, 20, Some(BOB)), apps).unwrap_err(),
        VfsError::PermissionDenied
    );
    vfs.set_quota(&sys, apps, before + 20 * (3968 + ENTRY_COST))
        .unwrap();
    let mut n = 0;
    let err = loop {
        let who = if n % 2 == 0 { &guest } else { &other };
        match vfs.write_file(who, &format!("/tmp/a{n}"), &[5; 3968], None, None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000, "user-less applications have no quota");
    };
    assert_eq!(err, VfsError::QuotaExceeded);
    assert_eq!(n, 20);
    // Nor can they slip past it by creating entries that would be System's (owner-less, not
    // world-writable): refused, nothing created.
    vfs.set_quota(&sys, apps, u64::MAX).unwrap();
    let private = FilePermissions::from_bits(0b000_0011);
    assert_eq!(
        vfs.mkdir(&guest, "/tmp/mine", false, Some(private))
            .unwrap_err(),
        VfsError::PermissionDenied
    );
    assert_eq!(
        vfs.write_file(&guest, "/tmp/mine", b"x", None, Some(private))
            .unwrap_err(),
        VfsError::PermissionDenied
    );
    assert!(!vfs.exists(&sys, "/tmp/mine").unwrap());
    // Users are not charged for it, and still write.
    let bob = app(&env, 20, Some(BOB));
    let bob_used = vfs.quota(&bob, BOB).unwrap().used;
    vfs.write_file(&bob, "/tmp/bob", &[1; 3968], None, None)
        .unwrap();
    assert_eq!(
        vfs.quota(&bob, BOB).unwrap().used,
        bob_used + 3968 + ENTRY_COST
    );
}

#[test]
fn system_keeps_working_when_users_are_full() {
    let env = TestEnv::new();
    let limits = Limits {
        max_bytes: 2 << 20,
        ..Limits::default()
    };
    let mut vfs = booted(&env, limits);
    let sys = system(&env);
    let alice = app(&env, 21, Some(ALICE));
    let bob = app(&env, 20, Some(BOB));
    // Two users with generous quotas fill the filesystem together, through /tmp and home.
    let mut n = 0;
    let err = loop {
        let (who, path) = if n % 2 == 0 {
            (&alice, format!("/home/{ALICE}/Documents/x{n}"))
        } else {
            (&bob, format!("/tmp/y{n}"))
        };
        match vfs.write_file(who, &path, &[9; 3968 * 4], None, None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 10_000, "never full");
    };
    assert_eq!(err, VfsError::ResourceLimitExceeded);
    // Smaller writes too, down to an empty file's worth of content: users are full.
    assert_eq!(
        vfs.write_file(&bob, "/tmp/small", &[1; 64 * 1024], None, None)
            .unwrap_err(),
        VfsError::ResourceLimitExceeded
    );
    let report = vfs.fs_report();
    let reserve = report.reserve.max_bytes;
    assert_eq!(reserve, (2 << 20) / RESERVE_DIVISOR);
    assert!(report.bytes + reserve <= 2 << 20);
    // System still writes: its configuration, and a file half the size of the reserve.
    vfs.write_file(
        &sys,
        "/system/config/x.json",
        &vec![1; reserve as usize / 2],
        None,
        None,
    )
    .unwrap();
    // And boots: machine.json is rewritten, nothing skipped.
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, limits);
    let report = vfs.boot(&env).unwrap();
    assert_eq!(report.skipped_writes, 0, "{report:?}");
}

#[test]
fn limits_are_configured_in_the_kernel_database_and_reported() {
    let env = TestEnv::new();
    let mut vfs = booted(&env, Limits::default());
    let sys = system(&env);
    let bob = app(&env, 20, Some(BOB));
    let want = FsLimits {
        max_files: 1000,
        max_directories: 200,
        max_bytes: 5 << 20,
    };
    assert_eq!(
        vfs.set_fs_limits(&bob, want).unwrap_err(),
        VfsError::PermissionDenied
    );
    vfs.set_fs_limits(&sys, want).unwrap();
    assert_eq!(vfs.fs_limits(), want);
    let before = vfs.fs_report();
    vfs.write_file(&bob, "/tmp/one", &[1; 1000], None, None)
        .unwrap();
    vfs.mkdir(&bob, "/tmp/dir", false, None).unwrap();
    let after = vfs.fs_report();
    assert_eq!(after.files, before.files + 1);
    assert_eq!(after.directories, before.directories + 1);
    assert_eq!(after.bytes, before.bytes + 1000);
    // A restart reads them back from the kernel database, over the configured defaults, and
    // rebuilds the holdings from the tree (minus /tmp, which boot empties).
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, Limits::default());
    vfs.boot(&env).unwrap();
    assert_eq!(vfs.fs_limits(), want);
    let rebooted = vfs.fs_report();
    assert_eq!(rebooted.files, before.files);
    assert_eq!(rebooted.directories, before.directories);
    assert_eq!(rebooted.bytes, before.bytes);
    assert_eq!(rebooted.reserve.max_files, 1000 / RESERVE_DIVISOR);
}
