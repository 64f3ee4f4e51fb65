//! The VFS over `storage-backend` on a RAM block device: boot, reboot (remount), persistence.

mod common;

use std::cell::Cell;

use kernel_abi::{Credentials, ProcessClass, TaskId};
use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, DbKeys, FormatOptions, SoftwareEngine, Store};
use uuid::Uuid;
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
    let mut vfs = Vfs::new(store, Limits::default());
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
    vfs.store_mut().sync().unwrap();

    let (dev, _) = vfs.into_store().into_parts();
    let (e, keys) = engine();
    let store = Store::mount(dev, e, keys).unwrap();
    let mut vfs = Vfs::new(store, Limits::default());
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
    // The quota counts content and a minimum per entry: the home and everything in it.
    let home = vfs.usage(&user, &format!("/home/{USER}")).unwrap();
    assert_eq!(
        vfs.quota(&user, USER).unwrap().used,
        50_001 + vfs_service::accounts::ENTRY_COST * (home.entries + 1)
    );
}

#[test]
fn engine_and_software_file_crypto_agree() {
    // The VFS seals through the store's engine; the bytes are those of the documented
    // derivation (HKDF-SHA256 of the client key, salt and "zos-vfs-file-key:" ‖ path, then
    // AES-256-GCM under piece index ‖ counter), computed here step by step.
    use storage_backend::crypto::hkdf_sha256;
    use vfs_service::crypto::{CryptoCx, FileCipher, KeyCache};
    let (e, keys) = engine();
    let mut store = Store::format(
        RamDevice::new(512, 8, 256),
        e,
        keys,
        &FormatOptions::default(),
    )
    .unwrap();
    let cipher = FileCipher::derive(&[5; 32], &[6; 16], "/home/u/f");
    let mut cache = KeyCache::default();
    let sealed = {
        let mut cx = CryptoCx {
            engine: store.engine_mut(),
            cache: &mut cache,
        };
        cipher.seal(&mut cx, 2, 9, b"same bytes").unwrap()
    };
    let mut okm = [0u8; 32];
    hkdf_sha256(&[6; 16], &[5; 32], b"zos-vfs-file-key:/home/u/f", &mut okm).unwrap();
    let mut soft = SoftwareEngine::new();
    let k = soft.import_key(&okm).unwrap();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&2u32.to_be_bytes());
    nonce[4..].copy_from_slice(&9u64.to_be_bytes());
    let mut body = b"same bytes".to_vec();
    let tag = soft.seal(k, &nonce, &[], &mut body).unwrap();
    let mut expect = 9u64.to_be_bytes().to_vec();
    expect.extend_from_slice(&body);
    expect.extend_from_slice(&tag);
    assert_eq!(sealed, expect);
    let mut cx = CryptoCx {
        engine: store.engine_mut(),
        cache: &mut cache,
    };
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
    let mut vfs = Vfs::new(store, Limits::default());
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

#[test]
fn a_boot_over_a_newer_schema_version_is_refused_and_changes_nothing() {
    use storage_backend::Db;
    use vfs_service::inode::{SCHEMA_VERSION, keys};
    let env = TestEnv(Cell::new(9_000));
    let mut vfs = Vfs::new(common::ram_store(8), Limits::default());
    vfs.boot(&env).unwrap();
    assert_eq!(vfs.schema_version().unwrap(), Some(SCHEMA_VERSION));
    // A later release wrote the filesystem.
    let mut store = vfs.into_store();
    let mut t = store.begin(Db::Userspace).unwrap();
    t.put(keys::SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
        .unwrap();
    t.commit().unwrap();
    let mut vfs = Vfs::new(store, Limits::default());
    assert_eq!(vfs.boot(&env).unwrap_err(), VfsError::UnsupportedSchema);
    assert_eq!(vfs.attach().unwrap_err(), VfsError::UnsupportedSchema);
    assert_eq!(vfs.stored_schema().unwrap(), Some(SCHEMA_VERSION + 1));
    let mut store = vfs.into_store();
    assert_eq!(
        store.get(Db::Kernel, keys::BOOT_COUNT).unwrap().unwrap(),
        1u64.to_be_bytes(),
        "the refused boot was not counted"
    );
    // Version 0 is no version this code wrote either.
    let mut t = store.begin(Db::Userspace).unwrap();
    t.put(keys::SCHEMA, &0u32.to_be_bytes()).unwrap();
    t.commit().unwrap();
    let mut vfs = Vfs::new(store, Limits::default());
    assert_eq!(vfs.boot(&env).unwrap_err(), VfsError::UnsupportedSchema);
    // A filesystem from before the record is version 1: its next boot writes the record.
    let mut store = vfs.into_store();
    let mut t = store.begin(Db::Userspace).unwrap();
    t.delete(keys::SCHEMA).unwrap();
    t.commit().unwrap();
    let mut vfs = Vfs::new(store, Limits::default());
    assert_eq!(vfs.boot(&env).unwrap().boot_count, 2);
    assert_eq!(vfs.stored_schema().unwrap(), Some(SCHEMA_VERSION));
}

#[test]
fn store_errors_reach_the_client_distinctly() {
    use storage_backend::{IntegrityError, IntegrityKind, LimitKind, StoreError};
    use vfs_service::vfs::store_err;
    assert_eq!(store_err(StoreError::NoSpace), VfsError::NoSpace);
    assert_eq!(store_err(StoreError::Halted), VfsError::Halted);
    assert_eq!(
        store_err(StoreError::ResourceLimitExceeded(LimitKind::Bytes)),
        VfsError::ResourceLimitExceeded
    );
    assert_eq!(
        store_err(StoreError::Integrity(IntegrityError {
            kind: IntegrityKind::Auth,
            segment: None,
            offset: None,
        })),
        VfsError::IntegrityError
    );
    assert_eq!(
        store_err(StoreError::Device(storage_backend::DeviceError::Io)),
        VfsError::StorageError
    );
}

#[test]
fn a_full_medium_is_no_space_and_the_file_system_stays_usable() {
    let env = TestEnv(Cell::new(20_000));
    // 2 MiB: 1 MiB of it is the kernel database, the userspace one fills quickly.
    let mut vfs = Vfs::new(common::ram_store(2), Limits::default());
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
    let data = vec![0x5au8; 64 * 1024];
    let mut n = 0;
    let err = loop {
        match vfs.write_file(&sys, &format!("/tmp/f{n}"), &data, None, None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000, "a 2 MiB store never filled");
    };
    assert_eq!(err, VfsError::NoSpace);
    assert!(!vfs.exists(&sys, &format!("/tmp/f{n}")).unwrap());
    vfs.unlink(&sys, "/tmp/f0").unwrap();
    while vfs.collect_garbage(1000).unwrap() {}
    let back = vfs.read_file(&sys, "/tmp/f1", 0, None, None).unwrap();
    assert_eq!(back.size, data.len() as u64);
    assert!(
        back.data == data[..back.data.len()],
        "the earlier files are intact"
    );
    // Room again after the collection.
    vfs.write_file(&sys, "/tmp/again", b"x", None, None)
        .unwrap();
}
