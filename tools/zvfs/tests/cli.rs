//! The real `zvfs` binary on ASU files: exit codes and messages scripts rely on.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use zvfs::asu::{AsuWriter, Compression, Entry, EntryKind, WriteOptions};

fn archive(key: Option<[u8; 32]>, signing_key: Option<[u8; 32]>) -> Vec<u8> {
    let content = b"backup me\n";
    let entries = vec![
        Entry {
            path: "/".into(),
            kind: EntryKind::Directory,
            owner: None,
            permissions: 0,
            created_ns: 1,
            modified_ns: 2,
            accessed_ns: 3,
            size: 0,
            content_sha256: None,
        },
        Entry {
            path: "/notes.txt".into(),
            kind: EntryKind::File,
            owner: None,
            permissions: 0,
            created_ns: 1,
            modified_ns: 2,
            accessed_ns: 3,
            size: content.len() as u64,
            content_sha256: None,
        },
    ];
    let options = WriteOptions {
        compression: Compression::Lz4,
        compression_level: 1,
        key,
        index: true,
        signing_key,
        created_ns: 5,
        source_name: "cli-test".into(),
        creator: "zvfs tests".into(),
    };
    let mut writer = AsuWriter::create(Cursor::new(Vec::new()), options, entries).expect("create");
    writer.write_content(&mut &content[..]).expect("content");
    writer.finish().expect("finish").into_inner()
}

fn zvfs(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zvfs"))
        .args(args)
        .output()
        .expect("run zvfs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn verify_asu_accepts_a_good_file_and_reports_what_it_checked() {
    let dir = scratch("cli_good");
    let file = dir.join("good.asu");
    std::fs::write(&file, archive(None, None)).expect("write");
    let (code, out, err) = zvfs(&["verify-asu", file.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("every chunk and content hash ok"), "{out}");

    let (code, out, _) = zvfs(&["--json", "asu-list", file.to_str().unwrap_or_default()]);
    assert_eq!(code, 0);
    assert!(out.contains("\"/notes.txt\""), "{out}");
}

#[test]
fn verify_asu_rejects_damage_with_exit_code_1() {
    let dir = scratch("cli_damage");
    let bytes = archive(None, None);
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x80;
    for (name, data) in [
        ("flipped.asu", flipped),
        ("truncated.asu", bytes[..bytes.len() - 10].to_vec()),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, data).expect("write");
        let (code, out, err) = zvfs(&["verify-asu", file.to_str().unwrap_or_default()]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(err.starts_with("zvfs: "), "{name}: {err}");
    }
    let (code, _, _) = zvfs(&[
        "verify-asu",
        dir.join("missing.asu").to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 3, "a missing file is an I/O error");
}

#[test]
fn verify_asu_checks_keys_and_signatures() {
    let dir = scratch("cli_keys");
    let key = [0x31u8; 32];
    let seed = [0x32u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let file = dir.join("sealed.asu");
    std::fs::write(&file, archive(Some(key), Some(seed))).expect("write");
    std::fs::write(dir.join("key.hex"), hex(&key)).expect("write");
    std::fs::write(dir.join("wrong.key"), [0x33u8; 32]).expect("write");
    std::fs::write(dir.join("pub.hex"), hex(&public)).expect("write");
    std::fs::write(
        dir.join("otherpub.hex"),
        hex(&ed25519_dalek::SigningKey::from_bytes(&[1; 32])
            .verifying_key()
            .to_bytes()),
    )
    .expect("write");
    let f = file.to_str().unwrap_or_default();
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();

    let (code, out, _) = zvfs(&["verify-asu", f]);
    assert_eq!(code, 0);
    assert!(
        out.contains("not opened (no --key)") && out.contains("not checked"),
        "{out}"
    );

    let (code, out, err) = zvfs(&[
        "verify-asu",
        f,
        "--key",
        &p("key.hex"),
        "--pubkey",
        &p("pub.hex"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signature: verified"), "{out}");

    let (code, _, err) = zvfs(&["verify-asu", f, "--key", &p("wrong.key")]);
    assert_eq!(code, 1);
    assert!(err.contains("wrong key"), "{err}");

    let (code, _, err) = zvfs(&["verify-asu", f, "--pubkey", &p("otherpub.hex")]);
    assert_eq!(code, 1);
    assert!(err.contains("signature"), "{err}");

    std::fs::write(dir.join("bad.key"), "not a key").expect("write");
    let (code, _, _) = zvfs(&["verify-asu", f, "--key", &p("bad.key")]);
    assert_eq!(code, 2, "a malformed key file is a usage error");
}

#[test]
fn ine_commands_manage_a_container_like_the_reference_tool() {
    let dir = scratch("cli_ine");
    let c = dir.join("box.ine");
    let c = c.to_str().unwrap_or_default();
    let a = dir.join("a.txt");
    let b = dir.join("b.bin");
    std::fs::write(&a, b"alpha\n").expect("write");
    let big: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&b, &big).expect("write");

    assert_eq!(zvfs(&["ine", "init", c]).0, 0);
    assert_eq!(zvfs(&["ine", "init", c]).0, 3, "init refuses to overwrite");
    let (code, out, err) = zvfs(&[
        "ine",
        "import",
        c,
        a.to_str().unwrap_or_default(),
        b.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = zvfs(&["--json", "ine", "list", c]);
    assert_eq!(code, 0);
    assert!(out.contains("\"a.txt\"") && out.contains("50000"), "{out}");

    let (code, out, _) = zvfs(&["ine", "extract", c, "a.txt"]);
    assert_eq!((code, out.as_str()), (0, "alpha\n"));
    let export = dir.join("export");
    assert_eq!(
        zvfs(&["ine", "export-all", c, export.to_str().unwrap_or_default()]).0,
        0
    );
    assert_eq!(std::fs::read(export.join("b.bin")).ok(), Some(big));

    assert_eq!(zvfs(&["ine", "remove", c, "b.bin"]).0, 0);
    assert_eq!(
        zvfs(&["ine", "extract", c, "b.bin"]).0,
        4,
        "a removed file is not found"
    );
    assert_eq!(
        zvfs(&["ine", "import", c, a.to_str().unwrap_or_default()]).0,
        4,
        "duplicate name"
    );
    assert_eq!(zvfs(&["ine", "list", c, "--ident", "something else"]).0, 1);

    // A truncated container is refused with exit code 1.
    let bytes = std::fs::read(c).expect("read");
    let cut = dir.join("cut.ine");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).expect("write");
    let (code, _, err) = zvfs(&["ine", "list", cut.to_str().unwrap_or_default()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn ine_export_all_refuses_names_that_escape_the_directory() {
    let dir = scratch("cli_ine_escape");
    let path = dir.join("evil.ine");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("open");
    let mut container =
        zvfs::ine::Container::create(file, zvfs::ine::DEFAULT_IDENTIFIER).expect("create");
    container
        .add("../escaped", &mut &b"gotcha"[..])
        .expect("add");
    drop(container);
    let out = dir.join("out");
    let (code, _, err) = zvfs(&[
        "ine",
        "export-all",
        path.to_str().unwrap_or_default(),
        out.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        !dir.join("escaped").exists(),
        "a file was written outside the target directory"
    );
}

#[test]
fn image_commands_work_end_to_end_with_scriptable_exit_codes() {
    let dir = scratch("cli_image");
    let img = dir.join("disk.img");
    let i = img.to_str().unwrap_or_default();
    let file = dir.join("note.txt");
    std::fs::write(&file, b"note\n").expect("write");
    let f = file.to_str().unwrap_or_default();

    assert_eq!(zvfs(&["mkfs", i, "--size", "8M"]).0, 0);
    assert!(
        dir.join("disk.img.key").exists(),
        "mkfs writes the key beside the image"
    );
    assert_eq!(zvfs(&["mkdir", i, "-p", "/home/docs/a"]).0, 0);
    assert_eq!(zvfs(&["put", i, f, "/home/docs/note.txt"]).0, 0);
    assert_eq!(
        zvfs(&["cat", i, "/home/docs/note.txt"]),
        (0, "note\n".to_string(), String::new())
    );
    assert_eq!(
        zvfs(&["mv", i, "/home/docs/note.txt", "/home/docs/a/moved.txt"]).0,
        0
    );
    let (code, out, _) = zvfs(&["--json", "stat", i, "/home/docs/a/moved.txt"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"size\":5"), "{out}");
    let (code, out, _) = zvfs(&["tree", i, "/home"]);
    assert_eq!(code, 0);
    assert!(out.contains("└── moved.txt"), "{out}");
    let (code, out, _) = zvfs(&["ls", "-l", i, "/home/docs/a"]);
    assert_eq!(code, 0);
    assert!(out.contains("moved.txt") && out.contains("system"), "{out}");
    let (code, out, _) = zvfs(&["--json", "info", i]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"userspace\"") && out.contains("master_hash"),
        "{out}"
    );
    assert!(out.contains("\"schema_version\":1"), "{out}");
    let (code, out, _) = zvfs(&["info", i]);
    assert_eq!(code, 0);
    assert!(out.contains("filesystem schema version 1"), "{out}");
    let (code, out, err) = zvfs(&["fsck", i]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("schema version 1: supported"), "{out}");

    assert_eq!(zvfs(&["cat", i, "/nope"]).0, 4, "not found");
    assert_eq!(zvfs(&["rm", i, "/home/docs"]).0, 5, "a directory needs -r");
    assert_eq!(zvfs(&["rm", i, "-r", "/home/docs"]).0, 0);
    assert_eq!(zvfs(&["mkfs", i]).0, 3, "mkfs never overwrites an image");

    std::fs::write(dir.join("wrong.key"), [9u8; 32]).expect("write");
    let (code, _, err) = zvfs(&[
        "ls",
        i,
        "--key",
        dir.join("wrong.key").to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("key does not open"), "{err}");
}

#[test]
fn transfers_refuse_damaged_inputs_without_importing_anything() {
    let dir = scratch("cli_transfer_damage");
    let img = dir.join("disk.img");
    let i = img.to_str().unwrap_or_default();
    assert_eq!(zvfs(&["mkfs", i, "--size", "8M"]).0, 0);
    let asu = dir.join("sys.asu");
    let (code, out, err) = zvfs(&["export-asu", i, "/system", asu.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "{out}{err}");

    let mut bytes = std::fs::read(&asu).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let bad = dir.join("bad.asu");
    std::fs::write(&bad, &bytes).expect("write");
    let (code, _, err) = zvfs(&[
        "import-asu",
        bad.to_str().unwrap_or_default(),
        i,
        "/restored",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(zvfs(&["stat", i, "/restored"]).0, 4, "nothing was imported");

    let ine = dir.join("sys.ine");
    assert_eq!(
        zvfs(&["export-ine", i, "/system", ine.to_str().unwrap_or_default()]).0,
        0
    );
    let bytes = std::fs::read(&ine).expect("read");
    let cut = dir.join("cut.ine");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).expect("write");
    let (code, _, err) = zvfs(&[
        "import-ine",
        cut.to_str().unwrap_or_default(),
        i,
        "/fromine",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(zvfs(&["stat", i, "/fromine"]).0, 4, "nothing was imported");
}
