//! Space given back, through the real `zvfs` binary: `rm` (and every command that changes the
//! image) collects the pieces of what it removed before it returns, and `info` tells live data
//! from what a clean-up would return.
//!
//! The full-image scenario (`put` until the image refuses, `rm` a large file, `put`
//! again, boot the full image) is `#[ignore]`d: on a full medium the store can still refuse
//! deletes with `NoSpace` (the refused put's staged pieces stay reclaimable, and the `rm`
//! itself can be refused). Run it with `--ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

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

/// A scratch directory. On a RAM file system when there is one: filling an image to the brim
/// makes the store clean and sync often, and a disk's syncs would make this take minutes.
fn scratch(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.join(format!("zvfs-tests-{}-{name}", std::process::id()))
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Deterministic incompressible-looking bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

fn info(image: &str) -> Value {
    let (code, out, err) = zvfs(&["info", "--json", image]);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("info --json")
}

fn userspace_bytes(info: &Value) -> u64 {
    info["databases"][1]["bytes"].as_u64().expect("bytes")
}

#[test]
fn removed_files_are_collected_so_put_and_rm_can_go_on_forever() {
    // Before: a removed file's pieces stayed in the store for good, so on a 32 MiB image the
    // third put of a 10 MB file after two put + rm rounds found no room.
    let dir = scratch("put_rm_rounds");
    let img_path = dir.join("disk.img");
    let img = img_path.to_str().expect("utf-8 path");
    let (code, out, err) = zvfs(&["mkfs", img, "--size", "32M"]);
    assert_eq!(code, 0, "{out}{err}");
    let big = dir.join("big");
    std::fs::write(&big, data(10_000_000, 1)).expect("write");
    let empty = userspace_bytes(&info(img));
    for round in 0..5 {
        let (code, out, err) = zvfs(&["put", img, big.to_str().unwrap_or_default(), "/big"]);
        assert_eq!(code, 0, "round {round}: {out}{err}");
        let full = info(img);
        assert_eq!(
            full["files"]["bytes"].as_u64().map(|b| b >= 10_000_000),
            Some(true)
        );
        let (code, out, err) = zvfs(&["rm", img, "/big"]);
        assert_eq!(code, 0, "round {round}: {out}{err}");
        let after = info(img);
        assert_eq!(after["reclaimable"]["bytes"].as_u64(), Some(0), "{after}");
        assert!(
            userspace_bytes(&after) < empty + 100_000,
            "round {round}: the store still holds the removed file's records: {} bytes",
            userspace_bytes(&after)
        );
    }
    let (code, out, err) = zvfs(&["fsck", img]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "on a full medium the store can still refuse deletes (see the module doc)"]
fn rm_on_a_full_image_gives_the_space_back_and_the_image_still_boots() {
    let dir = scratch("full_image");
    let img_path = dir.join("disk.img");
    let img = img_path.to_str().expect("utf-8 path");
    let (code, out, err) = zvfs(&["mkfs", img, "--size", "32M"]);
    assert_eq!(code, 0, "{out}{err}");

    let big = dir.join("big");
    std::fs::write(&big, data(10_000_000, 1)).expect("write");
    let one_mb = dir.join("one");
    std::fs::write(&one_mb, data(1_000_000, 2)).expect("write");
    let four_mb = dir.join("four");
    std::fs::write(&four_mb, data(4_000_000, 4)).expect("write");
    let (code, out, err) = zvfs(&["put", img, big.to_str().unwrap_or_default(), "/big"]);
    assert_eq!(code, 0, "{out}{err}");
    // Fill it up with 4 MB files: the image refuses (exit code 5) and says why. (Each
    // command near full costs the store seconds of cleaning, so few and large files.)
    let mut stored = 0;
    let refusal = loop {
        let path = format!("/f{stored}");
        let (code, out, err) = zvfs(&["put", img, four_mb.to_str().unwrap_or_default(), &path]);
        if code != 0 {
            break (code, format!("{out}{err}"));
        }
        stored += 1;
        assert!(stored < 10, "a 32 MiB image never filled up");
    };
    assert_eq!(refusal.0, 5, "{}", refusal.1);
    assert!(
        refusal.1.contains("no space") || refusal.1.contains("resource limit"),
        "{}",
        refusal.1
    );
    assert!(stored >= 3, "{stored}");

    // A full image boots (what the VFS task does at power-on), twice.
    for _ in 0..2 {
        let key = zvfs::image::read_key(&dir.join("disk.img.key")).expect("key");
        let mut image = zvfs::image::Image::open(&img_path, &key).expect("open");
        let (vfs, ctx) = image.parts();
        let report = vfs.boot(ctx.env).expect("a full image boots");
        assert!(report.boot_count >= 2, "{report:?}");
        image.sync().expect("sync");
    }

    let full = info(img);
    let before = userspace_bytes(&full);
    let files_before = full["files"]["bytes"].as_u64().expect("files");
    assert_eq!(full["reclaimable"]["bytes"].as_u64(), Some(0), "{full}");

    // rm collects what it removed before it returns.
    let (code, out, err) = zvfs(&["rm", img, "/big"]);
    assert_eq!(code, 0, "{out}{err}");
    let after = info(img);
    assert_eq!(
        after["files"]["bytes"].as_u64(),
        Some(files_before - 10_000_000),
        "{after}"
    );
    assert_eq!(after["reclaimable"]["bytes"].as_u64(), Some(0), "{after}");
    assert!(
        userspace_bytes(&after) + 9_900_000 <= before,
        "the store still holds the removed file's records: {before} -> {}",
        userspace_bytes(&after)
    );

    // Later puts work: a few bytes, and a megabyte.
    let small = dir.join("small");
    std::fs::write(&small, b"7 bytes").expect("write");
    for (file, path) in [(&small, "/small"), (&one_mb, "/again")] {
        let (code, out, err) = zvfs(&["put", img, file.to_str().unwrap_or_default(), path]);
        assert_eq!(code, 0, "{path}: {out}{err}");
    }
    let (code, out, err) = zvfs(&["fsck", img]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn info_reports_what_a_clean_up_would_return() {
    let dir = scratch("info_reclaimable");
    let img_path = dir.join("disk.img");
    let img = img_path.to_str().expect("utf-8 path");
    let (code, out, err) = zvfs(&["mkfs", img, "--size", "8M"]);
    assert_eq!(code, 0, "{out}{err}");
    let file = dir.join("file");
    std::fs::write(&file, data(200_000, 3)).expect("write");
    let files_before = info(img)["files"]["bytes"].as_u64().expect("files");
    let (code, out, err) = zvfs(&["put", img, file.to_str().unwrap_or_default(), "/f"]);
    assert_eq!(code, 0, "{out}{err}");
    // A removal by a program that stops before any collection (as a VFS cut off right after
    // the unlink would): the pieces are garbage, not live data.
    {
        let key = zvfs::image::read_key(&dir.join("disk.img.key")).expect("key");
        let mut image = zvfs::image::Image::open(&img_path, &key).expect("open");
        image.op("/f", |v, c| v.unlink(c, "/f")).expect("unlink");
    }
    let report = info(img);
    assert_eq!(
        report["files"]["bytes"].as_u64(),
        Some(files_before),
        "{report}"
    );
    assert_eq!(
        report["reclaimable"]["bytes"].as_u64(),
        Some(200_000),
        "{report}"
    );
    let (code, text, err) = zvfs(&["info", img]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("reclaimable       195.3 KiB"), "{text}");
    // The next command that changes the image collects it.
    let (code, out, err) = zvfs(&["mkdir", img, "/d"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(info(img)["reclaimable"]["bytes"].as_u64(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_put_refused_for_room_leaves_no_file_behind() {
    // Before: OPEN with `create` committed the empty file, so a put the image had no room for
    // left an empty `/too-big` where there had been nothing.
    let dir = scratch("refused_put");
    let img_path = dir.join("disk.img");
    let img = img_path.to_str().expect("utf-8 path");
    let (code, out, err) = zvfs(&["mkfs", img, "--size", "4M"]);
    assert_eq!(code, 0, "{out}{err}");
    let big = dir.join("big");
    std::fs::write(&big, data(6_000_000, 2)).expect("write");
    let (code, out, err) = zvfs(&["put", img, big.to_str().unwrap_or_default(), "/too-big"]);
    assert_ne!(code, 0, "a 6 MB file fit a 4 MiB image: {out}{err}");
    let (code, out, err) = zvfs(&["ls", img, "/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("too-big"),
        "the refused file is listed:\n{out}"
    );
    let (code, out, err) = zvfs(&["fsck", img]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
