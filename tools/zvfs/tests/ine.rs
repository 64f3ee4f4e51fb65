//! Plain inecontainer files: the layout the format prescribes, in-place reuse of fill chunks,
//! and refusal of damaged containers.

use std::io::Cursor;

use zvfs::ine::{Container, DEFAULT_IDENTIFIER, IneError};

type Memory = Cursor<Vec<u8>>;

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn fresh() -> Container<Memory> {
    Container::create(Cursor::new(Vec::new()), DEFAULT_IDENTIFIER).expect("create")
}

fn reopen(container: Container<Memory>) -> Container<Memory> {
    Container::open(container.into_inner(), Some(DEFAULT_IDENTIFIER)).expect("reopen")
}

fn extract(container: &mut Container<Memory>, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    container.extract(name, &mut out).expect("extract");
    out
}

#[test]
fn a_new_container_is_one_file_header_chunk_laid_out_as_the_format_says() {
    let bytes = fresh().into_inner().into_inner();
    // 20-byte identifier + 4 bytes of version/reserved = 24 valid bytes: a 32-byte chunk with
    // 4 invalid bytes. Header word: type 0, size exponent 0, invalid 4 -> 4 << 5 = 0x0080.
    assert_eq!(bytes.len(), 32);
    assert_eq!(&bytes[0..2], &[0x80, 0x00]);
    assert_eq!(bytes[4], 1, "minor version");
    assert_eq!(bytes[5], 0, "major version");
    assert_eq!(&bytes[6..8], &[0, 0]);
    assert_eq!(&bytes[8..28], DEFAULT_IDENTIFIER.as_bytes());
    assert_eq!(&bytes[28..32], &[0; 4]);
}

#[test]
fn stream_chunks_use_the_documented_layout() {
    let mut container = fresh();
    container.add("a.txt", &mut &b"hello"[..]).expect("add");
    let bytes = container.into_inner().into_inner();
    // Stream start at 32: 128 bytes (exponent 2), all 124 payload bytes valid.
    assert_eq!(u16::from_le_bytes([bytes[32], bytes[33]]), 1 | (2 << 2));
    assert_eq!(
        &bytes[36..40],
        &0u32.to_le_bytes(),
        "stream id 0, EOF clear"
    );
    assert_eq!(&bytes[40..46], b"a.txt\0");
    // Continuation at 160: 32 bytes; 10 header bytes + 5 data bytes valid, 13 invalid.
    let word = u16::from_le_bytes([bytes[160], bytes[161]]);
    assert_eq!(word, 2 | (13 << 5));
    assert_eq!(&bytes[164..168], &0u32.to_le_bytes());
    assert_eq!(&bytes[168..174], &[0; 6], "stream offset 0");
    assert_eq!(&bytes[174..179], b"hello");
    assert_eq!(bytes.len(), 192);
}

#[test]
fn files_of_every_boundary_size_round_trip_across_reopen() {
    let sizes = [0usize, 1, 18, 19, 4082, 4083, 100_000];
    let mut container = fresh();
    for (i, &size) in sizes.iter().enumerate() {
        let info = container
            .add(
                &format!("file-{size}"),
                &mut content(size, i as u8).as_slice(),
            )
            .expect("add");
        assert_eq!(info.size, size as u64);
        assert_eq!(info.id, i as u32, "stream ids start at 0 and count up");
    }
    let mut container = reopen(container);
    let list = container.list();
    assert_eq!(list.len(), sizes.len());
    for (i, &size) in sizes.iter().enumerate() {
        assert_eq!(
            extract(&mut container, &format!("file-{size}")),
            content(size, i as u8)
        );
    }
}

#[test]
fn removed_files_become_fill_and_their_space_is_reused_in_place() {
    let mut container = fresh();
    container
        .add("first", &mut content(20_000, 1).as_slice())
        .expect("add");
    container
        .add("second", &mut content(20_000, 2).as_slice())
        .expect("add");
    container
        .add("third", &mut content(100, 3).as_slice())
        .expect("add");
    let len_before = container.into_inner();
    let full_len = len_before.get_ref().len();
    let mut container = Container::open(len_before, None).expect("open");

    container.remove("second").expect("remove");
    assert!(
        container.free_bytes() >= 20_000,
        "removed stream's chunks are fill now"
    );
    let mut container = reopen(container);
    assert_eq!(container.list().len(), 2);

    // A new file no larger than the hole goes into it: the container does not grow.
    container
        .add("fourth", &mut content(15_000, 4).as_slice())
        .expect("add");
    let mut container = reopen(container);
    assert_eq!(extract(&mut container, "first"), content(20_000, 1));
    assert_eq!(extract(&mut container, "third"), content(100, 3));
    assert_eq!(extract(&mut container, "fourth"), content(15_000, 4));
    let bytes = container.into_inner().into_inner();
    assert_eq!(
        bytes.len(),
        full_len,
        "the hole was reused, the file did not grow"
    );
}

#[test]
fn removing_the_last_file_gives_the_space_back() {
    let mut container = fresh();
    container.add("keep", &mut &b"x"[..]).expect("add");
    let after_keep = container.into_inner();
    let keep_len = after_keep.get_ref().len();
    let mut container = Container::open(after_keep, None).expect("open");
    container
        .add("big", &mut content(50_000, 9).as_slice())
        .expect("add");
    container.remove("big").expect("remove");
    assert_eq!(container.into_inner().get_ref().len(), keep_len);
}

#[test]
fn names_are_checked() {
    let mut container = fresh();
    container.add("a", &mut &b""[..]).expect("add");
    assert!(matches!(
        container.add("a", &mut &b""[..]),
        Err(IneError::StreamExists(_))
    ));
    assert!(matches!(
        container.add("", &mut &b""[..]),
        Err(IneError::BadName(_))
    ));
    assert!(matches!(
        container.add("x\0y", &mut &b""[..]),
        Err(IneError::BadName(_))
    ));
    assert!(matches!(
        container.add(&"n".repeat(120), &mut &b""[..]),
        Err(IneError::BadName(_))
    ));
    container
        .add(&"n".repeat(119), &mut &b"ok"[..])
        .expect("119-byte name fits");
    container
        .add("ünïcödé", &mut &b"ok"[..])
        .expect("unicode name");
    let container = reopen(container);
    assert!(container.list().iter().any(|s| s.name == "ünïcödé"));
    let mut container = container;
    assert!(matches!(
        container.remove("missing"),
        Err(IneError::NoSuchStream(_))
    ));
}

#[test]
fn damaged_containers_are_refused_or_read_back_unchanged() {
    let mut container = fresh();
    container
        .add("a", &mut content(300, 1).as_slice())
        .expect("add");
    container
        .add("b", &mut content(5000, 2).as_slice())
        .expect("add");
    container.remove("a").expect("remove");
    let bytes = container.into_inner().into_inner();
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x04;
        let Ok(mut container) = Container::open(Cursor::new(damaged), Some(DEFAULT_IDENTIFIER))
        else {
            continue;
        };
        // Only bytes that carry no data (fill payloads, padding) may be damaged unnoticed.
        let mut out = Vec::new();
        if container.extract("b", &mut out).is_ok() {
            assert_eq!(out, content(5000, 2), "flip at byte {at} changed the data");
        }
    }
}

#[test]
fn truncated_and_foreign_files_are_refused() {
    let mut container = fresh();
    container
        .add("a", &mut content(1000, 1).as_slice())
        .expect("add");
    let bytes = container.into_inner().into_inner();
    for len in [1, 20, 31, 33, 100, bytes.len() - 1] {
        assert!(
            Container::open(Cursor::new(bytes[..len].to_vec()), None).is_err(),
            "truncated to {len}"
        );
    }
    assert!(matches!(
        Container::open(Cursor::new(bytes.clone()), Some("another identifier")),
        Err(IneError::WrongIdentifier { .. })
    ));
    // A stream start chunk first: not a container.
    assert!(matches!(
        Container::open(Cursor::new(bytes[32..].to_vec()), None),
        Err(IneError::NoFileHeader)
    ));
}

#[test]
fn orphaned_and_gapped_streams_are_inconsistent() {
    let mut container = fresh();
    container
        .add("a", &mut content(5000, 1).as_slice())
        .expect("add");
    let bytes = container.into_inner().into_inner();
    // Cut out the stream start (bytes 32..160): its data is orphaned.
    let mut orphan = bytes[..32].to_vec();
    orphan.extend_from_slice(&bytes[160..]);
    assert!(matches!(
        Container::open(Cursor::new(orphan), None),
        Err(IneError::Inconsistent(_))
    ));
    // Drop the first 4 KiB continuation (160..4256): the stream has a gap at offset 0.
    let mut gapped = bytes[..160].to_vec();
    gapped.extend_from_slice(&bytes[4256..]);
    assert!(matches!(
        Container::open(Cursor::new(gapped), None),
        Err(IneError::Inconsistent(_))
    ));
}
