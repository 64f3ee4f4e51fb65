//! Depth: no operation creates an entry deeper than `MAX_DEPTH`, RENAME included, and any tree
//! that exists — even one deeper than the limit, left by an older version — can be removed,
//! by `rmdir -r` and by boot's emptying of `/tmp`.

use storage_backend::Db;
use vfs_service::inode::{Inode, Kind, ROOT_ID, keys};
use vfs_service::permission::FilePermissions;
use vfs_service::protocol::limits::MAX_DEPTH;
use vfs_service::{Limits, Vfs, VfsError};

use crate::common::{RamVfs, ram_store};
use crate::env::{BOB, TestEnv, app, system};

const STORE_MIB: u64 = 16;

/// `/{root}/a/a/.../a` with `levels` levels of `a` below `root`.
fn deep_path(root: &str, levels: usize) -> String {
    let mut p = String::from(root);
    for _ in 0..levels {
        p.push_str("/a");
    }
    p
}

#[test]
fn mkdir_p_and_rename_cannot_build_a_tree_deeper_than_the_limit() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(STORE_MIB), Limits::default());
    vfs.boot(&env).unwrap();
    let bob = app(&env, 20, BOB);
    // The attack: three `mkdir -p` of 360 levels (no path over 1,024 bytes) and two
    // renames that would stack them 1,081 deep.
    for root in ["/tmp/x", "/tmp/y", "/tmp/z"] {
        let path = deep_path(root, 360);
        assert!(path.len() <= 1024);
        vfs.mkdir(&bob, &path, true, None).unwrap();
    }
    let bottom_x = deep_path("/tmp/x", 360);
    assert_eq!(
        vfs.rename(&bob, "/tmp/y", &format!("{bottom_x}/y")),
        Err(VfsError::InvalidPath)
    );
    // Nothing moved.
    assert_eq!(vfs.exists(&bob, "/tmp/y/a"), Ok(true));
    // A move that stays within the limit is fine: 361 + 1 + 150 levels = 512.
    let bottom_y150 = deep_path("/tmp/y", 150);
    vfs.rmdir(&bob, &format!("{bottom_y150}/a"), true).unwrap();
    let x150 = deep_path("/tmp/x", 360 - 1);
    vfs.rename(&bob, "/tmp/y", &format!("{x150}/y")).unwrap();
    // The bottom is now MAX_DEPTH deep: its path is longer than a path may be, so reach it
    // (and the level above it) through relative symlinks in /tmp.
    let below_tmp = format!("x{}/y", "/a".repeat(359));
    let bottom = format!("{below_tmp}{}", "/a".repeat(150));
    let above = format!("{below_tmp}{}", "/a".repeat(149));
    assert!(bottom.len() <= 1024);
    vfs.symlink(&bob, &bottom, "/tmp/s").unwrap();
    vfs.symlink(&bob, &above, "/tmp/t").unwrap();
    assert_eq!(MAX_DEPTH, 512);
    // One level more is refused, for a directory and for a file: the short path through the
    // symlink gains nothing, the depth is the tree's.
    assert_eq!(
        vfs.mkdir(&bob, "/tmp/s/b", false, None),
        Err(VfsError::InvalidPath)
    );
    assert_eq!(
        vfs.mkdir(&bob, "/tmp/s/b/c/d", true, None),
        Err(VfsError::InvalidPath)
    );
    assert_eq!(
        vfs.write_file(&bob, "/tmp/s/f", b"x", None, None),
        Err(VfsError::InvalidPath)
    );
    // At the limit itself creation works.
    vfs.write_file(&bob, "/tmp/t/f", b"x", None, None).unwrap();
    vfs.unlink(&bob, "/tmp/t/f").unwrap();
    // RENAME: an empty directory may land at the limit, one holding a file may not.
    vfs.mkdir(&bob, "/tmp/v", false, None).unwrap();
    vfs.rename(&bob, "/tmp/v", "/tmp/t/v").unwrap();
    vfs.rmdir(&bob, "/tmp/t/v", false).unwrap();
    vfs.mkdir(&bob, "/tmp/w", false, None).unwrap();
    vfs.write_file(&bob, "/tmp/w/f", b"x", None, None).unwrap();
    assert_eq!(
        vfs.rename(&bob, "/tmp/w", "/tmp/t/w"),
        Err(VfsError::InvalidPath)
    );
    assert_eq!(vfs.exists(&bob, "/tmp/w/f"), Ok(true));
    // And all of it goes with rmdir -r.
    vfs.rmdir(&bob, "/tmp/x", true).unwrap();
    vfs.rmdir(&bob, "/tmp/z", true).unwrap();
    assert_eq!(vfs.exists(&bob, "/tmp/x"), Ok(false));
    let usage = vfs.usage(&system(&env), "/tmp").unwrap();
    assert_eq!(
        usage.entries, 4,
        "/tmp/w, /tmp/w/f, /tmp/s, /tmp/t left: {usage:?}"
    );
}

/// Writes a chain of `levels` directories named `d` below `/tmp` straight into the store, as
/// a version without the depth limit could have left it (totals kept exact). Returns the id
/// of the chain's top.
fn legacy_chain(vfs: &mut RamVfs, levels: u64) -> u64 {
    let store = vfs.store_mut();
    let next = u64::from_be_bytes(
        store.get(Db::Userspace, keys::NEXT_ID).unwrap().unwrap()[..8]
            .try_into()
            .unwrap(),
    );
    let tmp_id = u64::from_be_bytes(
        store
            .get(Db::Userspace, &keys::dirent(ROOT_ID, "tmp"))
            .unwrap()
            .unwrap()[..8]
            .try_into()
            .unwrap(),
    );
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for i in 0..levels {
        let id = next + i;
        let parent = if i == 0 { tmp_id } else { id - 1 };
        let inode = Inode {
            id,
            parent,
            name: "d".into(),
            kind: Kind::Dir {
                tree_bytes: 0,
                tree_entries: levels - 1 - i,
            },
            owner: Some(BOB),
            perms: FilePermissions::ALL.bits(),
            created_ns: 1,
            modified_ns: 1,
            accessed_ns: 1,
            size: 0,
            enc: None,
            sha256: vfs_service::crypto::empty_hash(),
        };
        records.push((keys::inode(id), postcard::to_allocvec(&inode).unwrap()));
        records.push((keys::dirent(parent, "d"), id.to_be_bytes().to_vec()));
    }
    for id in [tmp_id, ROOT_ID] {
        let mut inode: Inode =
            postcard::from_bytes(&store.get(Db::Userspace, &keys::inode(id)).unwrap().unwrap())
                .unwrap();
        if let Kind::Dir { tree_entries, .. } = &mut inode.kind {
            *tree_entries += levels;
        }
        records.push((keys::inode(id), postcard::to_allocvec(&inode).unwrap()));
    }
    records.push((
        keys::NEXT_ID.to_vec(),
        (next + levels).to_be_bytes().to_vec(),
    ));
    for batch in records.chunks(128) {
        let mut txn = store.begin(Db::Userspace).unwrap();
        for (k, v) in batch {
            txn.put(k, v).unwrap();
        }
        txn.commit().unwrap();
    }
    next
}

#[test]
fn a_legacy_tree_deeper_than_the_limit_is_removable_by_rmdir_and_by_boot() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(STORE_MIB), Limits::default());
    vfs.boot(&env).unwrap();
    let bob = app(&env, 20, BOB);
    let sys = system(&env);

    // 1,100 levels: deeper than the limit and than a path can name.
    let levels = 1100;
    legacy_chain(&mut vfs, levels);
    assert_eq!(vfs.usage(&sys, "/tmp").unwrap().entries, levels);
    vfs.rmdir(&bob, "/tmp/d", true).unwrap();
    assert_eq!(vfs.exists(&sys, "/tmp/d"), Ok(false));
    assert_eq!(vfs.usage(&sys, "/tmp").unwrap().entries, 0);
    assert_eq!(vfs.reclaimable().unwrap().detached, 0, "reaped completely");
    // Every record of the chain is gone.
    let first = legacy_chain(&mut vfs, levels);
    vfs.rmdir(&sys, "/tmp/d", true).unwrap();
    for id in [first, first + levels / 2, first + levels - 1] {
        assert_eq!(
            vfs.store_mut()
                .get(Db::Userspace, &keys::inode(id))
                .unwrap(),
            None
        );
    }

    // Boot empties the same kind of tree out of /tmp.
    legacy_chain(&mut vfs, levels);
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, Limits::default());
    let report = vfs.boot(&env).unwrap();
    assert_eq!(report.tmp_cleaned, levels);
    let sys = system(&env);
    assert_eq!(vfs.usage(&sys, "/tmp").unwrap().entries, 0);
    assert_eq!(vfs.reclaimable().unwrap().detached, 0);
}

#[test]
fn an_interrupted_removal_is_finished_by_the_collector_and_by_boot() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(STORE_MIB), Limits::default());
    vfs.boot(&env).unwrap();
    let levels = 300;
    let first = legacy_chain(&mut vfs, levels);
    // Detach as rmdir -r does, then reap only part of it, as if reaping had stopped.
    let sys = system(&env);
    vfs.rmdir(&sys, "/tmp/d", true).unwrap();
    assert_eq!(vfs.exists(&sys, "/tmp/d"), Ok(false));
    assert_eq!(
        vfs.store_mut()
            .get(Db::Userspace, &keys::inode(first))
            .unwrap(),
        None
    );
    // A second chain, detached by hand with a record of its own (the state a crash after the
    // detaching transaction leaves): the collector finds and removes it within its budget.
    let second = legacy_chain(&mut vfs, levels);
    {
        let store = vfs.store_mut();
        let tmp_id: Inode = postcard::from_bytes(
            &store
                .get(Db::Userspace, &keys::inode(second))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        let mut txn = store.begin(Db::Userspace).unwrap();
        txn.delete(&keys::dirent(tmp_id.parent, "d")).unwrap();
        txn.put(&keys::detached(second), &[]).unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(vfs.reclaimable().unwrap().detached, 1);
    let mut passes = 0;
    while vfs.collect_garbage(64).unwrap() {
        passes += 1;
        assert!(passes < 1000);
    }
    assert!(passes >= 4, "the budget bounds each pass: {passes}");
    assert_eq!(vfs.reclaimable().unwrap().detached, 0);
    for id in second..second + levels {
        assert_eq!(
            vfs.store_mut()
                .get(Db::Userspace, &keys::inode(id))
                .unwrap(),
            None
        );
    }
}
