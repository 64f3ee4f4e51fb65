//! Boot state, homes, directories and metadata.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use vfs_api::FilePermissions;
use vfs_api::error::VfsError;
use vfs_api::protocol::limits::PROTOCOL_VERSION;
use vfs_api::protocol::messages::FileKind;
use vfs_api::protocol::tags;

use super::{Case, Outcome, World, ensure, expect_err, step};

pub(super) fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    alloc::vec![
        Case {
            name: "home.create_by_system_only",
            run: create_homes::<K>
        },
        Case {
            name: "hello.version_and_limits",
            run: hello::<K>
        },
        Case {
            name: "boot.hierarchy_and_machine_json",
            run: hierarchy::<K>
        },
        Case {
            name: "dir.mkdir_rmdir_errors",
            run: mkdir_rmdir::<K>
        },
        Case {
            name: "dir.recursive",
            run: recursive::<K>
        },
        Case {
            name: "dir.readdir_pages",
            run: readdir_pages::<K>
        },
        Case {
            name: "meta.stat_exists_times",
            run: stat_exists::<K>
        },
        Case {
            name: "meta.chmod_chown_audit",
            run: chmod_chown::<K>
        },
    ]
}

fn create_homes<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let (a, b) = (w.alice_id, w.bob_id);
    expect_err(
        "alice creates a home",
        w.alice.create_home(a),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "anon creates a home",
        w.anon.create_home(a),
        VfsError::PermissionDenied,
    )?;
    step("system creates alice's home", w.system.create_home(a))?;
    step("system creates bob's home", w.system.create_home(b))?;
    expect_err(
        "home twice",
        w.system.create_home(a),
        VfsError::AlreadyExists,
    )?;
    let home = w.alice_home();
    let st = step("stat home", w.alice.stat(&home))?;
    ensure(st.owner == Some(a), "home owned by alice")?;
    ensure(
        st.permissions == FilePermissions::USER_DIR,
        "home is owner rwx + system r",
    )?;
    let names: Vec<String> = step("list home", w.alice.readdir(&home))?
        .into_iter()
        .map(|e| e.name)
        .collect();
    for want in [
        ".zos",
        "Apps",
        "Desktop",
        "Documents",
        "Downloads",
        "Music",
        "Pictures",
    ] {
        ensure(
            names.iter().any(|n| n == want),
            format!("home lacks {want}"),
        )?;
    }
    let zos: Vec<String> = step("list .zos", w.alice.readdir(&format!("{home}/.zos")))?
        .into_iter()
        .map(|e| e.name)
        .collect();
    ensure(
        zos == ["config", "credentials", "identity", "sessions", "tokens"],
        format!(".zos layout {zos:?}"),
    )?;
    let reg = step("registry", w.alice.read_file("/users/registry.json"))?;
    let reg = String::from_utf8(reg).map_err(|_| "registry not UTF-8")?;
    ensure(
        reg.contains(&format!("{a}")) && reg.contains(&format!("{b}")),
        "registry lists users",
    )
}

fn hello<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = step("hello", w.anon.hello())?;
    ensure(h.version == PROTOCOL_VERSION && h.version == 5, "version 5")?;
    // A version-1 client (32-bit handle generations) gets an error it can decode: the HELLO
    // reply is `Err(UnsupportedSchema)`, wire index 21 in every version.
    let (t, body) = step("hello v1", w.anon.raw_call(tags::HELLO, &[0x01]))?;
    ensure(
        t == tags::response(tags::HELLO) && body == [0x01, 21],
        format!("HELLO version 1: tag {t:#x}, reply {body:02x?}"),
    )?;
    // So does a version-3 client, which would misread READ's response (version 4 added its
    // content hash).
    let (t, body) = step("hello v3", w.anon.raw_call(tags::HELLO, &[0x03]))?;
    ensure(
        t == tags::response(tags::HELLO) && body == [0x01, 21],
        format!("HELLO version 3: tag {t:#x}, reply {body:02x?}"),
    )?;
    ensure(h.max_payload == 4096 && h.max_io as usize <= 4096, "limits")?;
    ensure(
        h.symlink_depth == 40 && h.max_name >= 200 && h.max_depth == 512,
        "depth and names",
    )
}

fn hierarchy<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    for p in [
        "/system",
        "/system/config",
        "/system/services",
        "/users",
        "/tmp",
        "/home",
    ] {
        let st = step(p, w.system.stat(p))?;
        ensure(
            st.kind == FileKind::Directory,
            format!("{p} is a directory"),
        )?;
        ensure(st.owner.is_none(), format!("{p} is system-owned"))?;
    }
    let tmp = step("stat /tmp", w.anon.stat("/tmp"))?;
    ensure(tmp.permissions == FilePermissions::ALL, "/tmp is world rw")?;
    let m = step(
        "machine.json",
        w.alice.read_file("/system/config/machine.json"),
    )?;
    let m = String::from_utf8(m).map_err(|_| "machine.json not UTF-8")?;
    let id = m
        .split("\"machine_id\":\"")
        .nth(1)
        .and_then(|r| r.get(..36))
        .ok_or("no machine_id")?;
    let uuid = uuid::Uuid::try_parse(id).map_err(|_| "machine_id is not a UUID")?;
    ensure(uuid.get_version_num() == 4, "machine id is a v4 UUID")?;
    ensure(
        m.contains("\"boot_count\":") && m.contains("\"created_at\":"),
        "machine.json fields",
    )
}

fn mkdir_rmdir<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    let d = format!("{h}/d1");
    step("mkdir", w.alice.mkdir(&d))?;
    expect_err("mkdir again", w.alice.mkdir(&d), VfsError::AlreadyExists)?;
    expect_err(
        "mkdir in missing",
        w.alice.mkdir(&format!("{h}/nope/x")),
        VfsError::NotFound,
    )?;
    step("file", w.alice.write_file(&format!("{d}/f"), b"x"))?;
    expect_err(
        "mkdir under a file",
        w.alice.mkdir(&format!("{d}/f/x")),
        VfsError::NotADirectory,
    )?;
    expect_err(
        "rmdir non-empty",
        w.alice.rmdir(&d),
        VfsError::DirectoryNotEmpty,
    )?;
    expect_err(
        "rmdir a file",
        w.alice.rmdir(&format!("{d}/f")),
        VfsError::NotADirectory,
    )?;
    expect_err(
        "rmdir missing",
        w.alice.rmdir(&format!("{h}/zz")),
        VfsError::NotFound,
    )?;
    expect_err(
        "rmdir root",
        w.system.rmdir("/"),
        VfsError::PermissionDenied,
    )?;
    expect_err("mkdir root", w.system.mkdir("/"), VfsError::AlreadyExists)?;
    step("unlink", w.alice.unlink(&format!("{d}/f")))?;
    step("rmdir", w.alice.rmdir(&d))?;
    ensure(!step("exists", w.alice.exists(&d))?, "gone")
}

fn recursive<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    step("mkdir -p", w.alice.mkdir_all(&format!("{h}/r/a/b/c")))?;
    step("mkdir -p again", w.alice.mkdir_all(&format!("{h}/r/a/b/c")))?;
    step(
        "file",
        w.alice.write_file(&format!("{h}/r/a/b/c/f"), b"deep"),
    )?;
    step("file2", w.alice.write_file(&format!("{h}/r/a/g"), b"g"))?;
    step("rm -r", w.alice.rmdir_all(&format!("{h}/r")))?;
    ensure(
        !step("exists", w.alice.exists(&format!("{h}/r")))?,
        "tree gone",
    )
}

fn readdir_pages<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let d = format!("{}/many", w.alice_home());
    step("mkdir", w.alice.mkdir(&d))?;
    let mut want = Vec::new();
    for i in 0..150 {
        let name = format!("{i:03}-{}", "n".repeat(40));
        step(
            "create",
            w.alice.write_file(&format!("{d}/{name}"), &[i as u8]),
        )?;
        want.push(name);
    }
    let first = step("page", w.alice.readdir_page(&d, None))?;
    ensure(first.next.is_some(), "listing is paged")?;
    let all = step("readdir", w.alice.readdir(&d))?;
    let names: Vec<String> = all.iter().map(|e| e.name.clone()).collect();
    ensure(names == want, "every entry once, in order")?;
    let e = &all[7];
    ensure(
        e.size == 1 && !e.is_directory && !e.is_symlink,
        "entry fields",
    )?;
    ensure(e.path == format!("{d}/{}", e.name), "entry path")?;
    expect_err(
        "readdir a file",
        w.alice.readdir(&e.path),
        VfsError::NotADirectory,
    )?;
    step("cleanup", w.alice.rmdir_all(&d))
}

fn stat_exists<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/stat.txt", w.alice_home());
    step("write", w.alice.write_file(&f, b"abc"))?;
    let st = step("stat", w.alice.stat(&f))?;
    ensure(st.size == 3 && st.kind == FileKind::File, "size and kind")?;
    ensure(
        st.permissions == FilePermissions::USER_FILE,
        "default user file permissions",
    )?;
    ensure(
        st.created_ns > 0 && st.modified_ns >= st.created_ns,
        "timestamps",
    )?;
    // SHA-256("abc").
    let abc = [
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
        0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
        0x15, 0xad,
    ];
    ensure(st.sha256 == Some(abc), "content hash")?;
    ensure(step("exists", w.alice.exists(&f))?, "exists")?;
    ensure(
        !step("exists missing", w.alice.exists(&format!("{f}.no")))?,
        "missing",
    )?;
    let before = st.modified_ns;
    step("rewrite", w.alice.write_file(&f, b"abcd"))?;
    let st = step("stat", w.alice.stat(&f))?;
    ensure(
        st.modified_ns > before && st.size == 4,
        "modified time moves",
    )?;
    expect_err(
        "stat missing",
        w.alice.stat(&format!("{f}.no")),
        VfsError::NotFound,
    )?;
    step("unlink", w.alice.unlink(&f))
}

fn chmod_chown<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let f = format!("{}/shared.txt", w.alice_home());
    step("write", w.alice.write_file(&f, b"share"))?;
    expect_err(
        "bob chmods",
        w.bob.chmod(&f, FilePermissions::ALL),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "alice chowns",
        w.alice.chown(&f, Some(w.bob_id)),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "bob chowns",
        w.bob.chown(&f, Some(w.bob_id)),
        VfsError::PermissionDenied,
    )?;
    step(
        "alice chmods",
        w.alice.chmod(&f, FilePermissions::WORLD_READABLE),
    )?;
    let st = step("stat", w.alice.stat(&f))?;
    ensure(
        st.permissions == FilePermissions::WORLD_READABLE,
        "chmod applied",
    )?;
    step(
        "system chmods",
        w.system.chmod(&f, FilePermissions::USER_FILE),
    )?;
    step("system chowns", w.system.chown(&f, Some(w.bob_id)))?;
    let st = step("stat", w.system.stat(&f))?;
    ensure(st.owner == Some(w.bob_id), "owner changed")?;
    step("system chowns back", w.system.chown(&f, Some(w.alice_id)))?;
    let page = step("audit", w.system.audit_log(0))?;
    ensure(
        page.entries.iter().any(|e| e.action.starts_with("chown ")),
        "chown audited",
    )?;
    ensure(
        page.entries
            .iter()
            .any(|e| e.action.starts_with("create_home ")),
        "home creation audited",
    )?;
    expect_err(
        "alice reads audit",
        w.alice.audit_log(0),
        VfsError::PermissionDenied,
    )?;
    step("unlink", w.alice.unlink(&f))
}
