//! STATFS and SYNC (issue 15, item 7): `df`'s figures follow what the filesystem holds, the
//! kernel database is shown to System callers only, the engine is named, and SYNC is what puts
//! the running system's footer (master hash and time) on the medium.

mod semantics_support;

use semantics_support::{ALICE, TestEnv, callers, home, setup};
use storage_backend::{CryptoEngine, block::RamDevice};
use storage_backend::{Db, DbKeys, SoftwareEngine, Store};
use vfs_service::protocol::EngineClass;

#[test]
fn statfs_follows_the_tree_and_the_medium() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let before = vfs.statfs(&c.alice).unwrap();
    let data = vec![7u8; 100_000];
    let path = format!("{}/Documents/big", home(ALICE));
    vfs.write_file(&c.alice, &path, &data, None, None).unwrap();
    let after = vfs.statfs(&c.alice).unwrap();

    assert_eq!(after.tree.files, before.tree.files + 1);
    assert_eq!(after.tree.directories, before.tree.directories);
    assert_eq!(after.tree.bytes, before.tree.bytes + data.len() as u64);
    let (u0, u1) = (&before.userspace, &after.userspace);
    assert_eq!(u1.capacity_bytes, u0.capacity_bytes);
    assert!(u1.objects > u0.objects, "{u0:?} -> {u1:?}");
    assert!(
        u1.live_bytes >= u0.live_bytes + data.len() as u64,
        "{u0:?} -> {u1:?}"
    );
    assert!(
        u1.free_bytes + data.len() as u64 <= u0.free_bytes,
        "{u0:?} -> {u1:?}"
    );
    assert!(u1.live_bytes + u1.free_bytes <= u1.capacity_bytes);

    // Removing the file gives the tree's figures back at once (the medium's after cleaning).
    vfs.unlink(&c.alice, &path).unwrap();
    let removed = vfs.statfs(&c.alice).unwrap();
    assert_eq!(removed.tree.files, before.tree.files);
    assert_eq!(removed.tree.bytes, before.tree.bytes);
    // The limits are the service's (vfs_service::Limits::default()), its reserve inside them.
    assert_eq!(removed.tree.max_files, 1 << 24);
    assert_eq!(removed.tree.max_bytes, 1 << 40);
    assert!(removed.tree.reserved_bytes > 0 && removed.tree.reserved_bytes < 1 << 40);
}

#[test]
fn the_kernel_database_is_for_system_callers_only() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    for ctx in [&c.alice, &c.bob, &c.anon] {
        assert_eq!(vfs.statfs(ctx).unwrap().kernel, None);
    }
    let k = vfs
        .statfs(&c.system)
        .unwrap()
        .kernel
        .expect("System sees the kernel database");
    // Two homes were registered and audited there.
    assert!(k.objects >= 4, "{k:?}");
    assert!(k.capacity_bytes > 0 && k.live_bytes > 0);
}

#[test]
fn the_engine_that_protects_the_data_is_named() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let s = vfs.statfs(&c.anon).unwrap().security;
    assert_eq!(s.engine, EngineClass::Software);
    assert_eq!(s.engine_name, "software");
    assert_eq!(s.cipher, "AES-256-GCM");
    assert_eq!(s.integrity, "SHA-256 hash chain");
}

/// Remounts the store of `vfs`'s device and returns the userspace database's footer time.
fn remounted_footer_time(vfs: semantics_support::RamVfs) -> u64 {
    let (device, _) = vfs.into_store().into_parts();
    let mut engine = SoftwareEngine::new();
    // The keys of `common::ram_store`.
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).unwrap(),
        userspace: engine.import_key(&[0x22; 32]).unwrap(),
    };
    let store: Store<RamDevice, SoftwareEngine> = Store::mount(device, engine, keys).unwrap();
    store.modified_ns(Db::Userspace).unwrap()
}

#[test]
fn sync_writes_the_footer_with_the_running_system_s_time() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    vfs.write_file(&c.alice, "/tmp/x", b"synced", None, None)
        .unwrap();
    env.skip_days(30);
    let marker = {
        use vfs_service::Env;
        env.now_ns()
    };
    vfs.sync(&c.alice).unwrap();
    let footer = remounted_footer_time(vfs);
    assert!(footer > marker, "footer at {footer}, sync after {marker}");
}

#[test]
fn without_sync_no_footer_carries_the_later_time() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    vfs.write_file(&c.alice, "/tmp/x", b"not synced", None, None)
        .unwrap();
    env.skip_days(30);
    let marker = {
        use vfs_service::Env;
        env.now_ns()
    };
    let footer = remounted_footer_time(vfs);
    assert!(
        footer < marker,
        "footer at {footer}, no sync after {marker}"
    );
}

#[test]
fn a_sync_with_nothing_changed_writes_nothing() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    vfs.write_file(&c.alice, "/tmp/x", b"data", None, None)
        .unwrap();
    vfs.sync(&c.anon).unwrap();
    let written = vfs.store_mut().device().counters().bytes_written;
    for _ in 0..100 {
        vfs.sync(&c.anon).unwrap();
    }
    assert_eq!(vfs.store_mut().device().counters().bytes_written, written);
}
