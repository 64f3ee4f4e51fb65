//! Handles of tasks that are gone: 16 tasks exit holding 16 handles each; init's notice
//! releases them, and only a System task's notice is believed.

use kernel_abi::init_proto::{TASK_STOPPED, TaskStopped};
use kernel_abi::{ProcessClass, TaskId};
use storage_backend::Db;
use vfs_service::inode::keys;
use vfs_service::protocol::limits::{MAX_HANDLES, MAX_HANDLES_PER_TASK};
use vfs_service::protocol::messages::OpenFlags;
use vfs_service::server::dispatch;
use vfs_service::{Ctx, Limits, Vfs, VfsError, WriteBuffer};

use crate::common::{RamVfs, ram_store};
use crate::env::{BOB, TestEnv, app, creds};

fn write_flags() -> OpenFlags {
    OpenFlags {
        read: true,
        write: true,
        create: true,
        ..Default::default()
    }
}

fn records(vfs: &mut RamVfs, prefix: u8) -> usize {
    vfs.store_mut()
        .scan(Db::Userspace, &[prefix], None, usize::MAX)
        .unwrap()
        .len()
}

/// Sends init's notice that `task` stopped, as `sender_class`.
fn notify(vfs: &mut RamVfs, env: &TestEnv, sender_class: ProcessClass, task: TaskId) {
    let sender = creds(0, sender_class, None);
    let payload = TaskStopped { task }.encode();
    let (tag, reply) = dispatch(vfs, env, sender, TASK_STOPPED.0, &payload);
    assert_eq!(tag, TASK_STOPPED.response().0);
    assert!(reply.is_empty());
}

#[test]
fn handles_of_stopped_tasks_are_released_with_their_staged_data() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(8), Limits::default());
    // Write-through: these cases are about staged data in the store, which buffered writes
    // reach only when their buffer fills (`write_path.rs` covers the buffered case).
    vfs.set_write_buffer(WriteBuffer {
        pieces: 0,
        total_bytes: 0,
    });
    vfs.boot(&env).unwrap();
    let pieces_before = records(&mut vfs, keys::CONTENT);
    let tasks = MAX_HANDLES / MAX_HANDLES_PER_TASK;
    assert_eq!(tasks, 16);
    let mut held = Vec::new();
    for t in 0..tasks {
        let ctx = app(&env, 100 + t as u16, BOB);
        for i in 0..MAX_HANDLES_PER_TASK {
            let path = format!("/tmp/t{t}-{i}");
            let h = vfs
                .open(&ctx, &path, write_flags(), None, None)
                .unwrap()
                .handle;
            // Uncommitted data: a staged piece in the store.
            assert_eq!(vfs.handle_write(&ctx, h, &[t as u8; 3968]).unwrap(), 3968);
            held.push((ctx.caller.task, h));
        }
    }
    assert_eq!(records(&mut vfs, keys::STAGING), MAX_HANDLES);
    // The tasks exit. The table is full: nobody else can open anything.
    let newcomer = app(&env, 300, BOB);
    assert_eq!(
        vfs.open(&newcomer, "/tmp/new", write_flags(), None, None)
            .err(),
        Some(VfsError::TooManyHandles)
    );
    // An application cannot pass itself off as init.
    for t in 0..tasks {
        let task = creds(100 + t as u16, ProcessClass::Application, None).task;
        notify(&mut vfs, &env, ProcessClass::Application, task);
        notify(&mut vfs, &env, ProcessClass::Runtime, task);
    }
    assert_eq!(
        vfs.open(&newcomer, "/tmp/new", write_flags(), None, None)
            .err(),
        Some(VfsError::TooManyHandles)
    );
    // Init's notices: every handle goes, and the staged pieces with them.
    for t in 0..tasks {
        let task = creds(100 + t as u16, ProcessClass::Application, None).task;
        notify(&mut vfs, &env, ProcessClass::System, task);
    }
    assert_eq!(records(&mut vfs, keys::STAGING), 0);
    assert_eq!(records(&mut vfs, keys::CONTENT), pieces_before);
    assert_eq!(vfs.reclaimable().unwrap().objects, 0);
    // A new task gets all its handles; the files stayed empty (nothing was committed).
    let h = vfs
        .open(&newcomer, "/tmp/new", write_flags(), None, None)
        .unwrap()
        .handle;
    vfs.handle_close(&newcomer, h).unwrap();
    let ctx = app(&env, 100, BOB);
    assert_eq!(vfs.stat(&ctx, "/tmp/t0-0", true).unwrap().size, 0);
    // A later incarnation of a dead task finds its old handles stale, never another file.
    let mut later = ctx;
    later.caller.task = later.caller.task.next_generation();
    let (_, old) = held[0];
    assert_eq!(
        vfs.handle_write(&later, old, b"x").err(),
        Some(VfsError::StaleHandle)
    );
    for _ in 0..MAX_HANDLES_PER_TASK {
        vfs.open(&later, "/tmp/t0-1", write_flags(), None, None)
            .unwrap();
    }
}

#[test]
fn a_notice_for_one_incarnation_leaves_the_next_one_alone() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(8), Limits::default());
    vfs.boot(&env).unwrap();
    let first = app(&env, 40, BOB);
    let h = vfs
        .open(&first, "/tmp/a", write_flags(), None, None)
        .unwrap()
        .handle;
    let mut second: Ctx<'_> = first;
    second.caller.task = first.caller.task.next_generation();
    let h2 = vfs
        .open(&second, "/tmp/b", write_flags(), None, None)
        .unwrap()
        .handle;
    // The notice about the first incarnation releases its handle, not the second one's.
    notify(&mut vfs, &env, ProcessClass::System, first.caller.task);
    assert_eq!(
        vfs.handle_write(&first, h, b"x").err(),
        Some(VfsError::StaleHandle)
    );
    assert_eq!(vfs.handle_write(&second, h2, b"kept").unwrap(), 4);
    vfs.handle_close(&second, h2).unwrap();
    assert_eq!(
        vfs.read_file(&second, "/tmp/b", 0, None, None)
            .unwrap()
            .data,
        b"kept"
    );
}
