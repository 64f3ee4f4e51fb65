//! Safe shared directories (issue 15, item 4), as the attacks the issue names: another user
//! removing or renaming your `/tmp` entry, a symlink planted in `/tmp` where a victim will
//! write, and STAT handing out the content hash of a file the caller may not read.

mod semantics_support;

use semantics_support::{ALICE, BOB, TestEnv, callers, home, read_all, rw, setup};
use vfs_service::VfsError;
use vfs_service::permission::FilePermissions;
use vfs_service::protocol::messages::OpenFlags;

#[test]
fn only_the_owner_or_system_removes_or_renames_a_tmp_entry() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    vfs.write_file(&c.alice, "/tmp/a", b"alice's", None, None)
        .unwrap();
    vfs.symlink(&c.alice, "/tmp/a", "/tmp/a-link").unwrap();
    for (who, ctx) in [("bob", &c.bob), ("anon", &c.anon)] {
        for path in ["/tmp/a", "/tmp/a-link"] {
            assert_eq!(
                vfs.unlink(ctx, path),
                Err(VfsError::PermissionDenied),
                "{who} unlinks {path}"
            );
            assert_eq!(
                vfs.rename(ctx, path, "/tmp/stolen"),
                Err(VfsError::PermissionDenied),
                "{who} renames {path}"
            );
        }
    }
    assert_eq!(read_all(&mut vfs, &c.alice, "/tmp/a", None), b"alice's");
    assert!(!vfs.exists(&c.alice, "/tmp/stolen").unwrap());
    // Bob still uses /tmp for himself.
    vfs.write_file(&c.bob, "/tmp/b", b"bob's", None, None)
        .unwrap();
    vfs.rename(&c.bob, "/tmp/b", "/tmp/b2").unwrap();
    vfs.unlink(&c.bob, "/tmp/b2").unwrap();
    // The owner may, from any of her tasks.
    vfs.rename(&c.alice2, "/tmp/a", "/tmp/a2").unwrap();
    vfs.unlink(&c.alice, "/tmp/a-link").unwrap();
    // System may remove and rename anyone's entries.
    vfs.rename(&c.system, "/tmp/a2", "/tmp/a3").unwrap();
    vfs.unlink(&c.system, "/tmp/a3").unwrap();
    assert!(!vfs.exists(&c.alice, "/tmp/a3").unwrap());
}

#[test]
fn applications_without_a_user_and_system_entries_in_tmp() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    // An application without a user keeps the use of its own /tmp entries...
    vfs.write_file(&c.anon, "/tmp/anon", b"x", None, None)
        .unwrap();
    assert_eq!(
        vfs.unlink(&c.alice, "/tmp/anon"),
        Err(VfsError::PermissionDenied)
    );
    vfs.rename(&c.anon, "/tmp/anon", "/tmp/anon2").unwrap();
    vfs.unlink(&c.anon, "/tmp/anon2").unwrap();
    // ...but never removes what System put there.
    vfs.write_file(&c.system, "/tmp/sys", b"s", None, None)
        .unwrap();
    for ctx in [&c.anon, &c.alice] {
        assert_eq!(vfs.unlink(ctx, "/tmp/sys"), Err(VfsError::PermissionDenied));
    }
    vfs.unlink(&c.system, "/tmp/sys").unwrap();
}

#[test]
fn a_users_world_writable_directory_is_sticky_too() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let h = home(ALICE);
    let shared = format!("{h}/Shared");
    let open_dir = FilePermissions {
        world_read: true,
        world_write: true,
        ..FilePermissions::USER_DIR
    };
    vfs.mkdir(&c.alice, &shared, false, Some(open_dir)).unwrap();
    vfs.chmod(
        &c.alice,
        &h,
        FilePermissions {
            world_read: true,
            ..FilePermissions::USER_DIR
        },
    )
    .unwrap();
    let hers = format!("{shared}/hers");
    let his = format!("{shared}/his");
    vfs.write_file(&c.alice, &hers, b"a", None, None).unwrap();
    vfs.write_file(&c.bob, &his, b"b", None, None).unwrap();
    assert_eq!(vfs.unlink(&c.bob, &hers), Err(VfsError::PermissionDenied));
    // The directory's owner may clean up what others left in it.
    vfs.unlink(&c.alice, &his).unwrap();
    vfs.unlink(&c.alice, &hers).unwrap();
}

#[test]
fn a_write_never_follows_a_link_someone_else_planted_in_tmp() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let docs = format!("{}/Documents", home(ALICE));
    let target = format!("{docs}/report");
    vfs.write_file(&c.alice, &target, b"original", None, None)
        .unwrap();
    let before = vfs.stat(&c.alice, &target, false).unwrap();
    // Bob plants links where Alice will write.
    vfs.symlink(&c.bob, &target, "/tmp/report").unwrap();
    vfs.symlink(&c.bob, &docs, "/tmp/docs").unwrap();
    let refused = [
        (
            "WRITE",
            vfs.write_file(&c.alice, "/tmp/report", b"pwned", None, None),
        ),
        (
            "WRITE into",
            vfs.write_file(&c.alice, "/tmp/docs/new", b"pwned", None, None),
        ),
        ("COPY into", vfs.copy(&c.alice, &target, "/tmp/docs/copy")),
        (
            "SYMLINK into",
            vfs.symlink(&c.alice, "/x", "/tmp/docs/link"),
        ),
        ("UNLINK through", vfs.unlink(&c.alice, "/tmp/docs/report")),
        (
            "RENAME through",
            vfs.rename(&c.alice, "/tmp/docs/report", "/tmp/r"),
        ),
        (
            "CHMOD",
            vfs.chmod(&c.alice, "/tmp/report", FilePermissions::ALL),
        ),
    ];
    for (what, r) in refused {
        assert_eq!(r, Err(VfsError::PermissionDenied), "{what}");
    }
    for flags in [
        rw(|_| {}),
        rw(|f| f.truncate = true),
        rw(|f| f.append = true),
        rw(|f| f.create = true),
    ] {
        assert_eq!(
            vfs.open(&c.alice, "/tmp/report", flags, None, None).err(),
            Some(VfsError::PermissionDenied),
            "OPEN {flags:?}"
        );
    }
    assert_eq!(
        vfs.open(
            &c.alice,
            "/tmp/docs/new",
            rw(|f| f.create = true),
            None,
            None
        )
        .err(),
        Some(VfsError::PermissionDenied)
    );
    // Nothing reached the target or its directory.
    assert_eq!(read_all(&mut vfs, &c.alice, &target, None), b"original");
    let after = vfs.stat(&c.alice, &target, false).unwrap();
    assert_eq!(
        (after.sha256, after.permissions, after.modified_ns),
        (before.sha256, before.permissions, before.modified_ns)
    );
    for name in ["new", "copy", "link"] {
        assert!(
            !vfs.exists(&c.alice, &format!("{docs}/{name}")).unwrap(),
            "{name}"
        );
    }
    // System is not redirected either: Bob's link to machine.json stays unwritten.
    vfs.symlink(&c.bob, "/system/config/machine.json", "/tmp/m")
        .unwrap();
    let machine = read_all(&mut vfs, &c.system, "/system/config/machine.json", None);
    assert_eq!(
        vfs.write_file(&c.system, "/tmp/m", b"{}", None, None),
        Err(VfsError::PermissionDenied)
    );
    assert_eq!(
        vfs.chown(&c.system, "/tmp/m", Some(BOB)),
        Err(VfsError::PermissionDenied)
    );
    assert_eq!(
        read_all(&mut vfs, &c.system, "/system/config/machine.json", None),
        machine
    );
    // Reading through the link is not a write: it still resolves.
    assert_eq!(
        read_all(&mut vfs, &c.alice, "/tmp/report", None),
        b"original"
    );
    // Her own links in /tmp, and links outside sticky directories, are followed.
    vfs.symlink(&c.alice, &target, "/tmp/mine").unwrap();
    vfs.write_file(&c.alice, "/tmp/mine", b"via my link", None, None)
        .unwrap();
    let inside = format!("{}/Desktop/report-link", home(ALICE));
    vfs.symlink(&c.alice, &target, &inside).unwrap();
    let h = vfs
        .open(&c.alice, &inside, rw(|f| f.truncate = true), None, None)
        .unwrap()
        .handle;
    vfs.handle_write(&c.alice, h, b"via home link").unwrap();
    vfs.handle_close(&c.alice, h).unwrap();
    assert_eq!(
        read_all(&mut vfs, &c.alice, &target, None),
        b"via home link"
    );
}

#[test]
fn stat_shows_the_hash_only_to_callers_who_may_read() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    // Private to Alice (owner rw, system r), in a directory everyone may traverse.
    vfs.write_file(&c.alice, "/tmp/secret", b"guess me", None, None)
        .unwrap();
    let mine = vfs.stat(&c.alice, "/tmp/secret", true).unwrap();
    assert!(mine.sha256.is_some(), "the owner sees it");
    assert!(
        vfs.stat(&c.system, "/tmp/secret", true)
            .unwrap()
            .sha256
            .is_some()
    );
    for ctx in [&c.bob, &c.anon] {
        let st = vfs.stat(ctx, "/tmp/secret", true).unwrap();
        assert_eq!(st.sha256, None, "no hash without read");
        assert_eq!(st.size, 8, "the rest of the metadata is still there");
        assert_eq!(
            vfs.read_file(ctx, "/tmp/secret", 0, None, None).err(),
            Some(VfsError::PermissionDenied)
        );
    }
    // Readable to the world: everyone sees it.
    vfs.chmod(&c.alice, "/tmp/secret", FilePermissions::WORLD_READABLE)
        .unwrap();
    assert_eq!(
        vfs.stat(&c.bob, "/tmp/secret", true).unwrap().sha256,
        mine.sha256
    );
    // A System-only file: a user sees no hash.
    vfs.write_file(&c.system, "/tmp/sys", b"s", None, None)
        .unwrap();
    assert_eq!(vfs.stat(&c.alice, "/tmp/sys", true).unwrap().sha256, None);
    // HANDLE_STAT follows the same rule: a write-only handle on a file the caller may not read.
    vfs.write_file(
        &c.alice,
        "/tmp/drop",
        b"d",
        None,
        Some(FilePermissions {
            world_write: true,
            ..FilePermissions::USER_FILE
        }),
    )
    .unwrap();
    let wo = OpenFlags {
        write: true,
        ..Default::default()
    };
    let h = vfs
        .open(&c.bob, "/tmp/drop", wo, None, None)
        .unwrap()
        .handle;
    assert_eq!(vfs.handle_stat(&c.bob, h).unwrap().sha256, None);
    vfs.handle_discard(&c.bob, h).unwrap();
}
