//! What the `semantics_*` tests share: a clock and entropy, the callers (Alice, Bob, System, an
//! application without a user) and a booted VFS on a RAM store with both homes.

#![allow(dead_code)]

use kernel_abi::ProcessClass;
use uuid::Uuid;
use vfs_service::protocol::messages::{FileKey, Handle, OpenFlags};
use vfs_service::{Ctx, Limits, Vfs};

#[path = "../common/mod.rs"]
mod common;
pub use common::RamVfs;

#[allow(unused_imports)]
pub use common::{TestEnv, creds, ram_store, ram_store_with};

pub const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);
pub const BOB: Uuid = Uuid::from_u128(0x0b0b0000_0000_4000_8000_000000000002);

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
