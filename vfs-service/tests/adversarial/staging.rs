//! Failed flushes and discards give their space back.

use storage_backend::Db;
use vfs_service::inode::keys;
use vfs_service::protocol::messages::OpenFlags;
use vfs_service::{Limits, Vfs, WriteBuffer};

use crate::common::{RamVfs, ram_store};
use crate::env::{BOB, TestEnv, app, system};

fn records(vfs: &mut RamVfs, prefix: u8) -> usize {
    vfs.store_mut()
        .scan(Db::Userspace, &[prefix], None, usize::MAX)
        .unwrap()
        .len()
}

fn write_flags() -> OpenFlags {
    OpenFlags {
        read: true,
        write: true,
        create: true,
        ..Default::default()
    }
}

#[test]
fn a_discard_after_a_failed_flush_gives_the_staged_space_back() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(8), Limits::default());
    // Write-through: these cases are about staged data in the store, which buffered writes
    // reach only when their buffer fills (`write_path.rs` covers the buffered case).
    vfs.set_write_buffer(WriteBuffer {
        pieces: 0,
        total_bytes: 0,
    });
    vfs.boot(&env).unwrap();
    let bob = app(&env, 20, BOB);
    let pieces_before = records(&mut vfs, keys::CONTENT);
    let bytes_before = vfs.store_mut().usage(Db::Userspace).unwrap().bytes;
    let h = vfs
        .open(&bob, "/tmp/f", write_flags(), None, None)
        .unwrap()
        .handle;
    for _ in 0..10 {
        vfs.handle_write(&bob, h, &[7; 3968]).unwrap();
    }
    assert!(records(&mut vfs, keys::CONTENT) >= pieces_before + 9);
    // The file goes away under the handle: the flush cannot commit.
    vfs.unlink(&system(&env), "/tmp/f").unwrap();
    assert!(vfs.handle_flush(&bob, h).is_err());
    // The discard answers Ok and the staged pieces are gone at once, staging record included.
    vfs.handle_discard(&bob, h).unwrap();
    assert_eq!(records(&mut vfs, keys::STAGING), 0);
    assert_eq!(records(&mut vfs, keys::CONTENT), pieces_before);
    assert_eq!(vfs.reclaimable().unwrap().objects, 0);
    assert!(vfs.store_mut().usage(Db::Userspace).unwrap().bytes <= bytes_before);
}

#[test]
fn a_staging_record_no_handle_uses_is_collected() {
    // What a discard that could not finish leaves (a staging record and its pieces, no
    // handle): the collector between requests finds it, and so does boot.
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(8), Limits::default());
    // Write-through: these cases are about staged data in the store, which buffered writes
    // reach only when their buffer fills (`write_path.rs` covers the buffered case).
    vfs.set_write_buffer(WriteBuffer {
        pieces: 0,
        total_bytes: 0,
    });
    vfs.boot(&env).unwrap();
    let bob = app(&env, 20, BOB);
    let pieces_before = records(&mut vfs, keys::CONTENT);
    let live = vfs
        .open(&bob, "/tmp/live", write_flags(), None, None)
        .unwrap()
        .handle;
    vfs.handle_write(&bob, live, &[1; 3968]).unwrap();
    let h = vfs
        .open(&bob, "/tmp/f", write_flags(), None, None)
        .unwrap()
        .handle;
    for _ in 0..3 {
        vfs.handle_write(&bob, h, &[2; 3968]).unwrap();
    }
    // The handle is lost without a word (a restart of the VFS, as far as the store knows).
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, Limits::default());
    // Write-through: these cases are about staged data in the store, which buffered writes
    // reach only when their buffer fills (`write_path.rs` covers the buffered case).
    vfs.set_write_buffer(WriteBuffer {
        pieces: 0,
        total_bytes: 0,
    });
    vfs.attach().unwrap();
    assert_eq!(records(&mut vfs, keys::STAGING), 2);
    assert_eq!(vfs.reclaimable().unwrap().objects, 2);
    while vfs.collect_garbage(2).unwrap() {}
    assert_eq!(records(&mut vfs, keys::STAGING), 0);
    assert_eq!(records(&mut vfs, keys::CONTENT), pieces_before);

    // The collector leaves a live handle's stage alone.
    let bob = app(&env, 20, BOB);
    let h = vfs
        .open(&bob, "/tmp/g", write_flags(), None, None)
        .unwrap()
        .handle;
    for _ in 0..2 {
        vfs.handle_write(&bob, h, &[3; 3968]).unwrap();
    }
    while vfs.collect_garbage(64).unwrap() {}
    assert_eq!(records(&mut vfs, keys::STAGING), 1);
    assert_eq!(vfs.reclaimable().unwrap().objects, 0);
    vfs.handle_close(&bob, h).unwrap();
    let back = vfs.read_file(&bob, "/tmp/g", 0, None, None).unwrap();
    assert_eq!(back.size, 3968 * 2);
    assert!(back.data.iter().all(|&b| b == 3));
}
