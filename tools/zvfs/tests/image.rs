//! Disk images on the host: what goes in comes out, through the image and through the
//! interchange formats, with its metadata where the format can hold it.

use std::path::{Path, PathBuf};

use uuid::Uuid;
use vfs_service::ops::meta::RestoredMetadata;
use vfs_service::permission::FilePermissions;
use vfs_service::protocol::messages::{FileKind, Stat};
use zvfs::asu::{Compression, WriteOptions};
use zvfs::fsck::fsck;
use zvfs::image::{Image, ImageError};
use zvfs::interchange;

const KEY: [u8; 32] = [0x5a; 32];
const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

fn put(image: &mut Image, path: &str, data: &[u8]) {
    image.put(path, &mut &data[..], &mut |_| {}).expect("put");
}

fn get(image: &mut Image, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    image.get(path, &mut out, &mut |_| {}).expect("get");
    out
}

/// A tree with files of boundary sizes, a symlink, an owned directory with set times.
fn populate(image: &mut Image) {
    image
        .op("/data/deep/er", |v, c| {
            v.mkdir(c, "/data/deep/er", true, None)
        })
        .expect("mkdir");
    for (i, size) in [0usize, 1, 3967, 3968, 3969, 70_000].iter().enumerate() {
        put(image, &format!("/data/f{size}"), &content(*size, i as u8));
    }
    put(image, "/data/deep/er/ünïcödé.txt", "grüße".as_bytes());
    image
        .op("/data/link", |v, c| v.symlink(c, "/data/f1", "/data/link"))
        .expect("symlink");
    let meta = RestoredMetadata {
        owner: Some(ALICE),
        permissions: FilePermissions::USER_DIR,
        created_ns: 1_000_000_001,
        modified_ns: 2_000_000_002,
        accessed_ns: 3_000_000_003,
    };
    image
        .op("/data/deep", |v, c| {
            v.restore_metadata(c, "/data/deep", &meta)
        })
        .expect("restore");
}

/// What a transfer must keep of an entry: relative path, kind, owner, permission bits, size and
/// the three timestamps.
type Kept = (String, FileKind, Option<Uuid>, u8, u64, u64, u64, u64);

fn relative_stats(image: &mut Image, dir: &str) -> Vec<Kept> {
    let stats: Vec<Stat> = image.walk(dir).expect("walk");
    stats
        .into_iter()
        .filter(|s| s.path != dir)
        .map(|s| {
            (
                s.path[dir.len()..].to_string(),
                s.kind,
                s.owner,
                s.permissions.bits(),
                s.size,
                s.created_ns,
                s.modified_ns,
                s.accessed_ns,
            )
        })
        .collect()
}

#[test]
fn files_round_trip_through_an_image_and_survive_reopening() {
    let dir = scratch("image_round_trip");
    let path = dir.join("disk.img");
    let mut image = Image::create(&path, 8 << 20, &KEY).expect("mkfs");
    populate(&mut image);
    drop(image);
    let mut image = Image::open(&path, &KEY).expect("open");
    for (i, size) in [0usize, 1, 3967, 3968, 3969, 70_000].iter().enumerate() {
        assert_eq!(
            get(&mut image, &format!("/data/f{size}")),
            content(*size, i as u8),
            "size {size}"
        );
    }
    let report = fsck(&mut image);
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        report.files_checked, 9,
        "six data files, the unicode one, machine.json, registry.json"
    );
}

#[test]
fn a_wrong_key_is_refused_with_a_clear_error() {
    let dir = scratch("image_wrong_key");
    let path = dir.join("disk.img");
    drop(Image::create(&path, 8 << 20, &KEY).expect("mkfs"));
    assert!(matches!(
        Image::open(&path, &[0x5b; 32]),
        Err(ImageError::WrongKey)
    ));
}

#[test]
fn asu_round_trip_keeps_names_content_owners_permissions_and_times() {
    let dir = scratch("image_asu");
    let mut source = Image::create(&dir.join("a.img"), 8 << 20, &KEY).expect("mkfs");
    populate(&mut source);
    for (compression, key, signed) in [
        (Compression::Zstd, None, false),
        (Compression::Lz4, Some([3u8; 32]), true),
    ] {
        let out = dir.join(format!("backup-{compression:?}.asu"));
        let options = WriteOptions {
            compression,
            compression_level: 3,
            key,
            index: true,
            signing_key: signed.then_some([4u8; 32]),
            created_ns: 42,
            source_name: "a.img:/data".into(),
            creator: "test".into(),
        };
        let written = interchange::export_asu(&mut source, "/data", &out, options, &mut |_| {})
            .expect("export");
        assert_eq!(written.entries, 11);

        let target_path = dir.join(format!("b-{compression:?}.img"));
        let mut target = Image::create(&target_path, 8 << 20, &KEY).expect("mkfs");
        let public = signed.then(|| {
            ed25519_dalek::SigningKey::from_bytes(&[4u8; 32])
                .verifying_key()
                .to_bytes()
        });
        interchange::import_asu(
            &mut target,
            &out,
            key.as_ref(),
            public.as_ref(),
            "/restored",
            &mut |_| {},
        )
        .expect("import");
        assert_eq!(
            relative_stats(&mut source, "/data"),
            relative_stats(&mut target, "/restored")
        );
        assert_eq!(get(&mut target, "/restored/f70000"), content(70_000, 5));
        assert!(fsck(&mut target).is_clean());
    }
}

#[test]
fn ine_round_trip_keeps_names_and_content() {
    let dir = scratch("image_ine");
    let mut source = Image::create(&dir.join("a.img"), 8 << 20, &KEY).expect("mkfs");
    populate(&mut source);
    let container = dir.join("data.ine");
    let report = interchange::export_ine(
        &mut source,
        "/data",
        &container,
        zvfs::ine::DEFAULT_IDENTIFIER,
    )
    .expect("export");
    assert_eq!(report.entries, 7, "the seven files");
    assert_eq!(report.skipped, vec!["/data/link: symlink".to_string()]);

    let mut target = Image::create(&dir.join("b.img"), 8 << 20, &KEY).expect("mkfs");
    interchange::import_ine(&mut target, &container, "/in").expect("import");
    for (i, size) in [0usize, 1, 3967, 3968, 3969, 70_000].iter().enumerate() {
        assert_eq!(
            get(&mut target, &format!("/in/f{size}")),
            content(*size, i as u8)
        );
    }
    assert_eq!(
        get(&mut target, "/in/deep/er/ünïcödé.txt"),
        "grüße".as_bytes()
    );
}

#[test]
fn a_damaged_image_never_returns_different_data() {
    let dir = scratch("image_damage");
    let path = dir.join("disk.img");
    let mut image = Image::create(&path, 8 << 20, &KEY).expect("mkfs");
    put(
        &mut image,
        "/tmp/marker",
        b"the quick brown fox jumps over the lazy dog",
    );
    drop(image);
    let clean = std::fs::read(&path).expect("read");
    // Flip bytes across the used part of the image (both regions): every open either fails,
    // or reads the file back exactly, or reports an integrity failure.
    let used = clean.iter().rposition(|&b| b != 0xff).unwrap_or(0) + 1;
    for at in (0..used).step_by(used / 97 + 1) {
        let mut damaged = clean.clone();
        damaged[at] ^= 0x20;
        std::fs::write(&path, &damaged).expect("write");
        let Ok(mut image) = Image::open(&path, &KEY) else {
            continue;
        };
        let mut out = Vec::new();
        if image.get("/tmp/marker", &mut out, &mut |_| {}).is_ok() {
            assert_eq!(
                out, b"the quick brown fox jumps over the lazy dog",
                "flip at {at}"
            );
        }
    }
}

#[test]
fn the_schema_version_is_shown_checked_and_a_newer_one_refused() {
    use storage_backend::Db;
    use vfs_service::inode::{SCHEMA_VERSION, keys};
    let dir = scratch("image_schema");
    let path = dir.join("disk.img");
    let mut image = Image::create(&path, 8 << 20, &KEY).expect("mkfs");
    assert_eq!(
        image.schema_version().expect("schema"),
        Some(SCHEMA_VERSION)
    );
    let report = fsck(&mut image);
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.schema, Some(SCHEMA_VERSION));
    // A later release rewrote the filesystem.
    let store = image.store();
    let mut t = store.begin(Db::Userspace).expect("begin");
    t.put(keys::SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
        .expect("put");
    t.commit().expect("commit");
    image.sync().expect("sync");
    drop(image);
    match Image::open(&path, &KEY) {
        Err(e @ ImageError::UnsupportedSchema { found, supported }) => {
            assert_eq!(found, Some(SCHEMA_VERSION + 1));
            assert_eq!(supported, SCHEMA_VERSION);
            let says = format!("schema is version {}", SCHEMA_VERSION + 1);
            assert!(e.to_string().contains(&says), "{e}");
        }
        other => panic!("a newer schema opened: {:?}", other.err()),
    }
}
