//! The semantics a client can rely on when others share the filesystem (issue 15, items 4 and
//! 5): sticky `/tmp`, links planted in it, the content hash only for readers, encrypted files
//! only with their key, conflicting and appending writers, and a CLOSE that keeps its handle
//! when the commit fails.

use alloc::format;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use vfs_api::FilePermissions;
use vfs_api::error::VfsError;
use vfs_api::protocol::messages::{FileKey, Handle, OpenFlags};

use super::{Case, Outcome, World, ensure, expect_err, pattern, step};

pub(super) fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    alloc::vec![
        Case {
            name: "security.sticky_tmp",
            run: sticky::<K>
        },
        Case {
            name: "security.planted_symlink",
            run: planted::<K>
        },
        Case {
            name: "security.stat_hash_needs_read",
            run: stat_hash::<K>
        },
        Case {
            name: "files.encrypted_needs_its_key",
            run: encrypted::<K>
        },
        Case {
            name: "handle.conflict",
            run: conflict::<K>
        },
        Case {
            name: "handle.append_merge",
            run: append_merge::<K>
        },
        Case {
            name: "handle.close_retry",
            run: close_retry::<K>
        },
    ]
}

const KEY: FileKey = [0x5a; 32];

fn rw(truncate: bool, append: bool, overwrite: bool) -> OpenFlags {
    OpenFlags {
        read: true,
        write: true,
        truncate,
        append,
        overwrite,
        ..OpenFlags::default()
    }
}

/// Writes through one of Alice's handles in message-sized pieces.
fn write_all<K: Kernel>(w: &mut World<'_, K>, h: Handle, data: &[u8]) -> Outcome {
    for chunk in data.chunks(3968) {
        let n = step("write", w.alice.write(h, chunk))?;
        ensure(n as usize == chunk.len(), "short write")?;
    }
    Ok(())
}

/// Another user cannot unlink or rename Alice's `/tmp` entry; she and System can.
fn sticky<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("/tmp/sticky-{}", w.alice_id);
    let moved = format!("{f}-moved");
    step("alice writes", w.alice.write_file(&f, b"hers"))?;
    expect_err("bob unlinks", w.bob.unlink(&f), VfsError::PermissionDenied)?;
    expect_err(
        "bob renames",
        w.bob.rename(&f, "/tmp/bob-took-it"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "anon unlinks",
        w.anon.unlink(&f),
        VfsError::PermissionDenied,
    )?;
    ensure(
        step("intact", w.alice.read_file(&f))? == b"hers",
        "the entry survived",
    )?;
    ensure(
        !step("exists", w.alice.exists("/tmp/bob-took-it"))?,
        "renamed by bob",
    )?;
    step("alice renames", w.alice.rename(&f, &moved))?;
    step("system renames", w.system.rename(&moved, &f))?;
    step("system unlinks", w.system.unlink(&f))?;
    let g = format!("/tmp/sticky-{}", w.bob_id);
    step("bob writes", w.bob.write_file(&g, b"his"))?;
    step("bob unlinks his own", w.bob.unlink(&g))
}

/// A link Bob plants in `/tmp` does not redirect Alice's writes; nothing reaches the target.
fn planted<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let target = format!("{}/Documents/planted-target", w.alice_home());
    let docs = format!("{}/Documents", w.alice_home());
    let link = format!("/tmp/planted-{}", w.bob_id);
    let dir_link = format!("{link}-dir");
    step("target", w.alice.write_file(&target, b"original"))?;
    step("bob plants", w.bob.symlink(&target, &link))?;
    step("bob plants a dir link", w.bob.symlink(&docs, &dir_link))?;
    expect_err(
        "alice writes through it",
        w.alice.write_file(&link, b"overwritten"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "alice streams through it",
        w.alice.write_file(&link, &pattern(9000, 3)),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "alice opens it truncating",
        w.alice.open(&link, rw(true, false, false)),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "alice creates through the dir link",
        w.alice.write_file(&format!("{dir_link}/new"), b"x"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "system writes through it",
        w.system.write_file(&link, b"system"),
        VfsError::PermissionDenied,
    )?;
    ensure(
        step("target", w.alice.read_file(&target))? == b"original",
        "the target was written",
    )?;
    ensure(
        !step("exists", w.alice.exists(&format!("{docs}/new")))?,
        "a file was created through the link",
    )?;
    ensure(
        step("reads still follow", w.alice.read_file(&link))? == b"original",
        "read through the link",
    )?;
    // Her own link in /tmp is followed.
    let mine = format!("/tmp/planted-{}", w.alice_id);
    step("own link", w.alice.symlink(&target, &mine))?;
    step("write through own link", w.alice.write_file(&mine, b"mine"))?;
    ensure(
        step("target", w.alice.read_file(&target))? == b"mine",
        "own link not followed",
    )?;
    step("cleanup", w.alice.unlink(&mine))?;
    step("cleanup", w.bob.unlink(&link))?;
    step("cleanup", w.bob.unlink(&dir_link))?;
    step("cleanup", w.alice.unlink(&target))
}

/// Bob can stat Alice's private `/tmp` file but gets no hash of it.
fn stat_hash<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("/tmp/hash-{}", w.alice_id);
    step("write", w.alice.write_file(&f, b"guess me"))?;
    ensure(
        step("alice stats", w.alice.stat(&f))?.sha256.is_some(),
        "the owner sees the hash",
    )?;
    let st = step("bob stats", w.bob.stat(&f))?;
    ensure(
        st.sha256.is_none() && st.size == 8,
        "bob sees a hash (or no size)",
    )?;
    ensure(
        step("anon stats", w.anon.stat(&f))?.sha256.is_none(),
        "anon sees a hash",
    )?;
    step(
        "world-readable",
        w.alice.chmod(&f, FilePermissions::WORLD_READABLE),
    )?;
    ensure(
        step("bob stats", w.bob.stat(&f))?.sha256.is_some(),
        "a reader sees the hash",
    )?;
    step("unlink", w.alice.unlink(&f))
}

/// Writing or truncating an encrypted file without its key is refused; the content stays.
fn encrypted<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/Documents/sealed", w.alice_home());
    step("write", w.alice.write_file_encrypted(&f, b"secret", &KEY))?;
    let before = step("stat", w.alice.stat(&f))?;
    expect_err(
        "write without key",
        w.alice.write_file(&f, b"plain"),
        VfsError::EncryptionError,
    )?;
    expect_err(
        "write with another key",
        w.alice.write_file_encrypted(&f, b"other", &[0xa5; 32]),
        VfsError::EncryptionError,
    )?;
    expect_err(
        "truncating open without key",
        w.alice.open(&f, rw(true, false, false)),
        VfsError::EncryptionError,
    )?;
    let after = step("stat", w.alice.stat(&f))?;
    ensure(
        after.encrypted && after.sha256 == before.sha256 && after.size == before.size,
        "the stored content changed",
    )?;
    ensure(
        step("read", w.alice.read_file_encrypted(&f, &KEY))? == b"secret",
        "content",
    )?;
    step(
        "rewrite with the key",
        w.alice.write_file_encrypted(&f, b"new", &KEY),
    )?;
    ensure(
        step("read", w.alice.read_file_encrypted(&f, &KEY))? == b"new",
        "rewrite",
    )?;
    step("unlink", w.alice.unlink(&f))
}

/// Two handles write one file: the second commit is a `Conflict` and keeps its handle; with
/// `overwrite` the last writer wins.
fn conflict<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/Documents/conflict", w.alice_home());
    step("write", w.alice.write_file(&f, b"base"))?;
    let first = step("open 1", w.alice.open(&f, rw(false, false, false)))?.handle;
    let second = step("open 2", w.alice.open(&f, rw(false, false, false)))?.handle;
    write_all(w, first, b"FIRST")?;
    write_all(w, second, b"SECOND")?;
    step("close 1", w.alice.close(first))?;
    expect_err("flush 2", w.alice.flush(second), VfsError::Conflict)?;
    expect_err("close 2", w.alice.close(second), VfsError::Conflict)?;
    ensure(
        step("handle kept", w.alice.handle_stat(second))?.size == 6,
        "the handle was released",
    )?;
    step("discard 2", w.alice.discard(second))?;
    ensure(
        step("read", w.alice.read_file(&f))? == b"FIRST",
        "the first writer's data was lost",
    )?;
    let normal = step("open 3", w.alice.open(&f, rw(false, false, false)))?.handle;
    let forced = step("open 4", w.alice.open(&f, rw(false, false, true)))?.handle;
    write_all(w, normal, b"normal")?;
    write_all(w, forced, b"forced!")?;
    step("close 3", w.alice.close(normal))?;
    step("close 4 (overwrite)", w.alice.close(forced))?;
    ensure(
        step("read", w.alice.read_file(&f))? == b"forced!",
        "overwrite: last writer wins",
    )?;
    step("unlink", w.alice.unlink(&f))
}

/// Two append handles: both appends land.
fn append_merge<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/Documents/log", w.alice_home());
    let base = pattern(5000, 1);
    step("write", w.alice.write_file(&f, &base))?;
    let a = step("open a", w.alice.open(&f, rw(false, true, false)))?.handle;
    let b = step("open b", w.alice.open(&f, rw(false, true, false)))?.handle;
    let (from_a, from_b) = (pattern(4500, 2), pattern(300, 3));
    write_all(w, a, &from_a)?;
    write_all(w, b, &from_b)?;
    step("close a", w.alice.close(a))?;
    step("close b", w.alice.close(b))?;
    let want = [base, from_a, from_b].concat();
    ensure(
        step("read", w.alice.read_file(&f))? == want,
        "an append was lost",
    )?;
    step("unlink", w.alice.unlink(&f))
}

/// A CLOSE whose commit fails (over quota) keeps the handle: retried after room is made it
/// commits everything; a DISCARD releases it and leaves the file as it was.
fn close_retry<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/Documents/retry", w.alice_home());
    step("write", w.alice.write_file(&f, b"old"))?;
    let quota = step("quota", w.alice.quota(w.alice_id))?;
    let data = pattern(10_000, 9);
    let h = step("open", w.alice.open(&f, rw(true, false, false)))?.handle;
    write_all(w, h, &data)?;
    step(
        "system lowers the quota",
        w.system.set_quota(w.alice_id, quota.used + 100),
    )?;
    let refused = w.alice.close(h);
    let kept = w.alice.handle_stat(h).map(|s| s.size);
    let unchanged = w.alice.read_file(&f);
    step(
        "system restores the quota",
        w.system.set_quota(w.alice_id, quota.limit),
    )?;
    expect_err("close over quota", refused, VfsError::QuotaExceeded)?;
    ensure(step("handle kept", kept)? == 10_000, "writes kept")?;
    ensure(
        step("read", unchanged)? == b"old",
        "a failed close committed",
    )?;
    step("retried close", w.alice.close(h))?;
    ensure(
        step("read", w.alice.read_file(&f))? == data,
        "the retry lost data",
    )?;
    let h = step("open", w.alice.open(&f, rw(true, false, false)))?.handle;
    write_all(w, h, b"dropped")?;
    step("discard", w.alice.discard(h))?;
    expect_err("after discard", w.alice.close(h), VfsError::StaleHandle)?;
    ensure(
        step("read", w.alice.read_file(&f))? == data,
        "a discard changed the file",
    )?;
    step("unlink", w.alice.unlink(&f))
}
