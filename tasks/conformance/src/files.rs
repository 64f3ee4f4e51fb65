//! File content: boundary sizes, ranged reads, unlink, rename, copy, symlinks, encryption and
//! quotas.

use alloc::format;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use vfs_api::client::ClientError;
use vfs_api::error::VfsError;

use super::{Case, Outcome, World, ensure, expect_err, pattern, step};

pub(super) fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    alloc::vec![
        Case {
            name: "file.sizes_0_1_4096_1MiB+1",
            run: sizes::<K>
        },
        Case {
            name: "file.64MiB_streamed",
            run: huge::<K>
        },
        Case {
            name: "file.read_offset_length",
            run: ranged::<K>
        },
        Case {
            name: "file.unlink",
            run: unlink::<K>
        },
        Case {
            name: "file.rename_file_and_dir",
            run: rename::<K>
        },
        Case {
            name: "file.copy",
            run: copy::<K>
        },
        Case {
            name: "symlink.create_read_resolve",
            run: symlinks::<K>
        },
        Case {
            name: "symlink.loop_and_escape",
            run: symlink_loop::<K>
        },
        Case {
            name: "crypto.key_required_and_checked",
            run: encrypted::<K>
        },
        Case {
            name: "quota.overflow_by_one_byte",
            run: quota::<K>
        },
        Case {
            name: "quota.usage_per_subtree",
            run: usage::<K>
        },
    ]
}

fn sizes<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    for (i, len) in [0usize, 1, 4096, (1 << 20) + 1].into_iter().enumerate() {
        let f = format!("{h}/size{len}");
        let data = pattern(len, i as u8);
        step(&format!("write {len}"), w.alice.write_file(&f, &data))?;
        let back = step(&format!("read {len}"), w.alice.read_file(&f))?;
        ensure(back == data, format!("{len} bytes read back"))?;
        let st = step("stat", w.alice.stat(&f))?;
        ensure(st.size == len as u64, format!("size {len}"))?;
        step("unlink", w.alice.unlink(&f))?;
    }
    Ok(())
}

fn huge<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    if !w.large {
        return Ok(());
    }
    let f = format!("{}/huge.bin", w.alice_home());
    let len = 64usize << 20;
    let data = pattern(len, 0x5a);
    step("write 64 MiB", w.alice.write_file(&f, &data))?;
    let st = step("stat", w.alice.stat(&f))?;
    ensure(st.size == len as u64, "64 MiB size")?;
    let back = step("read 64 MiB", w.alice.read_file(&f))?;
    ensure(back == data, "64 MiB read back")?;
    step("unlink", w.alice.unlink(&f))
}

fn ranged<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/ranged", w.alice_home());
    let data = pattern(10_000, 3);
    step("write", w.alice.write_file(&f, &data))?;
    let r = step("read", w.alice.read_at(&f, 4090, Some(20), None))?;
    ensure(
        r.data == data[4090..4110] && r.size == 10_000,
        "piece-crossing range",
    )?;
    let r = step("read tail", w.alice.read_at(&f, 9_990, None, None))?;
    ensure(r.data == data[9_990..], "tail")?;
    let r = step("read past end", w.alice.read_at(&f, 20_000, Some(5), None))?;
    ensure(r.data.is_empty(), "past the end is empty")?;
    expect_err(
        "read a dir",
        w.alice.read_at(&w.alice_home(), 0, None, None),
        VfsError::NotAFile,
    )?;
    step("unlink", w.alice.unlink(&f))
}

fn unlink<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    expect_err(
        "missing",
        w.alice.unlink(&format!("{h}/none")),
        VfsError::NotFound,
    )?;
    expect_err(
        "a directory",
        w.alice.unlink(&format!("{h}/Music")),
        VfsError::NotAFile,
    )?;
    step("write", w.alice.write_file(&format!("{h}/u"), b"u"))?;
    step("unlink", w.alice.unlink(&format!("{h}/u")))?;
    expect_err(
        "read after unlink",
        w.alice.read_file(&format!("{h}/u")),
        VfsError::NotFound,
    )
}

fn rename<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    step("tree", w.alice.mkdir_all(&format!("{h}/mv/a/b")))?;
    step(
        "file",
        w.alice.write_file(&format!("{h}/mv/a/b/f"), b"moved"),
    )?;
    step(
        "rename dir",
        w.alice
            .rename(&format!("{h}/mv/a"), &format!("{h}/Documents/a2")),
    )?;
    let back = step(
        "read moved",
        w.alice.read_file(&format!("{h}/Documents/a2/b/f")),
    )?;
    ensure(back == b"moved", "content follows its directory")?;
    ensure(
        !step("old gone", w.alice.exists(&format!("{h}/mv/a")))?,
        "old path gone",
    )?;
    expect_err(
        "into own subtree",
        w.alice.rename(
            &format!("{h}/Documents/a2"),
            &format!("{h}/Documents/a2/b/x"),
        ),
        VfsError::InvalidMove,
    )?;
    step("file2", w.alice.write_file(&format!("{h}/mv/g"), b"g"))?;
    expect_err(
        "onto existing",
        w.alice
            .rename(&format!("{h}/mv/g"), &format!("{h}/Documents/a2/b/f")),
        VfsError::AlreadyExists,
    )?;
    step(
        "rename file",
        w.alice.rename(&format!("{h}/mv/g"), &format!("{h}/mv/g2")),
    )?;
    expect_err(
        "missing source",
        w.alice.rename(&format!("{h}/mv/g"), &format!("{h}/mv/g3")),
        VfsError::NotFound,
    )?;
    expect_err(
        "bob moves alice's file",
        w.bob
            .rename(&format!("{h}/mv/g2"), &format!("{}/stolen", w.bob_home())),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "alice moves into bob's home",
        w.alice
            .rename(&format!("{h}/mv/g2"), &format!("{}/gift", w.bob_home())),
        VfsError::PermissionDenied,
    )?;
    step("cleanup", w.alice.rmdir_all(&format!("{h}/mv")))?;
    step("cleanup", w.alice.rmdir_all(&format!("{h}/Documents/a2")))
}

fn copy<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    let data = pattern(20_000, 9);
    step("write", w.alice.write_file(&format!("{h}/c1"), &data))?;
    step("copy", w.alice.copy(&format!("{h}/c1"), &format!("{h}/c2")))?;
    ensure(
        step("read copy", w.alice.read_file(&format!("{h}/c2")))? == data,
        "copy equal",
    )?;
    let (a, b) = (
        step("s1", w.alice.stat(&format!("{h}/c1")))?,
        step("s2", w.alice.stat(&format!("{h}/c2")))?,
    );
    ensure(
        a.sha256 == b.sha256 && a.inode != b.inode,
        "same hash, new inode",
    )?;
    step(
        "write source",
        w.alice.write_file(&format!("{h}/c1"), b"changed"),
    )?;
    ensure(
        step("read copy", w.alice.read_file(&format!("{h}/c2")))? == data,
        "copy independent",
    )?;
    expect_err(
        "copy a dir",
        w.alice.copy(&format!("{h}/Music"), &format!("{h}/M2")),
        VfsError::NotAFile,
    )?;
    expect_err(
        "copy onto existing",
        w.alice.copy(&format!("{h}/c1"), &format!("{h}/c2")),
        VfsError::AlreadyExists,
    )?;
    expect_err(
        "bob copies alice's file",
        w.bob
            .copy(&format!("{h}/c1"), &format!("{}/c", w.bob_home())),
        VfsError::PermissionDenied,
    )?;
    step("unlink", w.alice.unlink(&format!("{h}/c1")))?;
    step("unlink", w.alice.unlink(&format!("{h}/c2")))
}

fn symlinks<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    step(
        "target",
        w.alice
            .write_file(&format!("{h}/Documents/t.txt"), b"target"),
    )?;
    step(
        "relative link",
        w.alice.symlink("Documents/t.txt", &format!("{h}/rel")),
    )?;
    step(
        "absolute link",
        w.alice
            .symlink(&format!("{h}/Documents"), &format!("{h}/docs")),
    )?;
    ensure(
        step("via rel", w.alice.read_file(&format!("{h}/rel")))? == b"target",
        "relative",
    )?;
    ensure(
        step(
            "via dir link",
            w.alice.read_file(&format!("{h}/docs/t.txt")),
        )? == b"target",
        "dir link",
    )?;
    ensure(
        step("readlink", w.alice.readlink(&format!("{h}/rel")))? == "Documents/t.txt",
        "readlink",
    )?;
    let r = step(
        "resolve",
        w.alice.resolve_path(&format!("{h}/docs/./../docs/t.txt")),
    )?;
    ensure(
        r == format!("{h}/Documents/t.txt"),
        format!("resolved to {r}"),
    )?;
    let l = step("lstat", w.alice.lstat(&format!("{h}/rel")))?;
    ensure(
        matches!(l.kind, vfs_api::protocol::messages::FileKind::Symlink(_)),
        "lstat sees the link",
    )?;
    let s = step("stat", w.alice.stat(&format!("{h}/rel")))?;
    ensure(s.size == 6, "stat follows")?;
    expect_err(
        "readlink of a file",
        w.alice.readlink(&format!("{h}/Documents/t.txt")),
        VfsError::InvalidArgument,
    )?;
    step(
        "dangling",
        w.alice.symlink("nowhere", &format!("{h}/dangling")),
    )?;
    ensure(
        step("dangling exists", w.alice.exists(&format!("{h}/dangling")))?,
        "a dangling link exists",
    )?;
    expect_err(
        "read dangling",
        w.alice.read_file(&format!("{h}/dangling")),
        VfsError::NotFound,
    )?;
    for l in ["rel", "docs", "dangling"] {
        step("unlink link", w.alice.unlink(&format!("{h}/{l}")))?;
    }
    ensure(
        step(
            "target kept",
            w.alice.exists(&format!("{h}/Documents/t.txt")),
        )?,
        "unlink removes the link only",
    )?;
    step("unlink", w.alice.unlink(&format!("{h}/Documents/t.txt")))
}

fn symlink_loop<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    step("a->b", w.alice.symlink("b", &format!("{h}/la")))?;
    step("b->a", w.alice.symlink("la", &format!("{h}/b")))?;
    expect_err(
        "loop",
        w.alice.stat(&format!("{h}/la")),
        VfsError::SymlinkLoop,
    )?;
    // A chain of 40 links resolves; 41 does not.
    step("end", w.alice.write_file(&format!("{h}/chain0"), b"end"))?;
    for i in 1..=41 {
        step(
            "link",
            w.alice
                .symlink(&format!("chain{}", i - 1), &format!("{h}/chain{i}")),
        )?;
    }
    ensure(
        step("40 links", w.alice.read_file(&format!("{h}/chain40")))? == b"end",
        "depth 40 resolves",
    )?;
    expect_err(
        "41 links",
        w.alice.read_file(&format!("{h}/chain41")),
        VfsError::SymlinkLoop,
    )?;
    step(
        "escape",
        w.alice
            .symlink("../../../../../../etc", &format!("{h}/esc")),
    )?;
    expect_err(
        "escape the root",
        w.alice.stat(&format!("{h}/esc")),
        VfsError::InvalidPath,
    )?;
    step(
        "to bob",
        w.alice.symlink(&w.bob_home(), &format!("{h}/tobob")),
    )?;
    expect_err(
        "list bob via link",
        w.alice.readdir(&format!("{h}/tobob")),
        VfsError::PermissionDenied,
    )?;
    step(
        "to system",
        w.alice.symlink("/system/config", &format!("{h}/tosys")),
    )?;
    expect_err(
        "write /system via link",
        w.alice.write_file(&format!("{h}/tosys/evil.json"), b"x"),
        VfsError::PermissionDenied,
    )?;
    for l in ["la", "b", "esc", "tobob", "tosys"] {
        step("unlink", w.alice.unlink(&format!("{h}/{l}")))?;
    }
    for i in 0..=41 {
        step("unlink", w.alice.unlink(&format!("{h}/chain{i}")))?;
    }
    Ok(())
}

fn encrypted<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    let key = [0x42u8; 32];
    let f = format!("{h}/.zos/credentials/secret");
    step("write", w.alice.write_file_encrypted(&f, b"hunter2", &key))?;
    ensure(
        step("stat", w.alice.stat(&f))?.encrypted,
        "marked encrypted",
    )?;
    ensure(
        step("read", w.alice.read_file_encrypted(&f, &key))? == b"hunter2",
        "round trip",
    )?;
    expect_err("no key", w.alice.read_file(&f), VfsError::EncryptionError)?;
    expect_err(
        "wrong key",
        w.alice.read_file_encrypted(&f, &[0x43; 32]),
        VfsError::EncryptionError,
    )?;
    // Large encrypted file through handles.
    let big = pattern((1 << 20) + 1, 7);
    let g = format!("{h}/big.enc");
    step("write big", w.alice.write_file_encrypted(&g, &big, &key))?;
    ensure(
        step("read big", w.alice.read_file_encrypted(&g, &key))? == big,
        "big round trip",
    )?;
    match w.alice.read_file_encrypted(&g, &[1; 32]) {
        Err(ClientError::Vfs(VfsError::EncryptionError)) => {}
        other => return Err(format!("big wrong key: {:?}", other.map(|v| v.len()))),
    }
    // Renamed: still opens with the same key.
    step(
        "rename",
        w.alice.rename(&g, &format!("{h}/Documents/big.enc")),
    )?;
    let back = step(
        "read renamed",
        w.alice
            .read_file_encrypted(&format!("{h}/Documents/big.enc"), &key),
    )?;
    ensure(back == big, "renamed round trip")?;
    step("unlink", w.alice.unlink(&f))?;
    step("unlink", w.alice.unlink(&format!("{h}/Documents/big.enc")))
}

fn quota<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.bob_home();
    expect_err(
        "bob sets his own quota",
        w.bob.set_quota(w.bob_id, 1 << 40),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "alice reads bob's quota",
        w.alice.quota(w.bob_id),
        VfsError::PermissionDenied,
    )?;
    let q = step("quota", w.bob.quota(w.bob_id))?;
    ensure(
        q.limit == 100 << 20 && q.soft_limit == 80 << 20,
        "default 100 MiB, soft 80 %",
    )?;
    let used = q.used;
    // Every entry counts 256 bytes on top of its content (`vfs-service/PROTOCOL.md`, "Quotas"): two files.
    let limit = used + 50_000 + 2 * 256;
    step("system sets quota", w.system.set_quota(w.bob_id, limit))?;
    step(
        "fill",
        w.bob.write_file(&format!("{h}/fill"), &pattern(46_000, 1)),
    )?;
    step(
        "to the byte",
        w.bob.write_file(&format!("{h}/last"), &pattern(4_000, 2)),
    )?;
    let q = step("quota", w.bob.quota(w.bob_id))?;
    ensure(
        q.used == limit && q.over_soft_limit,
        format!("used {} of {}", q.used, limit),
    )?;
    expect_err(
        "one byte more",
        w.bob.write_file(&format!("{h}/more"), b"x"),
        VfsError::QuotaExceeded,
    )?;
    ensure(
        !step("exists", w.bob.exists(&format!("{h}/more")))?,
        "nothing created",
    )?;
    expect_err(
        "grow by one",
        w.bob.write_file(&format!("{h}/last"), &pattern(4_001, 2)),
        VfsError::QuotaExceeded,
    )?;
    ensure(
        step("unchanged", w.bob.read_file(&format!("{h}/last")))? == pattern(4_000, 2),
        "content unchanged",
    )?;
    expect_err(
        "copy over quota",
        w.bob.copy(&format!("{h}/last"), &format!("{h}/c")),
        VfsError::QuotaExceeded,
    )?;
    // Streaming: the write that would pass the limit fails, the file keeps its old content.
    let big = pattern(60_000, 3);
    match w.bob.write_file(&format!("{h}/last"), &big) {
        Err(ClientError::Vfs(VfsError::QuotaExceeded)) => {}
        other => return Err(format!("streamed over quota: {other:?}")),
    }
    ensure(
        step("unchanged", w.bob.read_file(&format!("{h}/last")))? == pattern(4_000, 2),
        "streamed write changed nothing",
    )?;
    // Writes outside the home count too: /tmp is no way around the quota.
    expect_err(
        "tmp",
        w.bob.write_file("/tmp/bob-outside", &pattern(10_000, 4)),
        VfsError::QuotaExceeded,
    )?;
    ensure(
        !step("exists", w.bob.exists("/tmp/bob-outside"))?,
        "nothing created in /tmp",
    )?;
    step("unlink", w.bob.unlink(&format!("{h}/fill")))?;
    step("unlink", w.bob.unlink(&format!("{h}/last")))?;
    let q = step("quota", w.bob.quota(w.bob_id))?;
    ensure(q.used == used, "usage back to where it was")?;
    step("restore quota", w.system.set_quota(w.bob_id, 100 << 20))
}

fn usage<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    let d = format!("{h}/Pictures/u");
    step("mkdir", w.alice.mkdir_all(&format!("{d}/sub")))?;
    step("f1", w.alice.write_file(&format!("{d}/f1"), &[0; 100]))?;
    step("f2", w.alice.write_file(&format!("{d}/sub/f2"), &[0; 23]))?;
    let u = step("usage", w.alice.usage(&d))?;
    ensure(u.bytes == 123 && u.entries == 3, format!("usage {u:?}"))?;
    expect_err(
        "bob reads alice's usage",
        w.bob.usage(&d),
        VfsError::PermissionDenied,
    )?;
    let root = step("system usage /", w.system.usage("/"))?;
    ensure(root.bytes >= 123, "root counts everything")?;
    step("cleanup", w.alice.rmdir_all(&d))
}
