//! Encryption and concurrency that cannot surprise (issue 15, item 5): an encrypted file is
//! never rewritten without its key, a commit over another writer's change is a `Conflict`
//! (unless the handle asked to overwrite), appends from two handles both land, and a CLOSE
//! that fails to commit keeps the handle for a retry or a DISCARD.

mod semantics_support;

use semantics_support::{
    ALICE, RamVfs, TestEnv, callers, home, open, pattern, read_all, rw, setup, write_all,
};
use vfs_service::protocol::limits::DEFAULT_QUOTA;
use vfs_service::protocol::messages::FileKey;
use vfs_service::{Ctx, VfsError};

const KEY: FileKey = [0x42; 32];
const WRONG: FileKey = [0x24; 32];

fn doc(name: &str) -> String {
    format!("{}/Documents/{name}", home(ALICE))
}

/// Every stored piece of the file's current content, as the store holds them.
fn stored_pieces(vfs: &mut RamVfs, ctx: &Ctx<'_>, path: &str) -> Vec<u8> {
    let inode = vfs.stat(ctx, path, true).unwrap().inode;
    let content = vfs_service::inode::keys::inode(inode);
    let bytes = vfs
        .store_mut()
        .get(storage_backend::Db::Userspace, &content)
        .unwrap()
        .unwrap();
    let node: vfs_service::inode::Inode = postcard::from_bytes(&bytes).unwrap();
    let vfs_service::inode::Kind::File { content } = node.kind else {
        panic!("not a file");
    };
    let mut out = Vec::new();
    for i in 0.. {
        let key = vfs_service::inode::keys::piece(content, i);
        match vfs
            .store_mut()
            .get(storage_backend::Db::Userspace, &key)
            .unwrap()
        {
            Some(p) => out.extend_from_slice(&p),
            None => return out,
        }
    }
    out
}

#[test]
fn an_encrypted_file_is_never_rewritten_without_its_key() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let f = doc("sealed");
    let secret = pattern(6000, 7);
    vfs.write_file(&c.alice, &f, &secret, Some(KEY), None)
        .unwrap();
    let before = vfs.stat(&c.alice, &f, true).unwrap();
    let stored = stored_pieces(&mut vfs, &c.alice, &f);
    let plaintext = b"PLAINTEXT-MARKER";
    for key in [None, Some(WRONG)] {
        assert_eq!(
            vfs.write_file(&c.alice, &f, plaintext, key, None),
            Err(VfsError::EncryptionError),
            "WRITE with {key:?}"
        );
        for flags in [
            rw(|f| f.truncate = true),
            rw(|f| f.append = true),
            rw(|_| {}),
        ] {
            assert_eq!(
                vfs.open(&c.alice, &f, flags, key, None).err(),
                Some(VfsError::EncryptionError),
                "OPEN {flags:?} with {key:?}"
            );
        }
    }
    // Unchanged, still encrypted, still needing the key.
    let after = vfs.stat(&c.alice, &f, true).unwrap();
    assert!(after.encrypted);
    assert_eq!(
        (after.sha256, after.size, after.modified_ns),
        (before.sha256, before.size, before.modified_ns)
    );
    assert_eq!(stored_pieces(&mut vfs, &c.alice, &f), stored);
    assert!(!stored.windows(plaintext.len()).any(|w| w == plaintext));
    assert_eq!(read_all(&mut vfs, &c.alice, &f, Some(KEY)), secret);
    assert_eq!(
        vfs.read_file(&c.alice, &f, 0, None, None).err(),
        Some(VfsError::EncryptionError)
    );
    // With the key, both kinds of rewrite work and stay encrypted.
    vfs.write_file(&c.alice, &f, b"new", Some(KEY), None)
        .unwrap();
    let h = open(&mut vfs, &c.alice, &f, rw(|f| f.truncate = true), Some(KEY));
    write_all(&mut vfs, &c.alice, h, b"newer");
    vfs.handle_close(&c.alice, h).unwrap();
    assert!(vfs.stat(&c.alice, &f, true).unwrap().encrypted);
    assert_eq!(read_all(&mut vfs, &c.alice, &f, Some(KEY)), b"newer");
}

#[test]
fn a_second_writer_gets_conflict_and_overwrite_means_last_writer_wins() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let f = doc("shared");
    vfs.write_file(&c.alice, &f, b"base", None, None).unwrap();
    for commit in ["flush", "close"] {
        vfs.write_file(&c.alice, &f, b"base", None, None).unwrap();
        let first = open(&mut vfs, &c.alice, &f, rw(|_| {}), None);
        let second = open(&mut vfs, &c.alice2, &f, rw(|_| {}), None);
        write_all(&mut vfs, &c.alice, first, b"FIRST");
        write_all(&mut vfs, &c.alice2, second, b"SECOND");
        vfs.handle_close(&c.alice, first).unwrap();
        let r = match commit {
            "flush" => vfs.handle_flush(&c.alice2, second),
            _ => vfs.handle_close(&c.alice2, second),
        };
        assert_eq!(r, Err(VfsError::Conflict), "{commit}");
        assert_eq!(read_all(&mut vfs, &c.alice, &f, None), b"FIRST");
        // The losing handle is still open, with its writes, until it is discarded.
        assert_eq!(vfs.handle_stat(&c.alice2, second).unwrap().size, 6);
        assert_eq!(
            vfs.handle_close(&c.alice2, second),
            Err(VfsError::Conflict),
            "a retry conflicts again"
        );
        vfs.handle_discard(&c.alice2, second).unwrap();
        assert_eq!(
            vfs.handle_stat(&c.alice2, second).err(),
            Some(VfsError::StaleHandle)
        );
        assert_eq!(read_all(&mut vfs, &c.alice, &f, None), b"FIRST");
    }
    // A whole-file WRITE by someone else is a change too.
    let h = open(&mut vfs, &c.alice, &f, rw(|_| {}), None);
    write_all(&mut vfs, &c.alice, h, b"mine");
    vfs.write_file(&c.alice2, &f, b"theirs", None, None)
        .unwrap();
    assert_eq!(vfs.handle_close(&c.alice, h), Err(VfsError::Conflict));
    vfs.handle_discard(&c.alice, h).unwrap();
    // With overwrite: last writer wins.
    let normal = open(&mut vfs, &c.alice, &f, rw(|_| {}), None);
    let forced = open(&mut vfs, &c.alice2, &f, rw(|f| f.overwrite = true), None);
    write_all(&mut vfs, &c.alice, normal, b"normal");
    write_all(&mut vfs, &c.alice2, forced, b"forced!");
    vfs.handle_close(&c.alice, normal).unwrap();
    vfs.handle_close(&c.alice2, forced).unwrap();
    assert_eq!(read_all(&mut vfs, &c.alice, &f, None), b"forced!");
    // A handle's own FLUSH is no conflict for its later commits.
    let h = open(&mut vfs, &c.alice, &f, rw(|_| {}), None);
    write_all(&mut vfs, &c.alice, h, b"one");
    vfs.handle_flush(&c.alice, h).unwrap();
    write_all(&mut vfs, &c.alice, h, b"two");
    vfs.handle_close(&c.alice, h).unwrap();
    assert_eq!(read_all(&mut vfs, &c.alice, &f, None), b"onetwo!");
}

#[test]
fn appends_from_two_handles_both_land() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let append = rw(|f| f.append = true);
    // Small, then across several pieces, then encrypted.
    for (name, base_len, add, key) in [
        ("log", 4usize, 3usize, None),
        ("big-log", 5000, 9000, None),
        ("sealed-log", 4100, 4000, Some(KEY)),
    ] {
        let f = doc(name);
        let base = pattern(base_len, 1);
        vfs.write_file(&c.alice, &f, &base, key, None).unwrap();
        let a = open(&mut vfs, &c.alice, &f, append, key);
        let b = open(&mut vfs, &c.alice2, &f, append, key);
        let (from_a, from_b) = (pattern(add, 2), pattern(add + 1, 3));
        write_all(&mut vfs, &c.alice, a, &from_a);
        write_all(&mut vfs, &c.alice2, b, &from_b);
        vfs.handle_close(&c.alice, a).unwrap();
        vfs.handle_flush(&c.alice2, b).unwrap();
        // The second handle goes on from the merged end.
        write_all(&mut vfs, &c.alice2, b, b"tail");
        vfs.handle_close(&c.alice2, b).unwrap();
        let want = [base, from_a, from_b, b"tail".to_vec()].concat();
        assert_eq!(read_all(&mut vfs, &c.alice, &f, key), want, "{name}");
    }
    // An append handle that also truncated no longer only appends: Conflict.
    let f = doc("log");
    let a = open(&mut vfs, &c.alice, &f, append, None);
    vfs.handle_truncate(&c.alice, a, 2).unwrap();
    write_all(&mut vfs, &c.alice, a, b"x");
    vfs.write_file(&c.alice2, &f, b"other", None, None).unwrap();
    assert_eq!(vfs.handle_close(&c.alice, a), Err(VfsError::Conflict));
    vfs.handle_discard(&c.alice, a).unwrap();
    assert_eq!(read_all(&mut vfs, &c.alice, &f, None), b"other");
}

#[test]
fn a_close_that_fails_to_commit_keeps_the_handle() {
    let env = TestEnv::new();
    let c = callers(&env);
    let mut vfs = setup(&env);
    let f = doc("big");
    vfs.write_file(&c.alice, &f, b"old", None, None).unwrap();
    let data = pattern(10_000, 9);
    let h = open(&mut vfs, &c.alice, &f, rw(|f| f.truncate = true), None);
    write_all(&mut vfs, &c.alice, h, &data);
    // System lowers Alice's quota under what the commit needs: the commit must fail. (`used`
    // counts the staged version already, which the commit turns into held bytes.)
    let used = vfs.quota(&c.alice, ALICE).unwrap().used;
    vfs.set_quota(&c.system, ALICE, used - 100).unwrap();
    assert_eq!(vfs.handle_close(&c.alice, h), Err(VfsError::QuotaExceeded));
    assert_eq!(vfs.handle_flush(&c.alice, h), Err(VfsError::QuotaExceeded));
    // Nothing committed, the handle still holds the writes.
    assert_eq!(read_all(&mut vfs, &c.alice, &f, None), b"old");
    assert_eq!(vfs.handle_stat(&c.alice, h).unwrap().size, 10_000);
    vfs.handle_seek(
        &c.alice,
        h,
        vfs_service::protocol::messages::SeekFrom::Start(0),
    )
    .unwrap();
    assert_eq!(vfs.handle_read(&c.alice, h, 3968).unwrap(), data[..3968]);
    // Room again: the retried CLOSE commits everything, with a hash that checks out.
    vfs.set_quota(&c.system, ALICE, DEFAULT_QUOTA).unwrap();
    vfs.handle_close(&c.alice, h).unwrap();
    assert_eq!(read_all(&mut vfs, &c.alice, &f, None), data);
    assert_eq!(
        vfs.handle_stat(&c.alice, h).err(),
        Some(VfsError::StaleHandle)
    );
    // Or the client gives up: DISCARD releases the handle and the file stays as it was.
    let h = open(&mut vfs, &c.alice, &f, rw(|_| {}), None);
    vfs.handle_seek(
        &c.alice,
        h,
        vfs_service::protocol::messages::SeekFrom::End(0),
    )
    .unwrap();
    write_all(&mut vfs, &c.alice, h, &pattern(5000, 4));
    // `used` holds the 15,000-byte staged version; committing it leaves the account 10,000
    // lower, so a quota below that refuses the commit.
    let used = vfs.quota(&c.alice, ALICE).unwrap().used;
    vfs.set_quota(&c.system, ALICE, used - 12_000).unwrap();
    assert_eq!(vfs.handle_close(&c.alice, h), Err(VfsError::QuotaExceeded));
    vfs.handle_discard(&c.alice, h).unwrap();
    assert_eq!(vfs.handle_close(&c.alice, h), Err(VfsError::StaleHandle));
    assert_eq!(read_all(&mut vfs, &c.alice, &f, None), data);
    vfs.set_quota(&c.system, ALICE, DEFAULT_QUOTA).unwrap();
}
