//! Operations on both databases are atomic (issue 15, item 7): an audited change whose
//! userspace part the store refuses leaves no audit entry, no registered user and no quota
//! record behind, and CREATE_HOME's `registry.json` changes with the home. Power cuts between
//! the two commits are `power_loss.rs`'s.

mod semantics_support;

use kernel_abi::ProcessClass;
use semantics_support::{ALICE, BOB, RamVfs, TestEnv, creds, ram_store, ram_store_with};
use storage_backend::{Db, Limits};
use vfs_service::{Ctx, Vfs, VfsError};

/// The audit log's actions, oldest first.
fn audit_actions(vfs: &mut RamVfs, sys: &Ctx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = vfs.audit_log(sys, after).unwrap();
        for e in &page.entries {
            out.push(e.action.clone());
            after = e.seq;
        }
        if !page.more {
            return out;
        }
    }
}

fn user_record(vfs: &mut RamVfs, user: uuid::Uuid) -> Option<Vec<u8>> {
    let mut key = b"users/".to_vec();
    key.extend_from_slice(user.as_bytes());
    vfs.store_mut().get(Db::Kernel, &key).unwrap()
}

/// A booted VFS whose userspace database is filled through `/tmp` to its record limit.
fn full_userspace(env: &TestEnv) -> (RamVfs, Vec<String>) {
    let limits = Limits {
        max_objects: 400,
        max_bytes: u64::MAX,
    };
    let mut vfs = Vfs::new(ram_store_with(32, limits), vfs_service::Limits::default());
    vfs.boot(env).unwrap();
    let sys = Ctx::service(env);
    let mut files = Vec::new();
    for i in 0.. {
        let path = format!("/tmp/f{i}");
        match vfs.write_file(&sys, &path, b"x", None, None) {
            Ok(()) => files.push(path),
            Err(VfsError::ResourceLimitExceeded) => break,
            Err(e) => panic!("filling: {e:?}"),
        }
    }
    assert!(files.len() > 50, "the limit leaves room to boot and fill");
    (vfs, files)
}

#[test]
fn a_refused_home_leaves_no_registration_and_no_audit_entry() {
    let env = TestEnv::new();
    let (mut vfs, files) = full_userspace(&env);
    let sys = Ctx {
        caller: creds(3, ProcessClass::System, None),
        env: &env,
    };
    let audit_before = audit_actions(&mut vfs, &sys);
    assert_eq!(
        vfs.create_home(&sys, ALICE),
        Err(VfsError::ResourceLimitExceeded)
    );
    assert_eq!(audit_actions(&mut vfs, &sys), audit_before);
    assert_eq!(user_record(&mut vfs, ALICE), None);
    assert!(!vfs.exists(&sys, &format!("/home/{ALICE}")).unwrap());

    // With room again the same operation goes through once, registry included.
    for f in files.iter().take(40) {
        vfs.unlink(&sys, f).unwrap();
    }
    vfs.create_home(&sys, ALICE).unwrap();
    let audit = audit_actions(&mut vfs, &sys);
    assert_eq!(audit.len(), audit_before.len() + 1);
    assert_eq!(audit.last().unwrap(), &format!("create_home {ALICE}"));
    assert!(user_record(&mut vfs, ALICE).is_some());
    let registry = vfs
        .read_file(&sys, "/users/registry.json", 0, None, None)
        .unwrap();
    let text = String::from_utf8(registry.data).unwrap();
    assert!(text.contains(&format!("\"id\":\"{ALICE}\"")), "{text}");
}

#[test]
fn a_refused_quota_or_chown_leaves_no_audit_entry() {
    let env = TestEnv::new();
    let (mut vfs, files) = full_userspace(&env);
    let sys = Ctx {
        caller: creds(3, ProcessClass::System, None),
        env: &env,
    };
    // Room for Bob's home, then fill again.
    for f in files.iter().take(40) {
        vfs.unlink(&sys, f).unwrap();
    }
    vfs.create_home(&sys, BOB).unwrap();
    vfs.write_file(&sys, "/tmp/target", b"t", None, None)
        .unwrap();
    let mut i = 0;
    while vfs
        .write_file(&sys, &format!("/tmp/g{i}"), b"x", None, None)
        .is_ok()
    {
        i += 1;
    }
    let audit_before = audit_actions(&mut vfs, &sys);
    let quota_before = vfs.quota(&sys, BOB).unwrap();
    assert_eq!(
        vfs.set_quota(&sys, BOB, 12345),
        Err(VfsError::ResourceLimitExceeded)
    );
    assert_eq!(vfs.quota(&sys, BOB).unwrap(), quota_before);
    // A chown rewrites an existing inode only: it fits, and is audited exactly once.
    vfs.chown(&sys, "/tmp/target", Some(BOB)).unwrap();
    let audit = audit_actions(&mut vfs, &sys);
    assert_eq!(audit.len(), audit_before.len() + 1, "{audit:?}");
    assert!(
        audit.last().unwrap().starts_with("chown /tmp/target"),
        "{audit:?}"
    );
}

#[test]
fn registry_changes_with_each_home_and_boot_repairs_a_stale_one() {
    let env = TestEnv::new();
    let sys = Ctx::service(&env);
    let mut vfs = Vfs::new(ram_store(32), vfs_service::Limits::default());
    vfs.boot(&env).unwrap();
    vfs.create_home(&sys, ALICE).unwrap();
    vfs.create_home(&sys, BOB).unwrap();
    let read = |vfs: &mut RamVfs| {
        let r = vfs
            .read_file(&sys, "/users/registry.json", 0, None, None)
            .unwrap();
        String::from_utf8(r.data).unwrap()
    };
    let registry = read(&mut vfs);
    assert!(registry.contains(&ALICE.to_string()) && registry.contains(&BOB.to_string()));
    // A registry left stale (by an older release that wrote it after the home) is rewritten
    // at boot from the kernel database.
    vfs.write_file(&sys, "/users/registry.json", b"{\"users\":[]}", None, None)
        .unwrap();
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, vfs_service::Limits::default());
    vfs.boot(&env).unwrap();
    assert_eq!(read(&mut vfs), registry);
}
