//! What the `semantics_*` tests share: a clock and entropy, the callers (Alice, Bob, System, an
//! application without a user) and a booted VFS on a RAM store with both homes.

#![allow(dead_code)]

use std::cell::Cell;

use kernel_abi::{Credentials, ProcessClass, TaskId};
use uuid::Uuid;
use vfs_service::protocol::messages::{FileKey, Handle, OpenFlags};
use vfs_service::{Ctx, Env, Limits, Vfs, VfsError};

#[path = "../common/mod.rs"]
mod common;
pub use common::RamVfs;

/// A clock that ticks 1 µs per reading and a xorshift "random" source.
pub struct TestEnv {
    now: Cell<u64>,
    rng: Cell<u64>,
}

impl TestEnv {
    pub fn new() -> Self {
        Self {
            now: Cell::new(1_700_000_000_000_000_000),
            rng: Cell::new(0x0ddc_0ffe_e15e_a5e1),
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

pub const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);
pub const BOB: Uuid = Uuid::from_u128(0x0b0b0000_0000_4000_8000_000000000002);

/// Kernel-stamped credentials of task `index`.
pub fn creds(index: u16, class: ProcessClass, user: Option<Uuid>) -> Credentials {
    Credentials {
        task: TaskId {
            index,
            generation: 0,
        },
        user,
        class,
    }
}

/// The callers of a test.
pub struct Callers<'e> {
    pub alice: Ctx<'e>,
    /// A second task of Alice's (another application of hers).
    pub alice2: Ctx<'e>,
    pub bob: Ctx<'e>,
    pub system: Ctx<'e>,
    pub anon: Ctx<'e>,
}

pub fn callers(env: &TestEnv) -> Callers<'_> {
    let app = ProcessClass::Application;
    Callers {
        alice: Ctx {
            caller: creds(10, app, Some(ALICE)),
            env,
        },
        alice2: Ctx {
            caller: creds(11, app, Some(ALICE)),
            env,
        },
        bob: Ctx {
            caller: creds(12, app, Some(BOB)),
            env,
        },
        system: Ctx {
            caller: creds(13, ProcessClass::System, None),
            env,
        },
        anon: Ctx {
            caller: creds(14, app, None),
            env,
        },
    }
}

/// A booted VFS with Alice's and Bob's homes.
pub fn setup(env: &TestEnv) -> RamVfs {
    let mut vfs = Vfs::new(common::ram_store(32), Limits::default());
    vfs.boot(env).unwrap();
    let sys = Ctx::service(env);
    vfs.create_home(&sys, ALICE).unwrap();
    vfs.create_home(&sys, BOB).unwrap();
    vfs
}

pub fn home(u: Uuid) -> String {
    format!("/home/{u}")
}

/// The whole content of a file, read through a handle to its end (which checks it against
/// its SHA-256: `IntegrityError` would fail the read).
pub fn read_all(vfs: &mut RamVfs, ctx: &Ctx<'_>, path: &str, key: Option<FileKey>) -> Vec<u8> {
    let (data, h) = common::open_and_read_all(vfs, ctx, path, key);
    vfs.handle_close(ctx, h).unwrap();
    data
}

/// The flags of a read-write handle (plus the changes `f` makes).
pub fn rw(f: impl FnOnce(&mut OpenFlags)) -> OpenFlags {
    let mut flags = OpenFlags {
        read: true,
        write: true,
        ..Default::default()
    };
    f(&mut flags);
    flags
}

/// Opens `path` and returns the handle.
pub fn open(
    vfs: &mut RamVfs,
    ctx: &Ctx<'_>,
    path: &str,
    flags: OpenFlags,
    key: Option<FileKey>,
) -> Handle {
    vfs.open(ctx, path, flags, key, None)
        .unwrap_or_else(|e| panic!("open {path}: {e:?}"))
        .handle
}

/// Writes `data` through a handle in message-sized pieces.
pub fn write_all(vfs: &mut RamVfs, ctx: &Ctx<'_>, h: Handle, data: &[u8]) {
    for chunk in data.chunks(3968) {
        assert_eq!(vfs.handle_write(ctx, h, chunk).unwrap(), chunk.len() as u32);
    }
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
