//! The filesystem core driven directly (no IPC) over a `storage-backend` store on a RAM device.

mod common;

use std::cell::Cell;

use common::{RamVfs, ram_store, ram_store_with};
use kernel_abi::{Credentials, ProcessClass, TaskId};
use uuid::Uuid;
use vfs_service::accounts::ENTRY_COST;
use vfs_service::protocol::messages::{FileKind, OpenFlags, SeekFrom};

/// Size of each test's RAM store.
const STORE_MIB: u64 = 32;
use vfs_service::{Ctx, Env, Limits, Vfs, VfsError};

struct TestEnv {
    now: Cell<u64>,
    rng: Cell<u64>,
}

impl TestEnv {
    fn new() -> Self {
        Self {
            now: Cell::new(1_700_000_000_000_000_000),
            rng: Cell::new(0x1234_5678_9abc_def1),
        }
    }
}

impl Env for TestEnv {
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1000);
        self.now.get()
    }
    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        for b in out {
            let mut s = self.rng.get();
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            self.rng.set(s);
            *b = s as u8;
        }
        Ok(())
    }
}

const ALICE: Uuid = Uuid::from_u128(0xa11ce);
const BOB: Uuid = Uuid::from_u128(0xb0b);

fn creds(index: u16, class: ProcessClass, user: Option<Uuid>) -> Credentials {
    Credentials {
        task: TaskId {
            index,
            generation: 0,
        },
        user,
        class,
    }
}

fn setup(env: &TestEnv) -> RamVfs {
    let mut vfs = Vfs::new(ram_store(STORE_MIB), Limits::default());
    let report = vfs.boot(env).unwrap();
    assert!(report.first_boot);
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env,
    };
    vfs.create_home(&sys, ALICE).unwrap();
    vfs.create_home(&sys, BOB).unwrap();
    vfs
}

fn home(u: Uuid) -> String {
    format!("/home/{u}")
}

#[test]
fn boot_creates_hierarchy_and_counts_boots() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    for p in [
        "/system/config/machine.json",
        "/system/services",
        "/users/registry.json",
        "/tmp",
    ] {
        assert!(vfs.exists(&sys, p).unwrap(), "{p}");
    }
    let m = vfs
        .read_file(&sys, "/system/config/machine.json", 0, None, None)
        .unwrap();
    let text = String::from_utf8(m.data).unwrap();
    assert!(text.contains("\"boot_count\":1"), "{text}");
    let reg = vfs
        .read_file(&sys, "/users/registry.json", 0, None, None)
        .unwrap();
    assert!(
        String::from_utf8(reg.data)
            .unwrap()
            .contains(&ALICE.to_string())
    );
    let list = vfs
        .readdir(&sys, &format!("{}/.zos", home(ALICE)), None)
        .unwrap();
    assert_eq!(list.entries.len(), 5);
    vfs.write_file(&sys, "/tmp/junk", b"x", None, None).unwrap();
    // Reboot over the same store.
    let store = vfs.into_store();
    let mut vfs = Vfs::new(store, Limits::default());
    let report = vfs.boot(&env).unwrap();
    assert_eq!(report.boot_count, 2);
    assert!(!report.first_boot);
    assert_eq!(report.tmp_cleaned, 1);
    assert!(!vfs.exists(&sys, "/tmp/junk").unwrap());
    let m = vfs
        .read_file(&sys, "/system/config/machine.json", 0, None, None)
        .unwrap();
    assert!(
        String::from_utf8(m.data)
            .unwrap()
            .contains("\"boot_count\":2")
    );
    let audit = vfs.audit_log(&sys, 0).unwrap();
    assert_eq!(audit.entries.len(), 2);
    let runtime = Ctx {
        caller: creds(2, ProcessClass::Runtime, None),
        env: &env,
    };
    assert_eq!(
        vfs.audit_log(&runtime, 0).unwrap_err(),
        VfsError::PermissionDenied
    );
}

#[test]
fn permissions_between_users() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let b = Ctx {
        caller: creds(4, ProcessClass::Application, Some(BOB)),
        env: &env,
    };
    let anon = Ctx {
        caller: creds(5, ProcessClass::Application, None),
        env: &env,
    };
    let f = format!("{}/Documents/secret.txt", home(ALICE));
    vfs.write_file(&a, &f, b"hi", None, None).unwrap();
    assert_eq!(vfs.read_file(&a, &f, 0, None, None).unwrap().data, b"hi");
    assert_eq!(
        vfs.read_file(&b, &f, 0, None, None).unwrap_err(),
        VfsError::PermissionDenied
    );
    assert_eq!(
        vfs.write_file(&b, &f, b"x", None, None).unwrap_err(),
        VfsError::PermissionDenied
    );
    assert_eq!(
        vfs.readdir(&b, &home(ALICE), None).unwrap_err(),
        VfsError::PermissionDenied
    );
    assert_eq!(
        vfs.write_file(&a, "/system/x", b"x", None, None)
            .unwrap_err(),
        VfsError::PermissionDenied
    );
    assert_eq!(
        vfs.write_file(&a, "/users/registry.json", b"x", None, None)
            .unwrap_err(),
        VfsError::PermissionDenied
    );
    assert!(
        vfs.read_file(&a, "/users/registry.json", 0, None, None)
            .is_ok()
    );
    assert_eq!(
        vfs.chown(&a, &f, Some(ALICE)).unwrap_err(),
        VfsError::PermissionDenied
    );
    assert_eq!(
        vfs.chmod(&b, &f, Default::default()).unwrap_err(),
        VfsError::PermissionDenied
    );
    let s = vfs.stat(&a, &f, true).unwrap();
    assert_eq!(s.owner, Some(ALICE));
    assert_eq!(s.kind, FileKind::File);
    vfs.write_file(&anon, "/tmp/anon", b"1", None, None)
        .unwrap();
    assert_eq!(
        vfs.read_file(&anon, "/tmp/anon", 0, None, None)
            .unwrap()
            .data,
        b"1"
    );
    // Symlink escape into another home is still judged at the target.
    let link = format!("{}/link", home(BOB));
    vfs.symlink(&b, &f, &link).unwrap();
    assert_eq!(
        vfs.read_file(&b, &link, 0, None, None).unwrap_err(),
        VfsError::PermissionDenied
    );
}

#[test]
fn symlinks_loops_and_resolution() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let h = home(ALICE);
    vfs.symlink(&a, "loop2", &format!("{h}/loop1")).unwrap();
    vfs.symlink(&a, "loop1", &format!("{h}/loop2")).unwrap();
    assert_eq!(
        vfs.stat(&a, &format!("{h}/loop1"), true).unwrap_err(),
        VfsError::SymlinkLoop
    );
    vfs.symlink(&a, "Documents", &format!("{h}/docs")).unwrap();
    assert_eq!(
        vfs.resolve_path(&a, &format!("{h}/docs/../Music")).unwrap(),
        format!("{h}/Music")
    );
    assert_eq!(
        vfs.resolve_path(&a, &format!("{h}/docs")).unwrap(),
        format!("{h}/Documents")
    );
    assert_eq!(vfs.readlink(&a, &format!("{h}/docs")).unwrap(), "Documents");
    vfs.symlink(&a, "../../../../../..", &format!("{h}/esc"))
        .unwrap();
    assert_eq!(
        vfs.stat(&a, &format!("{h}/esc/x"), true).unwrap_err(),
        VfsError::InvalidPath
    );
}

#[test]
fn streaming_large_files_and_rewrites() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let f = format!("{}/big.bin", home(ALICE));
    let data: Vec<u8> = (0..(1 << 20) + 1).map(|i| (i * 7 % 251) as u8).collect();
    let flags = OpenFlags {
        write: true,
        create: true,
        truncate: true,
        ..Default::default()
    };
    let h = vfs.open(&a, &f, flags, None, None).unwrap().handle;
    for chunk in data.chunks(3968) {
        vfs.handle_write(&a, h, chunk).unwrap();
    }
    // Not visible before close.
    assert_eq!(vfs.stat(&a, &f, true).unwrap().size, 0);
    vfs.handle_close(&a, h).unwrap();
    let st = vfs.stat(&a, &f, true).unwrap();
    assert_eq!(st.size, data.len() as u64);
    let expect: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(&data).into()
    };
    assert_eq!(st.sha256, Some(expect));
    // Stale handle after close.
    assert_eq!(
        vfs.handle_read(&a, h, 10).unwrap_err(),
        VfsError::StaleHandle
    );
    // Read back through a handle.
    let (back, r) = common::open_and_read_all(&mut vfs, &a, &f, None);
    assert_eq!(back, data);
    // A foreign task cannot use the handle.
    let b = Ctx {
        caller: creds(4, ProcessClass::Application, Some(BOB)),
        env: &env,
    };
    assert_eq!(
        vfs.handle_read(&b, r, 10).unwrap_err(),
        VfsError::InvalidHandle
    );
    vfs.handle_close(&a, r).unwrap();
    // Random access rewrite in the middle, then truncate and extend.
    let rw = OpenFlags {
        read: true,
        write: true,
        ..Default::default()
    };
    let h = vfs.open(&a, &f, rw, None, None).unwrap().handle;
    vfs.handle_seek(&a, h, SeekFrom::Start(5000)).unwrap();
    vfs.handle_write(&a, h, b"HELLO").unwrap();
    vfs.handle_truncate(&a, h, 10_000).unwrap();
    vfs.handle_truncate(&a, h, 12_000).unwrap();
    vfs.handle_close(&a, h).unwrap();
    let mut want = data[..10_000].to_vec();
    want[5000..5005].copy_from_slice(b"HELLO");
    want.resize(12_000, 0);
    let (back, r) = common::open_and_read_all(&mut vfs, &a, &f, None);
    assert_eq!(back.len(), want.len());
    assert_eq!(back, want);
    vfs.handle_close(&a, r).unwrap();
    let expect: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(&want).into()
    };
    assert_eq!(vfs.stat(&a, &f, true).unwrap().sha256, Some(expect));
    // Old content is collected.
    vfs.unlink(&a, &f).unwrap();
    while vfs.collect_garbage(1000).unwrap() {}
    let pieces = vfs
        .store_mut()
        .scan(storage_backend::Db::Userspace, b"C", None, 100_000)
        .unwrap();
    assert!(pieces.len() < 10, "{} pieces left", pieces.len());
    let staging = vfs
        .store_mut()
        .scan(storage_backend::Db::Userspace, b"S", None, 100)
        .unwrap();
    assert!(staging.is_empty());
}

#[test]
fn quota_overflow_by_one_byte_changes_nothing() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    // The quota counts a minimum per entry: the home's own entries, and the two files below.
    let base = vfs.quota(&a, ALICE).unwrap().used + 2 * ENTRY_COST;
    let limit = base + 10_000;
    vfs.set_quota(&sys, ALICE, limit).unwrap();
    let f = format!("{}/a", home(ALICE));
    vfs.write_file(&a, &f, &[1u8; 3000], None, None).unwrap();
    let g = format!("{}/Documents/b", home(ALICE));
    let flags = OpenFlags {
        write: true,
        create: true,
        ..Default::default()
    };
    let h = vfs.open(&a, &g, flags, None, None).unwrap().handle;
    vfs.handle_write(&a, h, &[2u8; 3968]).unwrap();
    vfs.handle_write(&a, h, &[2u8; 3032]).unwrap();
    assert_eq!(
        vfs.handle_write(&a, h, &[2u8; 1]).unwrap_err(),
        VfsError::QuotaExceeded
    );
    vfs.handle_close(&a, h).unwrap();
    let q = vfs.quota(&a, ALICE).unwrap();
    assert_eq!(q.used, limit);
    assert!(q.over_soft_limit);
    assert_eq!(q.soft_limit, limit / 100 * 80 + limit % 100 * 80 / 100);
    assert_eq!(
        vfs.write_file(&a, &f, &[1u8; 3001], None, None)
            .unwrap_err(),
        VfsError::QuotaExceeded
    );
    assert_eq!(vfs.stat(&a, &f, true).unwrap().size, 3000);
    assert_eq!(
        vfs.copy(&a, &f, &format!("{}/c", home(ALICE))).unwrap_err(),
        VfsError::QuotaExceeded
    );
    assert_eq!(vfs.usage(&a, &home(ALICE)).unwrap().bytes, 10_000);
    let b = Ctx {
        caller: creds(4, ProcessClass::Application, Some(BOB)),
        env: &env,
    };
    assert_eq!(
        vfs.quota(&b, ALICE).unwrap_err(),
        VfsError::PermissionDenied
    );
}

#[test]
fn rename_moves_subtrees_and_accounting() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let h = home(ALICE);
    vfs.mkdir(&a, &format!("{h}/x/y/z"), true, None).unwrap();
    vfs.write_file(&a, &format!("{h}/x/y/z/f"), b"12345", None, None)
        .unwrap();
    vfs.rename(&a, &format!("{h}/x"), &format!("{h}/Documents/x2"))
        .unwrap();
    assert_eq!(
        vfs.read_file(&a, &format!("{h}/Documents/x2/y/z/f"), 0, None, None)
            .unwrap()
            .data,
        b"12345"
    );
    assert_eq!(vfs.usage(&a, &format!("{h}/Documents")).unwrap().bytes, 5);
    assert_eq!(
        vfs.rename(
            &a,
            &format!("{h}/Documents"),
            &format!("{h}/Documents/x2/in")
        )
        .unwrap_err(),
        VfsError::InvalidMove
    );
    vfs.rmdir(&a, &format!("{h}/Documents/x2"), true).unwrap();
    assert_eq!(vfs.usage(&a, &h).unwrap().bytes, 0);
}

#[test]
fn encrypted_files_need_their_key() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let f = format!("{}/enc", home(ALICE));
    let key = [7u8; 32];
    vfs.write_file(&a, &f, b"top secret", Some(key), None)
        .unwrap();
    assert!(vfs.stat(&a, &f, true).unwrap().encrypted);
    assert_eq!(
        vfs.read_file(&a, &f, 0, None, Some(key)).unwrap().data,
        b"top secret"
    );
    assert_eq!(
        vfs.read_file(&a, &f, 0, None, None).unwrap_err(),
        VfsError::EncryptionError
    );
    assert_eq!(
        vfs.read_file(&a, &f, 0, None, Some([8u8; 32])).unwrap_err(),
        VfsError::EncryptionError
    );
    // Renamed and copied files still open with the same key.
    let g = format!("{}/Documents/enc2", home(ALICE));
    vfs.rename(&a, &f, &g).unwrap();
    vfs.copy(&a, &g, &f).unwrap();
    assert_eq!(
        vfs.read_file(&a, &f, 0, None, Some(key)).unwrap().data,
        b"top secret"
    );
    // Streaming with a key, random access.
    let flags = OpenFlags {
        read: true,
        write: true,
        ..Default::default()
    };
    let h = vfs.open(&a, &g, flags, Some(key), None).unwrap().handle;
    vfs.handle_seek(&a, h, SeekFrom::Start(3)).unwrap();
    vfs.handle_write(&a, h, b"-").unwrap();
    vfs.handle_close(&a, h).unwrap();
    assert_eq!(
        vfs.read_file(&a, &g, 0, None, Some(key)).unwrap().data,
        b"top-secret"
    );
    assert_eq!(
        vfs.open(&a, &g, flags, None, None).unwrap_err(),
        VfsError::EncryptionError
    );
}

#[test]
fn handles_are_bounded_per_task() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let f = format!("{}/f", home(ALICE));
    vfs.write_file(&a, &f, b"x", None, None).unwrap();
    let flags = OpenFlags {
        read: true,
        ..Default::default()
    };
    let mut hs = Vec::new();
    for _ in 0..16 {
        hs.push(vfs.open(&a, &f, flags, None, None).unwrap().handle);
    }
    assert_eq!(
        vfs.open(&a, &f, flags, None, None).unwrap_err(),
        VfsError::TooManyHandles
    );
    // A restarted incarnation of the task finds its old handles stale and gets its slots back.
    let mut restarted = creds(3, ProcessClass::Application, Some(ALICE));
    restarted.task.generation = 1;
    let a2 = Ctx {
        caller: restarted,
        env: &env,
    };
    assert_eq!(
        vfs.handle_read(&a2, hs[0], 1).unwrap_err(),
        VfsError::StaleHandle
    );
    vfs.reap_task(restarted.task);
    assert!(vfs.open(&a2, &f, flags, None, None).is_ok());
}

/// A slot's 16-bit use counter used to wrap: after 65,536 open/close cycles of one slot a
/// long-closed handle named the slot's newest file. The generation no longer wraps.
#[test]
fn a_closed_handle_stays_stale_past_65536_reuses_of_its_slot() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let f = format!("{}/f", home(ALICE));
    let g = format!("{}/g", home(ALICE));
    vfs.write_file(&a, &f, b"first file", None, None).unwrap();
    vfs.write_file(&a, &g, b"other file", None, None).unwrap();
    let rw = OpenFlags {
        read: true,
        write: true,
        ..Default::default()
    };
    let old = vfs.open(&a, &f, rw, None, None).unwrap().handle;
    vfs.handle_close(&a, old).unwrap();
    // The same slot, 65,536 more times: a 16-bit use count is back where `old` was.
    let mut h = old;
    for _ in 0..=u16::MAX {
        h = vfs.open(&a, &g, rw, None, None).unwrap().handle;
        assert_eq!(h.slot, old.slot);
        vfs.handle_close(&a, h).unwrap();
    }
    let live = vfs.open(&a, &g, rw, None, None).unwrap().handle;
    assert_eq!(live.slot, old.slot);
    assert!(live.generation > h.generation && h.generation > old.generation);
    assert_eq!(
        vfs.handle_read(&a, old, 100).unwrap_err(),
        VfsError::StaleHandle
    );
    assert_eq!(
        vfs.handle_write(&a, old, b"X").unwrap_err(),
        VfsError::StaleHandle
    );
    assert_eq!(
        vfs.handle_close(&a, old).unwrap_err(),
        VfsError::StaleHandle
    );
    // The live handle is untouched and the other file unchanged.
    assert_eq!(vfs.handle_read(&a, live, 100).unwrap(), b"other file");
    vfs.handle_close(&a, live).unwrap();
    assert_eq!(
        vfs.read_file(&a, &f, 0, None, None).unwrap().data,
        b"first file"
    );
}

/// An OPEN refused for the handle limits (per task, and in total) creates and truncates nothing.
#[test]
fn an_open_refused_at_the_handle_limit_changes_nothing() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let f = format!("{}/f", home(ALICE));
    vfs.write_file(&a, &f, b"keep me", None, None).unwrap();
    let ro = OpenFlags {
        read: true,
        ..Default::default()
    };
    let create = OpenFlags {
        write: true,
        create: true,
        ..Default::default()
    };
    let truncate = OpenFlags {
        write: true,
        truncate: true,
        ..Default::default()
    };
    for _ in 0..16 {
        vfs.open(&a, &f, ro, None, None).unwrap();
    }
    let before = vfs.quota(&a, ALICE).unwrap().used;
    let new = format!("{}/new", home(ALICE));
    assert_eq!(
        vfs.open(&a, &new, create, None, None).unwrap_err(),
        VfsError::TooManyHandles
    );
    assert_eq!(vfs.stat(&a, &new, true).unwrap_err(), VfsError::NotFound);
    assert_eq!(
        vfs.open(&a, &f, truncate, None, None).unwrap_err(),
        VfsError::TooManyHandles
    );
    assert_eq!(
        vfs.read_file(&a, &f, 0, None, None).unwrap().data,
        b"keep me"
    );
    assert_eq!(vfs.quota(&a, ALICE).unwrap().used, before);

    // The service-wide limit: 15 more tasks of 16 handles fill the table's 256 slots.
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    let shared = "/tmp/shared";
    vfs.write_file(&sys, shared, b"x", None, None).unwrap();
    for task in 10..25 {
        let t = Ctx {
            caller: creds(task, ProcessClass::System, None),
            env: &env,
        };
        for _ in 0..16 {
            vfs.open(&t, shared, ro, None, None).unwrap();
        }
    }
    let last = Ctx {
        caller: creds(40, ProcessClass::System, None),
        env: &env,
    };
    assert_eq!(
        vfs.open(&last, "/tmp/late", create, None, None)
            .unwrap_err(),
        VfsError::TooManyHandles
    );
    assert_eq!(
        vfs.stat(&last, "/tmp/late", true).unwrap_err(),
        VfsError::NotFound
    );
}

/// A zero-length WRITE at a position far past the end neither grows the file, nor charges the
/// quota, nor changes the modification time.
#[test]
fn a_zero_length_write_past_the_end_changes_nothing() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let f = format!("{}/f", home(ALICE));
    vfs.write_file(&a, &f, b"small", None, None).unwrap();
    let before = vfs.stat(&a, &f, true).unwrap();
    let used = vfs.quota(&a, ALICE).unwrap().used;
    for append in [false, true] {
        let flags = OpenFlags {
            read: true,
            write: true,
            append,
            ..Default::default()
        };
        let h = vfs.open(&a, &f, flags, None, None).unwrap().handle;
        vfs.handle_seek(&a, h, SeekFrom::Start(50_000_000)).unwrap();
        assert_eq!(vfs.handle_write(&a, h, b"").unwrap(), 0);
        assert_eq!(vfs.handle_stat(&a, h).unwrap().size, 5);
        assert_eq!(
            vfs.handle_seek(&a, h, SeekFrom::Current(0)).unwrap(),
            50_000_000
        );
        vfs.handle_flush(&a, h).unwrap();
        vfs.handle_close(&a, h).unwrap();
    }
    let after = vfs.stat(&a, &f, true).unwrap();
    assert_eq!(after.size, 5);
    assert_eq!(after.modified_ns, before.modified_ns);
    assert_eq!(after.sha256, before.sha256);
    assert_eq!(vfs.quota(&a, ALICE).unwrap().used, used);
    assert_eq!(vfs.usage(&a, &home(ALICE)).unwrap().bytes, 5);
    // A read-only handle still gets its mode error for an empty write.
    let ro = OpenFlags {
        read: true,
        ..Default::default()
    };
    let h = vfs.open(&a, &f, ro, None, None).unwrap().handle;
    assert_eq!(
        vfs.handle_write(&a, h, b"").unwrap_err(),
        VfsError::BadHandleMode
    );
}

#[test]
fn resource_limits_refuse_and_change_nothing() {
    let env = TestEnv::new();
    let limits = Limits {
        max_entries: 40,
        max_bytes: 10_000,
        max_file_size: 6_000,
        ..Limits::default()
    };
    let mut vfs = Vfs::new(ram_store(STORE_MIB), limits);
    vfs.boot(&env).unwrap();
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    assert_eq!(
        vfs.write_file(&sys, "/tmp/big", &[0; 6_001], None, None)
            .unwrap_err(),
        VfsError::ResourceLimitExceeded
    );
    vfs.write_file(&sys, "/tmp/a", &[0; 5_000], None, None)
        .unwrap();
    assert_eq!(
        vfs.write_file(&sys, "/tmp/b", &[0; 5_000], None, None)
            .unwrap_err(),
        VfsError::ResourceLimitExceeded
    );
    assert!(!vfs.exists(&sys, "/tmp/b").unwrap());
    let mut n = 0;
    let err = loop {
        match vfs.mkdir(&sys, &format!("/tmp/d{n}"), false, None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, VfsError::ResourceLimitExceeded);
    // The store's own limit maps to the same error.
    let store = ram_store_with(
        STORE_MIB,
        storage_backend::Limits {
            max_objects: 200,
            max_bytes: u64::MAX,
        },
    );
    let mut vfs = Vfs::new(store, Limits::default());
    vfs.boot(&env).unwrap();
    let err = loop {
        match vfs.write_file(&sys, &format!("/tmp/f{n}"), b"x", None, None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, VfsError::ResourceLimitExceeded);
}

#[test]
fn a_dangling_symlink_is_not_replaced_by_a_file() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let l = format!("{}/dangling", home(ALICE));
    vfs.symlink(&a, "nowhere", &l).unwrap();
    assert_eq!(
        vfs.write_file(&a, &l, b"x", None, None).unwrap_err(),
        VfsError::AlreadyExists
    );
    assert_eq!(vfs.readlink(&a, &l).unwrap(), "nowhere");
}

/// Random operations from four callers over a small set of paths: nothing panics, and the
/// running usage totals of every directory match a recount of the tree.
#[test]
fn random_operations_keep_the_accounting_exact() {
    for seed in [
        0x0123_4567_89ab_cdefu64,
        0xfeed_beef_dead_f00d,
        0x5eed_0000_0000_0001,
    ] {
        random_run(seed);
    }
}

fn random_run(seed: u64) {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let callers = [
        creds(1, ProcessClass::System, None),
        creds(3, ProcessClass::Application, Some(ALICE)),
        creds(4, ProcessClass::Application, Some(BOB)),
        creds(5, ProcessClass::Application, None),
    ];
    let a = home(ALICE);
    let b = home(BOB);
    let paths = [
        format!("{a}/x"),
        format!("{a}/Documents/y"),
        format!("{a}/Documents/d"),
        format!("{a}/Documents/d/z"),
        format!("{a}/link"),
        format!("{b}/x"),
        format!("{b}/Music/m"),
        "/tmp/t".to_string(),
        "/tmp/dir".to_string(),
        "/tmp/dir/u".to_string(),
        "/system/config/machine.json".to_string(),
        "/users/registry.json".to_string(),
        "/".to_string(),
    ];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut handles = Vec::new();
    let mut succeeded = 0;
    for _ in 0..6000 {
        let caller = callers[(next() % 4) as usize];
        let ctx = Ctx { caller, env: &env };
        let p = &paths[(next() % paths.len() as u64) as usize];
        let q = &paths[(next() % paths.len() as u64) as usize];
        let len = match next() % 4 {
            0 => 0,
            1 => 1,
            2 => (next() % 9000) as usize,
            _ => 3968,
        };
        let data = vec![(next() % 256) as u8; len];
        let result = match next() % 16 {
            0 => vfs.write_file(&ctx, p, &data, None, None).map(drop),
            1 => vfs.mkdir(&ctx, p, next() % 2 == 0, None),
            2 => vfs.rmdir(&ctx, p, next() % 2 == 0),
            3 => vfs.unlink(&ctx, p),
            4 => vfs.rename(&ctx, p, q),
            5 => vfs.copy(&ctx, p, q),
            6 => vfs.symlink(&ctx, q, p),
            7 => vfs.read_file(&ctx, p, next() % 5000, None, None).map(drop),
            8 => vfs.chmod(
                &ctx,
                p,
                vfs_service::permission::FilePermissions::from_bits(next() as u8),
            ),
            9 => vfs
                .write_file(&ctx, p, &data, Some([9; 32]), None)
                .map(drop),
            10 => {
                let flags = OpenFlags {
                    read: next() % 2 == 0,
                    write: true,
                    create: next() % 2 == 0,
                    truncate: next() % 3 == 0,
                    append: next() % 4 == 0,
                    ..Default::default()
                };
                vfs.open(&ctx, p, flags, None, None)
                    .map(|o| handles.push((caller, o.handle)))
            }
            11 | 12 if !handles.is_empty() => {
                let (c, h) = handles[(next() % handles.len() as u64) as usize];
                let hctx = Ctx {
                    caller: c,
                    env: &env,
                };
                match next() % 5 {
                    0 => vfs.handle_write(&hctx, h, &data[..len.min(3968)]).map(drop),
                    1 => vfs
                        .handle_seek(&hctx, h, SeekFrom::Start(next() % 20_000))
                        .map(drop),
                    2 => vfs.handle_truncate(&hctx, h, next() % 20_000),
                    3 => vfs.handle_flush(&hctx, h),
                    _ => vfs.handle_read(&hctx, h, 3968).map(drop),
                }
            }
            13 if !handles.is_empty() => {
                let i = (next() % handles.len() as u64) as usize;
                let (c, h) = handles.swap_remove(i);
                vfs.handle_close(
                    &Ctx {
                        caller: c,
                        env: &env,
                    },
                    h,
                )
            }
            14 => vfs.stat(&ctx, p, next() % 2 == 0).map(drop),
            _ => vfs.readdir(&ctx, p, None).map(drop),
        };
        if result.is_ok() {
            succeeded += 1;
        }
        let _ = vfs.collect_garbage(32);
    }
    assert!(succeeded > 300, "only {succeeded} operations succeeded");
    for (c, h) in handles {
        let _ = vfs.handle_close(
            &Ctx {
                caller: c,
                env: &env,
            },
            h,
        );
    }
    // Recount: every directory's totals equal the sum over its entries.
    let sys = Ctx {
        caller: callers[0],
        env: &env,
    };
    fn recount(vfs: &mut RamVfs, ctx: &Ctx<'_>, dir: &str) -> (u64, u64) {
        // Random chmods may have taken the system's read bit away: give it back first.
        let mut perms = vfs.stat(ctx, dir, false).unwrap().permissions;
        perms.system_read = true;
        vfs.chmod(ctx, dir, perms).unwrap();
        let mut bytes = 0;
        let mut entries = 0;
        let mut cursor = None;
        loop {
            let page = vfs.readdir(ctx, dir, cursor.as_deref()).unwrap();
            for e in &page.entries {
                entries += 1;
                if e.is_directory {
                    let (b, n) = recount(vfs, ctx, &e.path);
                    bytes += b;
                    entries += n;
                } else if !e.is_symlink {
                    bytes += e.size;
                }
            }
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        let usage = vfs.usage(ctx, dir).unwrap();
        assert_eq!((usage.bytes, usage.entries), (bytes, entries), "{dir}");
        (bytes, entries)
    }
    recount(&mut vfs, &sys, "/");
    while vfs.collect_garbage(1000).unwrap() {}
}

#[test]
fn corrupted_content_is_never_returned_whole() {
    use storage_backend::Db;
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let small = format!("{}/small", home(ALICE));
    let big = format!("{}/big", home(ALICE));
    vfs.write_file(&a, &small, b"original", None, None).unwrap();
    let flags = OpenFlags {
        write: true,
        create: true,
        ..Default::default()
    };
    let h = vfs.open(&a, &big, flags, None, None).unwrap().handle;
    for _ in 0..3 {
        vfs.handle_write(&a, h, &[7u8; 3968]).unwrap();
    }
    vfs.handle_close(&a, h).unwrap();
    // Flip the content of the first piece of every content object behind the store's back.
    let pieces = vfs
        .store_mut()
        .scan(Db::Userspace, b"C", None, 1000)
        .unwrap();
    let mut batch = vfs.store_mut().begin(Db::Userspace).unwrap();
    for (k, mut v) in pieces {
        if k.ends_with(&0u32.to_be_bytes()) && !v.is_empty() {
            v[0] ^= 0xff;
            batch.put(&k, &v).unwrap();
        }
    }
    batch.commit().unwrap();
    // READ does not recompute the whole-file hash (protocol 4): it relies on the store's
    // authentication of every record, and these records are authentic (written through the
    // store, as only a holder of the key could; tampering with the medium is
    // tests/tests/integrity_once.rs). A sequential handle read of the whole file still checks
    // the hash, for the one-piece file as for the three-piece one.
    let whole = |vfs: &mut RamVfs, path: &str| {
        let read = OpenFlags {
            read: true,
            ..Default::default()
        };
        let r = vfs.open(&a, path, read, None, None).unwrap().handle;
        loop {
            match vfs.handle_read(&a, r, 3968) {
                Ok(p) if p.is_empty() => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    };
    assert_eq!(whole(&mut vfs, &small), Err(VfsError::IntegrityError));
    let r = vfs
        .open(
            &a,
            &big,
            OpenFlags {
                read: true,
                ..Default::default()
            },
            None,
            None,
        )
        .unwrap()
        .handle;
    let mut result = Ok(());
    for _ in 0..4 {
        match vfs.handle_read(&a, r, 3968) {
            Ok(p) if p.is_empty() => break,
            Ok(_) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    assert_eq!(result, Err(VfsError::IntegrityError));
}

#[test]
fn a_stream_sees_quota_used_by_others_at_once() {
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    // The quota counts a minimum per entry: the home's own, and the four files below.
    let base = vfs.quota(&a, ALICE).unwrap().used + 4 * ENTRY_COST;
    vfs.set_quota(&sys, ALICE, base + 20_000).unwrap();
    let flags = OpenFlags {
        write: true,
        create: true,
        ..Default::default()
    };
    let h = vfs
        .open(&a, &format!("{}/stream", home(ALICE)), flags, None, None)
        .unwrap()
        .handle;
    vfs.handle_write(&a, h, &[1; 3968]).unwrap();
    vfs.handle_write(&a, h, &[1; 3968]).unwrap();
    // Someone else takes most of what is left.
    vfs.write_file(
        &a,
        &format!("{}/other", home(ALICE)),
        &[2; 3968],
        None,
        None,
    )
    .unwrap();
    let other2 = format!("{}/Documents/other2", home(ALICE));
    vfs.write_file(&a, &other2, &[2; 3968], None, None).unwrap();
    let other3 = format!("{}/Music/other3", home(ALICE));
    vfs.write_file(&a, &other3, &[2; 3968], None, None).unwrap();
    // 11,904 committed by the others + 8,036 in the stream = 19,940; 3,968 more would not fit.
    vfs.handle_write(&a, h, &[1; 100]).unwrap();
    assert_eq!(
        vfs.handle_write(&a, h, &[1; 3968]).unwrap_err(),
        VfsError::QuotaExceeded
    );
    vfs.handle_close(&a, h).unwrap();
    assert_eq!(vfs.quota(&a, ALICE).unwrap().used, base + 3968 * 5 + 100);
}

#[test]
fn readdir_pages_fit_a_message_with_the_longest_names() {
    use vfs_service::protocol::limits::{MAX_NAME, MAX_PAYLOAD};
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let dir = format!("{}/{}", home(ALICE), "d".repeat(MAX_NAME));
    vfs.mkdir(&a, &dir, false, None).unwrap();
    let mut want = Vec::new();
    for i in 0..40 {
        let name = format!("{i:02}{}", "é".repeat((MAX_NAME - 2) / 2));
        vfs.write_file(&a, &format!("{dir}/{name}"), b"x", None, None)
            .unwrap();
        want.push(name);
    }
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = vfs.readdir(&a, &dir, cursor.as_deref()).unwrap();
        let reply = vfs_service::protocol::codec::encode_reply(&Ok::<_, VfsError>(page.clone()));
        assert!(reply.len() <= MAX_PAYLOAD, "{} bytes", reply.len());
        assert!(!page.entries.is_empty() || page.next.is_none());
        got.extend(page.entries.into_iter().map(|e| e.name));
        pages += 1;
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(got, want);
    assert!(pages > 5);
}

/// Reads the whole audit log page by page as a client would (`after` = the last sequence number
/// seen), checking that every reply fits a message and that no page is empty while `more` is
/// set; gives up (fails) after `max_pages` pages rather than looping.
fn read_whole_audit_log(
    vfs: &mut RamVfs,
    sys: &Ctx<'_>,
    max_pages: usize,
) -> Vec<vfs_service::protocol::messages::AuditEntry> {
    use vfs_service::protocol::limits::MAX_PAYLOAD;
    let mut all = Vec::new();
    let mut after = 0;
    for _ in 0..max_pages {
        let page = vfs.audit_log(sys, after).unwrap();
        let reply = vfs_service::protocol::codec::encode_reply(&Ok::<_, VfsError>(page.clone()));
        assert!(reply.len() <= MAX_PAYLOAD, "{} bytes", reply.len());
        assert!(
            !page.entries.is_empty() || !page.more,
            "empty page with more after {after}"
        );
        if let Some(last) = page.entries.last() {
            after = last.seq;
        }
        all.extend(page.entries);
        if !page.more {
            return all;
        }
    }
    panic!("the audit log did not end within {max_pages} pages");
}

#[test]
fn chown_through_long_symlinked_path_records_a_bounded_entry() {
    use vfs_service::protocol::limits::{
        AUDIT_TRUNCATION_MARKER, MAX_AUDIT_ACTION, MAX_AUDIT_ENTRY, MAX_PATH,
    };
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    let a = Ctx {
        caller: creds(3, ProcessClass::Application, Some(ALICE)),
        env: &env,
    };
    let h = home(ALICE);
    // Each level: three directories of 240-byte names (multi-byte characters, so that the
    // truncation points fall inside characters) below the previous level's symlink, and a
    // symlink `l{i+1}` in the home to them: every client path stays short, the canonical path
    // grows by about 725 bytes a level.
    let names: Vec<String> = ["é", "€", "ü"]
        .iter()
        .map(|c| c.repeat(240 / c.len()))
        .collect();
    let tail = names.join("/");
    let mut via = h.clone();
    let mut canonical = h.clone();
    for i in 0..7 {
        let mut dir = via.clone();
        for n in &names {
            dir = format!("{dir}/{n}");
            vfs.mkdir(&a, &dir, false, None).unwrap();
        }
        assert!(dir.len() <= MAX_PATH);
        let target = if i == 0 {
            tail.clone()
        } else {
            format!("l{i}/{tail}")
        };
        vfs.symlink(&a, &target, &format!("{h}/l{}", i + 1))
            .unwrap();
        via = format!("{h}/l{}", i + 1);
        canonical = format!("{canonical}/{tail}");
    }
    assert!(canonical.len() > 5000);
    assert_eq!(vfs.resolve_path(&a, &via).unwrap(), canonical);
    vfs.chown(&sys, &via, Some(BOB)).unwrap();
    vfs.set_quota(&sys, BOB, 1 << 20).unwrap();

    // Bounded when written: the stored record itself fits a reply.
    let mut key = b"audit/e/".to_vec();
    key.extend_from_slice(&3u64.to_be_bytes());
    let stored = vfs
        .store_mut()
        .get(storage_backend::Db::Kernel, &key)
        .unwrap()
        .unwrap();
    assert!(stored.len() <= MAX_AUDIT_ENTRY, "{} bytes", stored.len());
    let stored: vfs_service::protocol::messages::AuditEntry =
        postcard::from_bytes(&stored).unwrap();
    assert!(stored.action.contains(AUDIT_TRUNCATION_MARKER));

    let log = read_whole_audit_log(&mut vfs, &sys, 10);
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=4).collect::<Vec<_>>());
    let entry = &log[2];
    assert!(entry.action.len() <= MAX_AUDIT_ACTION);
    assert!(entry.action.contains(AUDIT_TRUNCATION_MARKER));
    assert!(entry.action.starts_with(&format!("chown {h}/")));
    assert!(entry.action.ends_with(&format!("/{} {BOB}", names[2])));
    assert!(log[3].action.starts_with("set_quota"));
    assert!(!log[3].action.contains(AUDIT_TRUNCATION_MARKER));
}

#[test]
fn an_oversized_legacy_audit_entry_is_returned_bounded_and_reading_goes_on() {
    use storage_backend::Db;
    use vfs_service::protocol::limits::{AUDIT_TRUNCATION_MARKER, MAX_AUDIT_ACTION};
    use vfs_service::protocol::messages::AuditEntry;
    let env = TestEnv::new();
    let mut vfs = setup(&env);
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    // After the two create_home entries, as an older version wrote them: entries of 3 KiB (one
    // page each at most) and one of 7 KiB, longer than any reply.
    let lens = [3000usize, 7000, 3000, 100];
    let mut batch = vfs.store_mut().begin(Db::Kernel).unwrap();
    for (i, len) in lens.iter().enumerate() {
        let seq = 3 + i as u64;
        let entry = AuditEntry {
            seq,
            time_ns: 1,
            task: 1,
            user: None,
            action: format!("legacy {seq} {}", "p".repeat(*len)),
        };
        let mut key = b"audit/e/".to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        batch
            .put(&key, &postcard::to_allocvec(&entry).unwrap())
            .unwrap();
    }
    batch
        .put(b"audit/seq", &(2 + lens.len() as u64).to_be_bytes())
        .unwrap();
    batch.commit().unwrap();
    // Entries written now follow the legacy ones.
    for i in 0..40 {
        vfs.set_quota(&sys, ALICE, 1 << (20 + i % 8)).unwrap();
    }

    let log = read_whole_audit_log(&mut vfs, &sys, 50);
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=46).collect::<Vec<_>>());
    for e in &log {
        assert!(e.action.len() <= MAX_AUDIT_ACTION);
    }
    assert!(log[3].action.starts_with("legacy 4 ppp"));
    assert!(log[3].action.contains(AUDIT_TRUNCATION_MARKER));
    assert!(log[2].action.starts_with("legacy 3 ") && !log[2].action.contains("..."));
    assert!(log[4].action.starts_with("legacy 5 ") && !log[4].action.contains("..."));
    assert!(log[45].action.starts_with("set_quota"));
}
