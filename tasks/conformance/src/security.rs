//! Security probes: cross-user access, `/system` and the registry, paths and names, the
//! application without a user.

use alloc::format;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use vfs_api::FilePermissions;
use vfs_api::error::VfsError;

use super::{Case, Outcome, World, ensure, expect_err, step};

pub(super) fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    alloc::vec![
        Case {
            name: "security.cross_user",
            run: cross_user::<K>
        },
        Case {
            name: "security.system_readonly_to_users",
            run: system_ro::<K>
        },
        Case {
            name: "security.anon_application",
            run: anon::<K>
        },
        Case {
            name: "names.limits_unicode_nul_slashes",
            run: names::<K>
        },
        Case {
            name: "names.dotdot_escape",
            run: dotdot::<K>
        },
        Case {
            name: "security.world_bits",
            run: world_bits::<K>
        },
    ]
}

fn cross_user<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let a = w.alice_home();
    let f = format!("{a}/Documents/private.txt");
    step("write", w.alice.write_file(&f, b"mine"))?;
    expect_err("bob reads", w.bob.read_file(&f), VfsError::PermissionDenied)?;
    expect_err(
        "bob writes",
        w.bob.write_file(&f, b"yours"),
        VfsError::PermissionDenied,
    )?;
    expect_err("bob lists", w.bob.readdir(&a), VfsError::PermissionDenied)?;
    expect_err(
        "bob creates",
        w.bob.write_file(&format!("{a}/planted"), b"x"),
        VfsError::PermissionDenied,
    )?;
    expect_err("bob unlinks", w.bob.unlink(&f), VfsError::PermissionDenied)?;
    expect_err(
        "bob mkdirs",
        w.bob.mkdir(&format!("{a}/bobdir")),
        VfsError::PermissionDenied,
    )?;
    expect_err("bob stats", w.bob.stat(&f), VfsError::PermissionDenied)?;
    expect_err(
        "bob opens",
        w.bob.open(
            &f,
            vfs_api::protocol::messages::OpenFlags {
                read: true,
                ..Default::default()
            },
        ),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "bob removes the home",
        w.bob.rmdir_all(&a),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "anon reads",
        w.anon.read_file(&f),
        VfsError::PermissionDenied,
    )?;
    // System may read (system r) but not write a user's files.
    ensure(
        step("system reads", w.system.read_file(&f))? == b"mine",
        "system read",
    )?;
    expect_err(
        "system writes",
        w.system.write_file(&f, b"sys"),
        VfsError::PermissionDenied,
    )?;
    ensure(
        step("intact", w.alice.read_file(&f))? == b"mine",
        "content intact",
    )?;
    step("unlink", w.alice.unlink(&f))
}

fn system_ro<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let m = "/system/config/machine.json";
    step("users read machine.json", w.alice.read_file(m))?;
    expect_err(
        "write machine.json",
        w.alice.write_file(m, b"{}"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "create under /system",
        w.alice.write_file("/system/evil", b"x"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "mkdir under /system",
        w.bob.mkdir("/system/services/evil"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "unlink machine.json",
        w.alice.unlink(m),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "chmod /system",
        w.alice.chmod("/system", FilePermissions::ALL),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "rename out of /system",
        w.alice.rename(m, "/tmp/m.json"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "registry write",
        w.alice.write_file("/users/registry.json", b"{}"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "registry unlink",
        w.bob.unlink("/users/registry.json"),
        VfsError::PermissionDenied,
    )?;
    ensure(
        !step("registry read", w.bob.read_file("/users/registry.json"))?.is_empty(),
        "registry readable",
    )?;
    expect_err(
        "anon writes /system",
        w.anon.write_file("/system/x", b"x"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "user creates a home",
        w.alice.mkdir("/home/intruder"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "user writes /",
        w.alice.mkdir("/top"),
        VfsError::PermissionDenied,
    )?;
    step(
        "system writes a service config",
        w.system.write_file("/system/services/demo.json", b"{}"),
    )?;
    step(
        "system removes it",
        w.system.unlink("/system/services/demo.json"),
    )
}

fn anon<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    step(
        "anon writes /tmp",
        w.anon.write_file("/tmp/anon.txt", b"anon"),
    )?;
    ensure(
        step("anon reads back", w.anon.read_file("/tmp/anon.txt"))? == b"anon",
        "round trip",
    )?;
    let st = step("stat", w.anon.stat("/tmp/anon.txt"))?;
    ensure(st.owner.is_none(), "no user, no owner")?;
    expect_err(
        "anon chowns",
        w.anon.chown("/tmp/anon.txt", Some(w.alice_id)),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "anon lists a home",
        w.anon.readdir(&w.alice_home()),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "anon quota",
        w.anon.quota(w.alice_id),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "anon audit",
        w.anon.audit_log(0),
        VfsError::PermissionDenied,
    )?;
    ensure(
        !step("anon lists /home", w.anon.readdir("/home"))?.is_empty(),
        "/home is listable",
    )?;
    // Alice's /tmp file is hers: anon cannot change it.
    step("alice /tmp", w.alice.write_file("/tmp/alice.txt", b"a"))?;
    expect_err(
        "anon overwrites",
        w.anon.write_file("/tmp/alice.txt", b"b"),
        VfsError::PermissionDenied,
    )?;
    step("cleanup", w.alice.unlink("/tmp/alice.txt"))?;
    step("cleanup", w.anon.unlink("/tmp/anon.txt"))
}

fn names<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    let max_name = step("hello", w.alice.hello())?.max_name as usize;
    let max = "m".repeat(max_name);
    step(
        "longest name",
        w.alice.write_file(&format!("{h}/{max}"), b"1"),
    )?;
    let listed = step("readdir", w.alice.readdir(&h))?;
    ensure(listed.iter().any(|e| e.name == max), "max name listed")?;
    step("unlink", w.alice.unlink(&format!("{h}/{max}")))?;
    expect_err(
        "name one byte too long",
        w.alice.write_file(&format!("{h}/{max}m"), b"1"),
        VfsError::InvalidPath,
    )?;
    let uni = "日本語-émoji-🦀";
    step("unicode", w.alice.write_file(&format!("{h}/{uni}"), b"u"))?;
    ensure(
        step("read unicode", w.alice.read_file(&format!("{h}/{uni}")))? == b"u",
        "unicode round trip",
    )?;
    step("unlink", w.alice.unlink(&format!("{h}/{uni}")))?;
    expect_err(
        "NUL",
        w.alice.write_file(&format!("{h}/a\0b"), b"1"),
        VfsError::InvalidPath,
    )?;
    expect_err(
        "relative",
        w.alice.write_file("tmp/x", b"1"),
        VfsError::InvalidPath,
    )?;
    expect_err("empty", w.alice.stat(""), VfsError::InvalidPath)?;
    step(
        "empty components",
        w.alice.write_file(&format!("{h}//Documents///e.txt"), b"e"),
    )?;
    ensure(
        step(
            "normalised",
            w.alice.exists(&format!("{h}/Documents/e.txt")),
        )?,
        "// collapsed",
    )?;
    step(
        "trailing slash dir",
        w.alice.stat(&format!("{h}/Documents/")),
    )?;
    step("unlink", w.alice.unlink(&format!("{h}/Documents/e.txt")))?;
    let long = format!("/{}", "a/".repeat(600));
    expect_err(
        "path over 1024 bytes",
        w.alice.stat(&long),
        VfsError::InvalidPath,
    )?;
    expect_err(
        "write root",
        w.system.write_file("/", b"x"),
        VfsError::NotAFile,
    )
}

fn dotdot<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    expect_err("/..", w.alice.stat("/.."), VfsError::InvalidPath)?;
    expect_err(
        "escape",
        w.alice.stat(&format!("{h}/../../../../x")),
        VfsError::InvalidPath,
    )?;
    let r = step(
        "dot-dot inside",
        w.alice.resolve_path(&format!("{h}/Documents/../Music/.")),
    )?;
    ensure(r == format!("{h}/Music"), format!("resolved {r}"))?;
    let b = w.bob_home();
    let sneaky = format!("{h}/../{}/Documents", b.rsplit('/').next().unwrap_or(""));
    expect_err(
        "into bob via ..",
        w.alice.readdir(&sneaky),
        VfsError::PermissionDenied,
    )?;
    Ok(())
}

fn world_bits<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let h = w.alice_home();
    let d = format!("{h}/Public");
    step("mkdir", w.alice.mkdir(&d))?;
    step("file", w.alice.write_file(&format!("{d}/readme"), b"hello"))?;
    expect_err(
        "bob blocked by the home",
        w.bob.read_file(&format!("{d}/readme")),
        VfsError::PermissionDenied,
    )?;
    // World-read on the directories implies traverse; the file must be world-readable too.
    let dir_pub = FilePermissions {
        world_read: true,
        ..FilePermissions::USER_DIR
    };
    step("open home", w.alice.chmod(&h, dir_pub))?;
    step("open dir", w.alice.chmod(&d, dir_pub))?;
    expect_err(
        "file still private",
        w.bob.read_file(&format!("{d}/readme")),
        VfsError::PermissionDenied,
    )?;
    step(
        "open file",
        w.alice
            .chmod(&format!("{d}/readme"), FilePermissions::WORLD_READABLE),
    )?;
    ensure(
        step("bob reads", w.bob.read_file(&format!("{d}/readme")))? == b"hello",
        "world read",
    )?;
    expect_err(
        "bob writes",
        w.bob.write_file(&format!("{d}/readme"), b"x"),
        VfsError::PermissionDenied,
    )?;
    expect_err(
        "bob creates",
        w.bob.write_file(&format!("{d}/new"), b"x"),
        VfsError::PermissionDenied,
    )?;
    step("close home", w.alice.chmod(&h, FilePermissions::USER_DIR))?;
    expect_err(
        "closed again",
        w.bob.read_file(&format!("{d}/readme")),
        VfsError::PermissionDenied,
    )?;
    step("cleanup", w.alice.rmdir_all(&d))
}
