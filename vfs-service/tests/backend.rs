//! The VFS over `storage-backend` on a RAM block device: boot, reboot (remount), persistence.

mod common;

use std::cell::Cell;

use kernel_abi::{Credentials, ProcessClass, TaskId};
use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, DbKeys, FormatOptions, SoftwareEngine, Store};
use uuid::Uuid;
use vfs_service::backend::BackendStore;
use vfs_service::protocol::messages::OpenFlags;
use vfs_service::{Ctx, Env, Limits, Vfs, VfsError};

struct TestEnv(Cell<u64>);

impl Env for TestEnv {
    fn now_ns(&self) -> u64 {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        for (i, b) in out.iter_mut().enumerate() {
            *b = (self.now_ns() as u8).wrapping_mul(31).wrapping_add(i as u8);
        }
        Ok(())
    }
}

fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: e.import_key(&[1; 32]).unwrap(),
        userspace: e.import_key(&[2; 32]).unwrap(),
    };
    (e, keys)
}

const USER: Uuid = Uuid::from_u128(0x1234_5678_0000_4000_8000_0000_0000_0001);

#[test]
fn survives_a_remount_and_counts_boots() {
    let env = TestEnv(Cell::new(1_000));
    let (e, keys) = engine();
    let opts = FormatOptions {
        kernel_units: Some(64),
        ..FormatOptions::default()
    };
    let store = Store::format(RamDevice::new(512, 8, 2048), e, keys, &opts).unwrap();
    let mut vfs = Vfs::new(BackendStore::new(store), Limits::default());
    let first = vfs.boot(&env).unwrap();
    assert!(first.first_boot);
    let sys = Ctx {
        caller: Credentials {
            task: TaskId {
                index: 1,
                generation: 0,
            },
            user: None,
            class: ProcessClass::System,
        },
        env: &env,
    };
    let user = Ctx {
        caller: Credentials {
            task: TaskId {
                index: 2,
                generation: 0,
            },
            user: Some(USER),
            class: ProcessClass::Application,
        },
        env: &env,
    };
    vfs.create_home(&sys, USER).unwrap();
    let f = format!("/home/{USER}/Documents/f");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let flags = OpenFlags {
        write: true,
        create: true,
        truncate: true,
        ..Default::default()
    };
    let h = vfs.open(&user, &f, flags, None, None).unwrap().handle;
    for c in data.chunks(3968) {
        vfs.handle_write(&user, h, c).unwrap();
    }
    vfs.handle_close(&user, h).unwrap();
    vfs.write_file(&user, "/tmp/scratch", b"gone after boot", None, None)
        .unwrap();
    vfs.store_mut().store_mut().sync().unwrap();

    let (dev, _) = vfs.into_store().into_inner().into_parts();
    let (e, keys) = engine();
    let store = Store::mount(dev, e, keys).unwrap();
    let mut vfs = Vfs::new(BackendStore::new(store), Limits::default());
    let second = vfs.boot(&env).unwrap();
    assert_eq!(second.boot_count, 2);
    assert_eq!(second.machine_id, first.machine_id);
    assert!(!vfs.exists(&sys, "/tmp/scratch").unwrap());
    let (back, _) = common::open_and_read_all(&mut vfs, &user, &f, None);
    assert_eq!(back, data);
    // New ids after the remount do not collide with old ones.
    vfs.write_file(&user, &format!("/home/{USER}/g"), b"g", None, None)
        .unwrap();
    assert_ne!(
        vfs.stat(&user, &format!("/home/{USER}/g"), true)
            .unwrap()
            .inode,
        vfs.stat(&user, &f, true).unwrap().inode
    );
    assert_eq!(vfs.quota(&user, USER).unwrap().used, 50_001);
}

#[test]
fn engine_and_software_file_crypto_agree() {
    use vfs_service::crypto::{CryptoCx, FileCipher, FileCrypto, KeyCache, SoftCrypto};
    let (e, keys) = engine();
    let store = Store::format(
        RamDevice::new(512, 8, 256),
        e,
        keys,
        &FormatOptions::default(),
    )
    .unwrap();
    let mut backend = BackendStore::new(store);
    let cipher = FileCipher::derive(&[5; 32], &[6; 16], "/home/u/f");
    let sealed = {
        let mut cache = KeyCache::default();
        let mut cx = CryptoCx {
            crypto: &mut backend as &mut dyn FileCrypto,
            cache: &mut cache,
        };
        cipher.seal(&mut cx, 2, 9, b"same bytes").unwrap()
    };
    let mut soft = SoftCrypto::default();
    let mut cache = KeyCache::default();
    let mut cx = CryptoCx {
        crypto: &mut soft,
        cache: &mut cache,
    };
    assert_eq!(cipher.seal(&mut cx, 2, 9, b"same bytes").unwrap(), sealed);
    assert_eq!(cipher.open(&mut cx, 2, &sealed).unwrap(), b"same bytes");
}

#[test]
fn encrypted_files_through_the_engine() {
    let env = TestEnv(Cell::new(5_000));
    let (e, keys) = engine();
    let store = Store::format(
        RamDevice::new(512, 8, 1024),
        e,
        keys,
        &FormatOptions::default(),
    )
    .unwrap();
    let mut vfs = Vfs::new(BackendStore::new(store), Limits::default());
    vfs.boot(&env).unwrap();
    let sys = Ctx {
        caller: Credentials {
            task: TaskId {
                index: 1,
                generation: 0,
            },
            user: None,
            class: ProcessClass::System,
        },
        env: &env,
    };
    let key = [0x33; 32];
    let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    let flags = OpenFlags {
        write: true,
        create: true,
        truncate: true,
        ..Default::default()
    };
    let h = vfs
        .open(&sys, "/tmp/enc", flags, Some(key), None)
        .unwrap()
        .handle;
    for c in data.chunks(3968) {
        vfs.handle_write(&sys, h, c).unwrap();
    }
    vfs.handle_close(&sys, h).unwrap();
    for _ in 0..40 {
        // More versions than the key cache holds.
        vfs.write_file(&sys, "/tmp/small", b"s", Some(key), None)
            .unwrap();
    }
    let (back, _) = common::open_and_read_all(&mut vfs, &sys, "/tmp/enc", Some(key));
    assert_eq!(back, data);
    assert_eq!(
        vfs.read_file(&sys, "/tmp/small", 0, None, Some([0x34; 32]))
            .unwrap_err(),
        VfsError::EncryptionError
    );
}
