//! Shared pieces of the VFS's own integration tests.

use storage_backend::{BlockDevice, CryptoEngine};
use vfs_service::protocol::messages::{FileKey, Handle, OpenFlags};
use vfs_service::{Ctx, Vfs};

#[allow(dead_code)]
/// Opens `path` for reading (under `key` when given) and reads it to the end in message-sized
/// pieces; returns the bytes and the handle, still open, for the checks that follow.
pub fn open_and_read_all<D: BlockDevice, E: CryptoEngine>(
    vfs: &mut Vfs<D, E>,
    ctx: &Ctx<'_>,
    path: &str,
    key: Option<FileKey>,
) -> (Vec<u8>, Handle) {
    let flags = OpenFlags {
        read: true,
        ..Default::default()
    };
    let h = vfs.open(ctx, path, flags, key, None).unwrap().handle;
    let mut back = Vec::new();
    loop {
        let piece = vfs.handle_read(ctx, h, 3968).unwrap();
        if piece.is_empty() {
            return (back, h);
        }
        back.extend_from_slice(&piece);
    }
}

/// A freshly formatted `storage-backend` store on a RAM device of `mib` MiB with the software
/// engine: the store every test VFS runs on.
#[allow(dead_code)]
pub fn ram_store(
    mib: u64,
) -> storage_backend::Store<storage_backend::block::RamDevice, storage_backend::SoftwareEngine> {
    ram_store_with(mib, storage_backend::Limits::UNLIMITED)
}

/// As [`ram_store`], with resource limits on the userspace database.
#[allow(dead_code)]
pub fn ram_store_with(
    mib: u64,
    userspace_limits: storage_backend::Limits,
) -> storage_backend::Store<storage_backend::block::RamDevice, storage_backend::SoftwareEngine> {
    use storage_backend::{CryptoEngine, DbKeys, FormatOptions, SoftwareEngine, Store};
    let mut engine = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).unwrap(),
        userspace: engine.import_key(&[0x22; 32]).unwrap(),
    };
    let device = storage_backend::block::RamDevice::new(512, 8, mib * 256);
    let opts = FormatOptions {
        kernel_units: Some(256),
        userspace_limits,
        ..FormatOptions::default()
    };
    Store::format(device, engine, keys, &opts).unwrap()
}

/// The VFS of the tests: on a RAM store.
#[allow(dead_code)]
pub type RamVfs = Vfs<storage_backend::block::RamDevice, storage_backend::SoftwareEngine>;

/// A clock that moves 1 µs per reading (and can jump days) and a deterministic xorshift entropy
/// source: the `Env` of the integration tests.
#[allow(dead_code)]
pub struct TestEnv {
    now: std::cell::Cell<u64>,
    rng: std::cell::Cell<u64>,
}

#[allow(dead_code)]
impl TestEnv {
    pub fn new() -> Self {
        Self {
            now: std::cell::Cell::new(1_700_000_000_000_000_000),
            rng: std::cell::Cell::new(0x1234_5678_9abc_def1),
        }
    }

    /// Moves the clock forward by `days` days.
    pub fn skip_days(&self, days: u64) {
        self.now.set(self.now.get() + days * 86_400_000_000_000);
    }
}

impl vfs_service::Env for TestEnv {
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1000);
        self.now.get()
    }
    fn random(&self, out: &mut [u8]) -> Result<(), vfs_service::VfsError> {
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

/// Kernel-stamped credentials of task slot `index`, incarnation 0.
#[allow(dead_code)]
pub fn creds(
    index: u16,
    class: kernel_abi::ProcessClass,
    user: Option<uuid::Uuid>,
) -> kernel_abi::Credentials {
    kernel_abi::Credentials {
        task: kernel_abi::TaskId {
            index,
            generation: 0,
        },
        user,
        class,
    }
}
