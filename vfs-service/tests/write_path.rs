//! The write path's costs, counted: store commits per operation (the VFS's own counter) and
//! device I/O (the RAM device's counters). Each test fails if the write path goes back to a
//! transaction per step (issue 12 item 4, issue 14 item 4).

mod common;

use common::{RamVfs, TestEnv, creds, ram_store};
use kernel_abi::ProcessClass;
use storage_backend::block::IoCounters;
use uuid::Uuid;
use vfs_service::protocol::messages::OpenFlags;
use vfs_service::{Ctx, Limits, Vfs};

const ALICE: Uuid = Uuid::from_u128(0xa11ce);

fn system(env: &TestEnv) -> Ctx<'_> {
    Ctx {
        caller: creds(1, ProcessClass::System, None),
        env,
    }
}

fn alice(env: &TestEnv) -> Ctx<'_> {
    Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env,
    }
}

fn booted(env: &TestEnv) -> RamVfs {
    let mut vfs = Vfs::new(ram_store(16), Limits::default());
    vfs.boot(env).unwrap();
    vfs.create_home(&system(env), ALICE).unwrap();
    vfs.collect_all().unwrap();
    vfs
}

fn commits(vfs: &RamVfs) -> u64 {
    vfs.write_stats().store_commits
}

fn io(vfs: &mut RamVfs) -> IoCounters {
    vfs.store_mut().device().counters()
}

fn create_flags() -> OpenFlags {
    OpenFlags {
        read: true,
        write: true,
        create: true,
        ..Default::default()
    }
}

fn path(name: &str) -> String {
    format!("/home/{ALICE}/Documents/{name}")
}

/// Collects until nothing is left, as the server does between requests.
fn settle(vfs: &mut RamVfs) {
    while vfs.collect_garbage(64).unwrap() {}
}

#[test]
fn create_write_close_of_a_small_file_is_one_commit() {
    let env = TestEnv::new();
    let mut vfs = booted(&env);
    let a = alice(&env);
    let data = vec![0x5a; 3000];
    let before = commits(&vfs);
    let h = vfs
        .open(&a, &path("small"), create_flags(), None, None)
        .unwrap()
        .handle;
    vfs.handle_write(&a, h, &data).unwrap();
    vfs.handle_close(&a, h).unwrap();
    assert_eq!(commits(&vfs) - before, 1, "create + write + close");
    assert_eq!(
        vfs.read_file(&a, &path("small"), 0, None, None)
            .unwrap()
            .data,
        data
    );
    // A message-sized file in two writes (what a client sends for 4 KiB) is one commit too.
    let before = commits(&vfs);
    let h = vfs
        .open(&a, &path("four"), create_flags(), None, None)
        .unwrap()
        .handle;
    vfs.handle_write(&a, h, &[1; 3968]).unwrap();
    vfs.handle_write(&a, h, &[2; 128]).unwrap();
    vfs.handle_close(&a, h).unwrap();
    assert_eq!(commits(&vfs) - before, 1, "4 KiB through a handle");
    let back = vfs
        .read_file(&a, &path("four"), 3968, None, None)
        .unwrap()
        .data;
    assert_eq!(back, vec![2; 128]);
}

#[test]
fn a_small_whole_file_write_is_one_commit_and_leaves_nothing_to_collect() {
    let env = TestEnv::new();
    let mut vfs = booted(&env);
    let a = alice(&env);
    let before = commits(&vfs);
    vfs.write_file(&a, &path("w"), &[3; 4096], None, None)
        .unwrap();
    assert_eq!(commits(&vfs) - before, 1);
    let dev = io(&mut vfs);
    assert!(!vfs.collect_garbage(64).unwrap());
    assert_eq!(commits(&vfs) - before, 1, "collection committed");
    assert_eq!(
        io(&mut vfs),
        dev,
        "collection with nothing to collect did I/O"
    );
}

#[test]
fn collection_with_nothing_to_collect_does_no_device_io() {
    let env = TestEnv::new();
    let mut vfs = booted(&env);
    let a = alice(&env);
    // Some history: an overwrite and an unlink left garbage, collected below.
    vfs.write_file(&a, &path("x"), &[1; 9000], None, None)
        .unwrap();
    vfs.write_file(&a, &path("x"), &[2; 9000], None, None)
        .unwrap();
    vfs.write_file(&a, &path("y"), &[3; 100], None, None)
        .unwrap();
    vfs.unlink(&a, &path("y")).unwrap();
    settle(&mut vfs);
    // Live handles: a reader pinning its version, a writer with a large stage (so staged data
    // is on the medium, under a staging record the collector must leave alone).
    let ro = OpenFlags {
        read: true,
        ..Default::default()
    };
    let r = vfs.open(&a, &path("x"), ro, None, None).unwrap().handle;
    let w = vfs
        .open(&a, &path("big"), create_flags(), None, None)
        .unwrap()
        .handle;
    for i in 0..300u32 {
        vfs.handle_write(&a, w, &[i as u8; 3968]).unwrap();
    }
    settle(&mut vfs);
    // No value cache: what the collector reads, it reads from the device.
    vfs.store_mut()
        .set_cache_bytes(storage_backend::Db::Userspace, 0)
        .unwrap();
    let dev = io(&mut vfs);
    let before = commits(&vfs);
    for _ in 0..10 {
        assert!(!vfs.collect_garbage(64).unwrap());
    }
    assert_eq!(commits(&vfs), before, "collection committed");
    assert_eq!(
        io(&mut vfs),
        dev,
        "collection with nothing to collect did I/O"
    );
    // The collector still works when there is something: the reader's old version, once the
    // file is replaced and the reader gone.
    vfs.write_file(&a, &path("x"), &[4; 100], None, None)
        .unwrap();
    vfs.handle_close(&a, r).unwrap();
    let used = vfs
        .store_mut()
        .usage(storage_backend::Db::Userspace)
        .unwrap();
    settle(&mut vfs);
    let after = vfs
        .store_mut()
        .usage(storage_backend::Db::Userspace)
        .unwrap();
    assert!(after.objects < used.objects, "nothing was collected");
    vfs.handle_close(&a, w).unwrap();
    assert_eq!(vfs.stat(&a, &path("big"), true).unwrap().size, 300 * 3968);
}
