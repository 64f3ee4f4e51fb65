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
