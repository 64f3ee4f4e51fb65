//! The streaming file API: flags, positions, truncation, atomic commit, handle ownership,
//! staleness and bounds.

use alloc::format;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use vfs_api::error::VfsError;
use vfs_api::protocol::messages::{Handle, OpenFlags, SeekFrom};

use super::{Case, Outcome, World, ensure, expect_err, pattern, step};

pub(super) fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    alloc::vec![
        Case {
            name: "handle.read_write_seek_truncate",
            run: rw::<K>
        },
        Case {
            name: "handle.commit_is_atomic",
            run: atomic::<K>
        },
        Case {
            name: "handle.append_and_exclusive",
            run: append::<K>
        },
        Case {
            name: "handle.modes_stale_foreign_bounded",
            run: ownership::<K>
        },
        Case {
            name: "handle.empty_write_past_end",
            run: empty_write::<K>
        },
    ]
}

fn rw_flags() -> OpenFlags {
    OpenFlags {
        read: true,
        write: true,
        create: true,
        ..OpenFlags::default()
    }
}

/// Writes through Alice's handle in message-sized pieces.
fn write_all<K: Kernel>(w: &mut World<'_, K>, h: Handle, data: &[u8]) -> Outcome {
    for chunk in data.chunks(3968) {
        let n = step("write", w.alice.write(h, chunk))?;
        ensure(n as usize == chunk.len(), "short write")?;
    }
    Ok(())
}

fn rw<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/h1", w.alice_home());
    let o = step("open", w.alice.open(&f, rw_flags()))?;
    ensure(o.size == 0, "new file is empty")?;
    let h = o.handle;
    write_all(w, h, &pattern(5000, 1))?;
    ensure(
        step("seek", w.alice.seek(h, SeekFrom::Start(10)))? == 10,
        "seek start",
    )?;
    step("overwrite", w.alice.write(h, b"XYZ"))?;
    ensure(
        step("seek", w.alice.seek(h, SeekFrom::Current(-3)))? == 10,
        "seek current",
    )?;
    ensure(
        step("read", w.alice.read(h, 3))? == b"XYZ",
        "read own write",
    )?;
    ensure(
        step("seek end", w.alice.seek(h, SeekFrom::End(-1)))? == 4999,
        "seek end",
    )?;
    expect_err(
        "seek before 0",
        w.alice.seek(h, SeekFrom::Current(-10_000)),
        VfsError::InvalidArgument,
    )?;
    step("truncate", w.alice.truncate(h, 100))?;
    step("extend", w.alice.truncate(h, 8200))?;
    ensure(
        step("hstat", w.alice.handle_stat(h))?.size == 8200,
        "handle sees its size",
    )?;
    step("seek", w.alice.seek(h, SeekFrom::Start(0)))?;
    let mut all = Vec::new();
    loop {
        let p = step("read", w.alice.read(h, 3968))?;
        if p.is_empty() {
            break;
        }
        all.extend(p);
    }
    let mut want = pattern(5000, 1);
    want[10..13].copy_from_slice(b"XYZ");
    want.truncate(100);
    want.resize(8200, 0);
    ensure(all == want, "truncate keeps the head and zero-fills")?;
    expect_err(
        "read too long",
        w.alice.read(h, 5000),
        VfsError::InvalidArgument,
    )?;
    expect_err(
        "write too long",
        w.alice.write(h, &[0; 4000]),
        VfsError::InvalidArgument,
    )?;
    step("close", w.alice.close(h))?;
    ensure(
        step("read file", w.alice.read_file(&f))? == want,
        "committed at close",
    )?;
    step("unlink", w.alice.unlink(&f))
}

fn atomic<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/h2", w.alice_home());
    step("write", w.alice.write_file(&f, b"old"))?;
    let flags = OpenFlags {
        write: true,
        truncate: true,
        ..OpenFlags::default()
    };
    let h = step("open", w.alice.open(&f, flags))?.handle;
    write_all(w, h, &pattern(9000, 2))?;
    ensure(
        step("read during", w.alice.read_file(&f))? == b"old",
        "uncommitted writes invisible",
    )?;
    step("flush", w.alice.flush(h))?;
    ensure(
        step("read after flush", w.alice.read_file(&f))? == pattern(9000, 2),
        "flush commits",
    )?;
    step("write more", w.alice.write(h, b"tail"))?;
    step("discard", w.alice.discard(h))?;
    ensure(
        step("read after discard", w.alice.read_file(&f))? == pattern(9000, 2),
        "discard drops",
    )?;
    // A reader keeps its snapshot while a writer replaces the file.
    let r = step(
        "open reader",
        w.alice.open(
            &f,
            OpenFlags {
                read: true,
                ..OpenFlags::default()
            },
        ),
    )?
    .handle;
    step("replace", w.alice.write_file(&f, b"new"))?;
    let first = step("snapshot read", w.alice.read(r, 3968))?;
    ensure(
        first == pattern(9000, 2)[..3968],
        "reader sees its snapshot",
    )?;
    step("close reader", w.alice.close(r))?;
    step("unlink", w.alice.unlink(&f))
}

fn append<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/h3", w.alice_home());
    step("write", w.alice.write_file(&f, b"abc"))?;
    let flags = OpenFlags {
        write: true,
        append: true,
        ..OpenFlags::default()
    };
    let h = step("open append", w.alice.open(&f, flags))?.handle;
    step("seek", w.alice.seek(h, SeekFrom::Start(0)))?;
    step("append", w.alice.write(h, b"def"))?;
    step("close", w.alice.close(h))?;
    ensure(
        step("read", w.alice.read_file(&f))? == b"abcdef",
        "append ignores position",
    )?;
    let ex = OpenFlags {
        write: true,
        create: true,
        exclusive: true,
        ..OpenFlags::default()
    };
    expect_err(
        "exclusive on existing",
        w.alice.open(&f, ex),
        VfsError::AlreadyExists,
    )?;
    expect_err(
        "no access flags",
        w.alice.open(&f, OpenFlags::default()),
        VfsError::InvalidArgument,
    )?;
    expect_err(
        "truncate without write",
        w.alice.open(
            &f,
            OpenFlags {
                read: true,
                truncate: true,
                ..OpenFlags::default()
            },
        ),
        VfsError::InvalidArgument,
    )?;
    expect_err(
        "open missing",
        w.alice.open(
            &format!("{f}x"),
            OpenFlags {
                read: true,
                ..OpenFlags::default()
            },
        ),
        VfsError::NotFound,
    )?;
    expect_err(
        "open a dir",
        w.alice.open(
            &w.alice_home(),
            OpenFlags {
                read: true,
                ..OpenFlags::default()
            },
        ),
        VfsError::NotAFile,
    )?;
    step("unlink", w.alice.unlink(&f))
}

fn ownership<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("/tmp/shared-{}", w.alice_id);
    step("write", w.alice.write_file(&f, b"data"))?;
    let ro = OpenFlags {
        read: true,
        ..OpenFlags::default()
    };
    let h = step("open", w.alice.open(&f, ro))?.handle;
    expect_err(
        "write on read-only",
        w.alice.write(h, b"x"),
        VfsError::BadHandleMode,
    )?;
    expect_err(
        "truncate on read-only",
        w.alice.truncate(h, 0),
        VfsError::BadHandleMode,
    )?;
    expect_err(
        "bob uses alice's handle",
        w.bob.read(h, 4),
        VfsError::InvalidHandle,
    )?;
    expect_err(
        "bob closes alice's handle",
        w.bob.close(h),
        VfsError::InvalidHandle,
    )?;
    ensure(
        step("still alice's", w.alice.read(h, 4))? == b"data",
        "foreign use changed nothing",
    )?;
    step("close", w.alice.close(h))?;
    expect_err(
        "read after close",
        w.alice.read(h, 4),
        VfsError::StaleHandle,
    )?;
    expect_err("close twice", w.alice.close(h), VfsError::StaleHandle)?;
    let never = Handle {
        slot: 200,
        generation: h.generation,
    };
    expect_err(
        "never issued",
        w.alice.read(never, 4),
        VfsError::InvalidHandle,
    )?;
    let forged = Handle {
        slot: h.slot,
        generation: h.generation + 1000,
    };
    expect_err(
        "forged generation",
        w.alice.read(forged, 4),
        VfsError::InvalidHandle,
    )?;
    let mut held = Vec::new();
    let max = step("hello", w.alice.hello())?.max_handles as usize;
    for _ in 0..max {
        held.push(step("open many", w.alice.open(&f, ro))?.handle);
    }
    expect_err(
        "one handle too many",
        w.alice.open(&f, ro),
        VfsError::TooManyHandles,
    )?;
    // A refused OPEN is refused before it creates or truncates anything.
    let new = format!("/tmp/refused-{}", w.alice_id);
    expect_err(
        "create at the limit",
        w.alice.open(&new, rw_flags()),
        VfsError::TooManyHandles,
    )?;
    ensure(
        !step("exists", w.alice.exists(&new))?,
        "a refused OPEN left a file behind",
    )?;
    let truncate = OpenFlags {
        write: true,
        truncate: true,
        ..OpenFlags::default()
    };
    expect_err(
        "truncate at the limit",
        w.alice.open(&f, truncate),
        VfsError::TooManyHandles,
    )?;
    ensure(
        step("read back", w.alice.read_file(&f))? == b"data",
        "a refused OPEN truncated the file",
    )?;
    // Another task is not affected by Alice's bound.
    let g = format!("/tmp/shared-{}", w.bob_id);
    step("bob writes", w.bob.write_file(&g, b"bob"))?;
    let hb = step("bob opens", w.bob.open(&g, ro))?.handle;
    step("bob closes", w.bob.close(hb))?;
    step("bob unlinks", w.bob.unlink(&g))?;
    for h in held {
        step("close", w.alice.close(h))?;
    }
    step("unlink", w.alice.unlink(&f))
}

/// A zero-length write after a seek far past the end changes nothing: size, content, quota and
/// modification time stay as they were.
fn empty_write<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/empty-write", w.alice_home());
    step("write", w.alice.write_file(&f, b"small"))?;
    let before = step("stat", w.alice.stat(&f))?;
    let used = step("quota", w.alice.quota(w.alice_id))?.used;
    let flags = OpenFlags {
        read: true,
        write: true,
        ..OpenFlags::default()
    };
    let h = step("open", w.alice.open(&f, flags))?.handle;
    step("seek far", w.alice.seek(h, SeekFrom::Start(50_000_000)))?;
    ensure(
        step("empty write", w.alice.write(h, b""))? == 0,
        "an empty write reported bytes written",
    )?;
    ensure(
        step("handle stat", w.alice.handle_stat(h))?.size == 5,
        "an empty write grew the file",
    )?;
    step("close", w.alice.close(h))?;
    let after = step("stat", w.alice.stat(&f))?;
    ensure(after.size == 5, "an empty write grew the committed file")?;
    ensure(
        after.modified_ns == before.modified_ns,
        "an empty write changed the modification time",
    )?;
    ensure(
        step("quota", w.alice.quota(w.alice_id))?.used == used,
        "an empty write charged the quota",
    )?;
    ensure(
        step("read back", w.alice.read_file(&f))? == b"small",
        "an empty write changed the content",
    )?;
    step("unlink", w.alice.unlink(&f))
}
