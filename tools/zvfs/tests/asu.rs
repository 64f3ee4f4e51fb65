//! ASU files: round trips through every option, and every kind of damage refused.

use std::io::Cursor;

use zvfs::asu::{
    AsuError, AsuReader, AsuWriter, Compression, Entry, EntryKind, Signature, WriteOptions,
};

const KEY: [u8; 32] = [0x42; 32];
const SEED: [u8; 32] = [0x17; 32];

fn entry(path: &str, kind: EntryKind, content: &[u8]) -> Entry {
    use sha2::Digest;
    let is_file = kind == EntryKind::File;
    Entry {
        path: path.into(),
        kind,
        owner: Some([9; 16]),
        permissions: 0o640,
        created_ns: 1_700_000_000_000_000_001,
        modified_ns: 1_700_000_000_000_000_002,
        accessed_ns: 1_700_000_000_000_000_003,
        size: content.len() as u64,
        content_sha256: is_file.then(|| sha2::Sha256::digest(content).into()),
    }
}

/// A tree with every kind of entry, an empty file and a file that spans two chunks.
fn tree(big: bool) -> Vec<(Entry, Vec<u8>)> {
    let large: Vec<u8> = (0..(1u32 << 20) + 1).map(|i| (i * 7 % 253) as u8).collect();
    let mut items = vec![
        (entry("/", EntryKind::Directory, b""), vec![]),
        (entry("/docs", EntryKind::Directory, b""), vec![]),
        (entry("/docs/empty", EntryKind::File, b""), vec![]),
        (
            entry("/docs/hello.txt", EntryKind::File, b"hello, world\n"),
            b"hello, world\n".to_vec(),
        ),
        (
            entry("/docs/ünïcödé", EntryKind::File, "ü".as_bytes()),
            "ü".as_bytes().to_vec(),
        ),
        (
            entry(
                "/link",
                EntryKind::Symlink {
                    target: "/docs/hello.txt".into(),
                },
                b"",
            ),
            vec![],
        ),
    ];
    if big {
        items.push((entry("/large.bin", EntryKind::File, &large), large));
    }
    items
}

fn options(compression: Compression, key: bool, index: bool, signed: bool) -> WriteOptions {
    WriteOptions {
        compression,
        compression_level: 3,
        key: key.then_some(KEY),
        index,
        signing_key: signed.then_some(SEED),
        created_ns: 1_700_000_000_000_000_000,
        source_name: "test-tree".into(),
        creator: "zvfs tests".into(),
    }
}

fn write(items: &[(Entry, Vec<u8>)], options: WriteOptions) -> Vec<u8> {
    let entries = items.iter().map(|(e, _)| e.clone()).collect();
    let mut writer = AsuWriter::create(Cursor::new(Vec::new()), options, entries).expect("create");
    for (entry, content) in items {
        if entry.kind == EntryKind::File && !content.is_empty() {
            writer
                .write_content(&mut content.as_slice())
                .expect("content");
        }
    }
    writer.finish().expect("finish").into_inner()
}

fn public_key() -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&SEED)
        .verifying_key()
        .to_bytes()
}

/// Opens, lists and reads everything back; the first error wins.
fn read_all(
    bytes: &[u8],
    key: Option<&[u8; 32]>,
    pubkey: Option<&[u8; 32]>,
) -> Result<Vec<(Entry, Vec<u8>)>, AsuError> {
    let mut reader = AsuReader::open(Cursor::new(bytes), key, pubkey)?;
    let entries = reader.entries()?;
    let mut out = Vec::new();
    for number in 0..entries.len() {
        let mut content = Vec::new();
        reader.read_content(&entries, number, &mut content)?;
        out.push((entries[number].clone(), content));
    }
    Ok(out)
}

#[test]
fn every_option_combination_round_trips() {
    let items = tree(true);
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        for (key, index, signed) in [
            (false, false, false),
            (true, true, true),
            (true, false, true),
            (false, true, false),
        ] {
            let bytes = write(&items, options(compression, key, index, signed));
            let pubkey = signed.then(public_key);
            let back = read_all(&bytes, key.then_some(&KEY), pubkey.as_ref()).unwrap_or_else(|e| {
                panic!("{compression:?} key={key} index={index} signed={signed}: {e}")
            });
            assert_eq!(
                back, items,
                "{compression:?} key={key} index={index} signed={signed}"
            );
        }
    }
}

#[test]
fn the_index_finds_entries_by_name() {
    let items = tree(false);
    for key in [false, true] {
        let bytes = write(&items, options(Compression::Lz4, key, true, false));
        let reader = AsuReader::open(Cursor::new(&bytes), key.then_some(&KEY), None).expect("open");
        assert_eq!(reader.find("/docs/hello.txt"), Some(3));
        assert_eq!(reader.find("/link"), Some(5));
        assert_eq!(reader.find("/missing"), None);
    }
}

#[test]
fn compression_shrinks_compressible_content() {
    let items = tree(true);
    let plain = write(&items, options(Compression::None, false, false, false)).len();
    for compression in [Compression::Lz4, Compression::Zstd] {
        let packed = write(&items, options(compression, false, false, false)).len();
        assert!(packed < plain / 2, "{compression:?}: {packed} vs {plain}");
    }
}

#[test]
fn encrypted_files_hide_names_and_content() {
    let bytes = write(&tree(false), options(Compression::None, true, true, false));
    for marker in [&b"hello, world"[..], b"hello.txt", b"docs"] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{:?} in the clear",
            marker
        );
    }
}

#[test]
fn every_single_flipped_byte_is_refused() {
    for (key, signed) in [(false, false), (true, true)] {
        let bytes = write(&tree(false), options(Compression::Lz4, key, true, signed));
        let pubkey = public_key();
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            let result = read_all(&damaged, key.then_some(&KEY), signed.then_some(&pubkey));
            assert!(
                result.is_err(),
                "flip at byte {at} of {} was accepted",
                bytes.len()
            );
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = write(&tree(false), options(Compression::Zstd, true, true, true));
    for len in 0..bytes.len() {
        let result = read_all(&bytes[..len], Some(&KEY), Some(&public_key()));
        assert!(result.is_err(), "truncation to {len} bytes was accepted");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        read_all(&longer, Some(&KEY), None).is_err(),
        "trailing garbage accepted"
    );
}

#[test]
fn keys_and_signatures_are_checked() {
    let items = tree(false);
    let bytes = write(&items, options(Compression::None, true, false, true));
    let pubkey = public_key();

    assert!(matches!(
        read_all(&bytes, Some(&[0x43; 32]), None),
        Err(AsuError::Decryption { chunk: 0 })
    ));
    assert!(matches!(
        read_all(&bytes, None, None),
        Err(AsuError::MissingKey)
    ));
    let other = ed25519_dalek::SigningKey::from_bytes(&[1; 32])
        .verifying_key()
        .to_bytes();
    assert!(matches!(
        read_all(&bytes, Some(&KEY), Some(&other)),
        Err(AsuError::BadSignature)
    ));

    let reader =
        AsuReader::open(Cursor::new(&bytes), None, None).expect("structure verifies without a key");
    assert_eq!(
        reader.signature(),
        Signature::Unchecked {
            embedded_key: pubkey
        }
    );
    let reader =
        AsuReader::open(Cursor::new(&bytes), None, Some(&pubkey)).expect("signature verifies");
    assert_eq!(reader.signature(), Signature::Verified);

    let unsigned = write(&items, options(Compression::None, false, false, false));
    assert!(matches!(
        AsuReader::open(Cursor::new(&unsigned), None, Some(&pubkey)),
        Err(AsuError::NotSigned)
    ));
}

#[test]
fn a_re_signed_forgery_fails_under_the_real_key() {
    // Someone alters the archive and signs it with their own key: the embedded key changes,
    // but verification is against the key the caller trusts.
    let items = tree(false);
    let mut forged_items = items.clone();
    forged_items[3].1 = b"HELLO, WORLD\n".to_vec();
    forged_items[3].0 = entry("/docs/hello.txt", EntryKind::File, b"HELLO, WORLD\n");
    let mut forged_options = options(Compression::None, false, false, true);
    forged_options.signing_key = Some([0x99; 32]);
    let forged = write(&forged_items, forged_options);
    assert!(matches!(
        read_all(&forged, None, Some(&public_key())),
        Err(AsuError::BadSignature)
    ));
}

#[test]
fn the_writer_refuses_content_that_differs_from_its_entries() {
    let items = tree(false);
    let entries: Vec<Entry> = items.iter().map(|(e, _)| e.clone()).collect();
    let opts = options(Compression::None, false, false, false);

    let mut writer =
        AsuWriter::create(Cursor::new(Vec::new()), opts.clone(), entries.clone()).expect("create");
    assert!(matches!(
        writer.write_content(&mut &b"hello"[..]),
        Err(AsuError::ContentMismatch(_))
    ));

    let mut writer =
        AsuWriter::create(Cursor::new(Vec::new()), opts.clone(), entries.clone()).expect("create");
    assert!(matches!(
        writer.write_content(&mut &b"hello, world\n!"[..]),
        Err(AsuError::ContentMismatch(_))
    ));

    let mut writer =
        AsuWriter::create(Cursor::new(Vec::new()), opts.clone(), entries.clone()).expect("create");
    assert!(matches!(
        writer.write_content(&mut &b"HELLO, WORLD\n"[..]),
        Err(AsuError::ContentMismatch(_))
    ));

    let writer = AsuWriter::create(Cursor::new(Vec::new()), opts.clone(), entries).expect("create");
    assert!(matches!(writer.finish(), Err(AsuError::ContentMismatch(_))));

    let mut bad = items[3].0.clone();
    bad.path = "/docs/../etc".into();
    assert!(AsuWriter::create(Cursor::new(Vec::new()), opts, vec![bad]).is_err());
}
