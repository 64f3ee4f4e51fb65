//! Integrity once (protocol 4): READ no longer recomputes the whole-file SHA-256 and the client
//! no longer re-hashes what it received, so what stands between the medium and a reader is the
//! store's authentication of every record. These tests tamper with the medium itself, one byte
//! at a time in every block a file's write touched, and require that READ never returns other
//! bytes than were written: either the original content or an error, and `IntegrityError` for
//! the tampering that hits the file's pieces. They also pin the version token the client now
//! compares between ranged reads (`ReadResponse::sha256`).

#[path = "../../vfs-service/tests/common/mod.rs"]
mod common;

use common::{TestEnv, creds};
use kernel_abi::ProcessClass;
use storage_backend::block::RamDevice;
use storage_backend::{CryptoEngine, DbKeys, SoftwareEngine, Store};
use vfs_service::{Ctx, Limits, Vfs, VfsError};

type RamVfs = Vfs<RamDevice, SoftwareEngine>;

/// The engine and keys `common::ram_store` formats with, for mounting its image again.
fn engine() -> (SoftwareEngine, DbKeys) {
    let mut engine = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).unwrap(),
        userspace: engine.import_key(&[0x22; 32]).unwrap(),
    };
    (engine, keys)
}

fn mount(image: Vec<u8>) -> Result<RamVfs, String> {
    let (e, keys) = engine();
    let store = Store::mount(RamDevice::from_image(512, 8, image), e, keys)
        .map_err(|e| format!("{e:?}"))?;
    Ok(Vfs::new(store, Limits::default()))
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn a_tampered_record_gives_an_error_never_other_data() {
    let env = TestEnv::new();
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    let mut vfs = Vfs::new(common::ram_store(4), Limits::default());
    vfs.boot(&env).unwrap();
    vfs.mkdir(&sys, "/t", false, None).unwrap();
    vfs.store_mut().sync().unwrap();
    let before = vfs.store_mut().device().image().to_vec();
    // One file of one piece (read whole by one READ) and one of two (two ranged READs, as the
    // client's read_file does for 4 KiB).
    let one = content(1000);
    let two = content(4096);
    vfs.write_file(&sys, "/t/one", &one, None, None).unwrap();
    vfs.write_file(&sys, "/t/two", &two, None, None).unwrap();
    vfs.store_mut().sync().unwrap();
    let written = vfs.store_mut().device().image().to_vec();
    let changed: Vec<usize> = (0..written.len() / 512)
        .filter(|b| before[b * 512..(b + 1) * 512] != written[b * 512..(b + 1) * 512])
        .collect();
    assert!(!changed.is_empty());
    // Enough other writes that the store moves on to new segments and checkpoints its index:
    // mount then starts replay after the files' records and never reads them, so a flip in
    // them is found (or not) by the READ that needs them, which is what is under test.
    for i in 0..48 {
        vfs.write_file(
            &sys,
            &format!("/t/fill{i}"),
            &content(16 * 1024),
            None,
            None,
        )
        .unwrap();
    }
    vfs.store_mut().sync().unwrap();
    let (dev, _) = vfs.into_store().into_parts();
    let after = dev.image().to_vec();
    let changed: Vec<usize> = changed
        .into_iter()
        .filter(|b| written[b * 512..(b + 1) * 512] == after[b * 512..(b + 1) * 512])
        .collect();

    let mut integrity_errors = 0;
    let mut cases = 0;
    for block in changed {
        for at in (0..512).step_by(37) {
            let mut image = after.clone();
            image[block * 512 + at] ^= 0x5a;
            cases += 1;
            // A flip that breaks mount (a commit or checkpoint record) is caught there.
            let Ok(mut vfs) = mount(image) else { continue };
            for (path, want) in [("/t/one", &one), ("/t/two", &two)] {
                let mut got = Vec::new();
                let mut result = Ok(());
                while got.len() < want.len() {
                    match vfs.read_file(&sys, path, got.len() as u64, None, None) {
                        Ok(r) if r.data.is_empty() => break,
                        Ok(r) => got.extend_from_slice(&r.data),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                match result {
                    Ok(()) => assert_eq!(
                        &got, want,
                        "block {block} byte {at}: READ returned other bytes than were written"
                    ),
                    Err(VfsError::IntegrityError) => integrity_errors += 1,
                    // A flip in a directory or inode record can make the file unreachable.
                    Err(_) => {}
                }
            }
        }
    }
    assert!(
        integrity_errors > 0,
        "none of {cases} flips hit a piece so that READ answered IntegrityError"
    );
}

#[test]
fn read_reports_the_stored_hash_that_changes_with_the_content() {
    let env = TestEnv::new();
    let sys = Ctx {
        caller: creds(1, ProcessClass::System, None),
        env: &env,
    };
    let mut vfs = Vfs::new(common::ram_store(4), Limits::default());
    vfs.boot(&env).unwrap();
    let first = content(4096);
    vfs.write_file(&sys, "/f", &first, None, None).unwrap();
    let a = vfs.read_file(&sys, "/f", 0, None, None).unwrap();
    let b = vfs.read_file(&sys, "/f", 3968, None, None).unwrap();
    let stat = vfs.stat(&sys, "/f", true).unwrap();
    // The token is the content hash STAT shows (of the whole content, not of the range).
    assert_eq!(Some(a.sha256), stat.sha256);
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.sha256, vfs_api::sha256::digest(&first));
    // A rewrite between two ranged reads changes it: the client sees the versions differ.
    let mut second = first.clone();
    second[4000] ^= 1;
    vfs.write_file(&sys, "/f", &second, None, None).unwrap();
    let c = vfs.read_file(&sys, "/f", 3968, None, None).unwrap();
    assert_ne!(a.sha256, c.sha256);
    assert_eq!(c.sha256, vfs_api::sha256::digest(&second));
}
