//! RMDIR follows the sticky rule of shared directories: in `/tmp` nobody removes another
//! user's directory, empty or not, one level or recursively; its owner and System can.

use vfs_service::{Limits, Vfs, VfsError};

use crate::common::ram_store;
use crate::env::{ALICE, BOB, TestEnv, app, system};

#[test]
fn rmdir_in_tmp_removes_only_what_the_caller_may() {
    let env = TestEnv::new();
    let mut vfs = Vfs::new(ram_store(8), Limits::default());
    vfs.boot(&env).unwrap();
    let alice = app(&env, 21, ALICE);
    let bob = app(&env, 20, BOB);
    let sys = system(&env);
    vfs.mkdir(&alice, "/tmp/empty", false, None).unwrap();
    vfs.mkdir(&alice, "/tmp/full/sub", true, None).unwrap();
    vfs.write_file(&alice, "/tmp/full/sub/f", b"alice's", None, None)
        .unwrap();
    // A world-writable directory of Alice's inside: sticky too, so Bob's write permission on
    // it does not let him take Alice's entries with him.
    vfs.mkdir(
        &alice,
        "/tmp/shared",
        false,
        Some(vfs_service::permission::FilePermissions::ALL),
    )
    .unwrap();
    vfs.write_file(&alice, "/tmp/shared/f", b"alice's", None, None)
        .unwrap();
    for (path, recursive) in [
        ("/tmp/empty", false),
        ("/tmp/empty", true),
        ("/tmp/full", true),
        ("/tmp/shared", true),
    ] {
        assert_eq!(
            vfs.rmdir(&bob, path, recursive),
            Err(VfsError::PermissionDenied),
            "{path}"
        );
    }
    assert_eq!(
        vfs.read_file(&sys, "/tmp/full/sub/f", 0, None, None)
            .unwrap()
            .data,
        b"alice's"
    );
    assert_eq!(vfs.exists(&sys, "/tmp/shared/f"), Ok(true));
    vfs.rmdir(&alice, "/tmp/empty", false).unwrap();
    vfs.rmdir(&alice, "/tmp/full", true).unwrap();
    vfs.rmdir(&sys, "/tmp/shared", true).unwrap();
    assert_eq!(vfs.usage(&sys, "/tmp").unwrap().entries, 0);
}
