//! Editing virtual files in place — rename, append, truncate, write-at, cat — checked against a
//! model of the expected contents over random edit sequences, and read back after every edit by
//! an independent reader written from the chunk layout the spec README records (not through the
//! crate's parser), which also checks the layout: the file header first, 128-byte stream
//! starts, continuations covering each stream exactly once, fills merged and none at the end.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zvfs::ine::{Container, DEFAULT_IDENTIFIER, IneError};

type Memory = Cursor<Vec<u8>>;

/// One chunk as the independent reader sees it: position, size, type.
type Layout = Vec<(usize, usize, u8)>;

/// `T[i] = i·x^16 mod P` for P = x^16 + x^15 + x^2 + 1, as the spec README gives it.
fn crc_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut r = (i as u32) << 16;
        for bit in (16..24).rev() {
            if r & (1 << bit) != 0 {
                r ^= 0x1_8005 << (bit - 16);
            }
        }
        *entry = r as u16;
    }
    table
}

/// Reads a container the way the spec README describes it. Returns every stream's content by
/// name and the chunk layout, or what is wrong.
fn independent_read(bytes: &[u8]) -> Result<(BTreeMap<String, Vec<u8>>, Layout), String> {
    let table = crc_table();
    assert_eq!((table[1], table[2], table[255]), (0x8005, 0x800F, 0x0202));
    let mut layout = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut pieces: BTreeMap<u32, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let word = u16::from_le_bytes([bytes[pos], *bytes.get(pos + 1).ok_or("cut")?]);
        let ty = (word & 3) as u8;
        let size = 32usize << ((word >> 2) & 7);
        let invalid = usize::from(word >> 5);
        let chunk = bytes
            .get(pos..pos + size)
            .ok_or(format!("chunk at {pos} cut"))?;
        if ty == 3 {
            if invalid != 0 {
                return Err(format!("fill at {pos} has invalid count {invalid}"));
            }
        } else {
            let valid_end = size.checked_sub(invalid).ok_or("invalid count")?;
            let mut r = u16::from_le_bytes([chunk[0], chunk[1]]);
            for &b in &chunk[4..valid_end] {
                r = ((r << 8) | u16::from(b)) ^ table[usize::from(r >> 8)];
            }
            if r != u16::from_le_bytes([chunk[2], chunk[3]]) {
                return Err(format!("CRC of chunk at {pos}"));
            }
            let valid = &chunk[4..valid_end];
            match ty {
                0 if pos == 0 => {
                    if size != 32 || valid[0] != 1 || valid[1] != 0 {
                        return Err("file header layout".into());
                    }
                }
                1 => {
                    if size != 128 {
                        return Err(format!("stream start at {pos} is {size} bytes"));
                    }
                    let id = u32::from_le_bytes([valid[0], valid[1], valid[2], valid[3]]);
                    let name = &chunk[8..];
                    let end = name
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or("name not nul-ended")?;
                    let name = String::from_utf8(name[..end].to_vec()).map_err(|_| "utf-8")?;
                    if names.insert(id & 0x7FFF_FFFF, name).is_some() {
                        return Err("stream started twice".into());
                    }
                }
                2 => {
                    let id = u32::from_le_bytes([valid[0], valid[1], valid[2], valid[3]]);
                    let mut off = [0u8; 8];
                    off[..6].copy_from_slice(&valid[4..10]);
                    pieces
                        .entry(id & 0x7FFF_FFFF)
                        .or_default()
                        .push((u64::from_le_bytes(off), valid[10..].to_vec()));
                }
                _ => return Err(format!("chunk type {ty} at {pos}")),
            }
        }
        layout.push((pos, size, ty));
        pos += size;
    }
    if layout.first().map(|c| c.2) != Some(0) {
        return Err("no file header".into());
    }
    if layout.last().is_some_and(|c| c.2 == 3) {
        return Err("fill chunk at the end of the file".into());
    }
    for w in layout.windows(2) {
        if w[0].2 == 3 && w[1].2 == 3 && w[0].1 == w[1].1 && w[0].1 < 4096 {
            return Err(format!("unmerged fills at {} and {}", w[0].0, w[1].0));
        }
    }
    let mut files = BTreeMap::new();
    for (id, name) in names {
        let mut list = pieces.remove(&id).unwrap_or_default();
        list.sort_by_key(|p| p.0);
        let mut content = Vec::new();
        for (offset, data) in list {
            if offset != content.len() as u64 {
                return Err(format!(
                    "{name}: piece at {offset}, expected {}",
                    content.len()
                ));
            }
            content.extend_from_slice(&data);
        }
        if files.insert(name.clone(), content).is_some() {
            return Err(format!("two streams named {name}"));
        }
    }
    if !pieces.is_empty() {
        return Err("continuations without a stream start".into());
    }
    Ok((files, layout))
}

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn data(&mut self) -> Vec<u8> {
        let len = self.size();
        self.bytes(len)
    }
    /// Sizes around the chunk boundaries (18, 4082 bytes of data) and larger.
    fn size(&mut self) -> usize {
        match self.below(4) {
            0 => self.below(40) as usize,
            1 => 4060 + self.below(50) as usize,
            2 => self.below(9000) as usize,
            _ => self.below(30_000) as usize,
        }
    }
}

fn fresh() -> Container<Memory> {
    Container::create(Cursor::new(Vec::new()), DEFAULT_IDENTIFIER).expect("create")
}

/// Reopens the container from its bytes and checks it against the model with both readers.
fn check(container: Container<Memory>, model: &BTreeMap<String, Vec<u8>>) -> Container<Memory> {
    let bytes = container.into_inner().into_inner();
    let (files, _) = independent_read(&bytes).expect("the independent reader reads it");
    assert_eq!(&files, model, "independent reader");
    let mut container =
        Container::open(Cursor::new(bytes), Some(DEFAULT_IDENTIFIER)).expect("reopen");
    let list = container.list();
    assert_eq!(list.len(), model.len());
    for info in list {
        let mut out = Vec::new();
        container.extract(&info.name, &mut out).expect("extract");
        assert_eq!(Some(&out), model.get(&info.name), "{}", info.name);
        assert_eq!(info.size, out.len() as u64);
    }
    container
}

fn layout(container: Container<Memory>) -> (Layout, Container<Memory>) {
    let bytes = container.into_inner().into_inner();
    let (_, layout) = independent_read(&bytes).expect("readable");
    (
        layout,
        Container::open(Cursor::new(bytes), None).expect("open"),
    )
}

#[test]
fn random_edit_sequences_match_a_model_and_stay_readable() {
    for seed in 1..=6u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut container = fresh();
        for step in 0..60 {
            let names: Vec<String> = model.keys().cloned().collect();
            let pick = |rng: &mut Rng| names[rng.below(names.len() as u64) as usize].clone();
            let op = if names.is_empty() { 0 } else { rng.below(7) };
            match op {
                0 => {
                    let name = format!("f{seed}-{step}");
                    let data = rng.data();
                    container.add(&name, &mut data.as_slice()).expect("add");
                    model.insert(name, data);
                }
                1 => {
                    let name = pick(&mut rng);
                    let data = rng.data();
                    let size = container
                        .append(&name, &mut data.as_slice())
                        .expect("append");
                    let entry = model.get_mut(&name).expect("model");
                    entry.extend_from_slice(&data);
                    assert_eq!(size, entry.len() as u64);
                }
                2 | 3 => {
                    let name = pick(&mut rng);
                    let entry = model.get_mut(&name).expect("model");
                    let size = if op == 2 {
                        rng.below(entry.len() as u64 + 1) as usize
                    } else {
                        entry.len() + rng.size()
                    };
                    container.truncate(&name, size as u64).expect("truncate");
                    entry.resize(size, 0);
                }
                4 => {
                    let name = pick(&mut rng);
                    let entry = model.get_mut(&name).expect("model");
                    let offset = rng.below(entry.len() as u64 + 5000) as usize;
                    let data = rng.data();
                    let n = container
                        .write_at(&name, offset as u64, &mut data.as_slice())
                        .expect("write-at");
                    assert_eq!(n, data.len() as u64);
                    if entry.len() < offset + data.len() {
                        entry.resize(offset + data.len(), 0);
                    }
                    entry[offset..offset + data.len()].copy_from_slice(&data);
                }
                5 => {
                    let name = pick(&mut rng);
                    let new = format!("renamed-{seed}-{step}");
                    container.rename(&name, &new).expect("rename");
                    let data = model.remove(&name).expect("model");
                    model.insert(new, data);
                }
                _ => {
                    let name = pick(&mut rng);
                    container.remove(&name).expect("remove");
                    model.remove(&name);
                }
            }
            container = check(container, &model);
        }
    }
}

#[test]
fn overwriting_inside_a_file_keeps_every_chunk_where_it_was() {
    let mut container = fresh();
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    container.add("a", &mut data.as_slice()).expect("add");
    container.add("b", &mut &b"tail"[..]).expect("add");
    let (before, mut container) = layout(container);
    let patch = vec![0xAB; 9000];
    container
        .write_at("a", 3000, &mut patch.as_slice())
        .expect("write-at");
    let (after, container) = layout(container);
    assert_eq!(before, after, "same chunks, same sizes, same places");
    let mut expected = data;
    expected[3000..12_000].copy_from_slice(&patch);
    let model = BTreeMap::from([("a".to_string(), expected), ("b".into(), b"tail".to_vec())]);
    check(container, &model);
}

#[test]
fn shrinking_frees_chunks_as_fill_that_appends_reuse_in_place() {
    let mut container = fresh();
    let a: Vec<u8> = (0..30_000u32).map(|i| (i % 253) as u8).collect();
    container.add("a", &mut a.as_slice()).expect("add");
    container.add("b", &mut &b"b"[..]).expect("add");
    let full = container.into_inner();
    let full_len = full.get_ref().len();
    let mut container = Container::open(full, None).expect("open");

    // 5000 bytes: the second 4 KiB chunk straddles the end and is rewritten shorter.
    container.truncate("a", 5000).expect("truncate");
    assert!(
        container.free_bytes() >= 24_000,
        "{}",
        container.free_bytes()
    );
    let (layout_after, container) = layout(container);
    assert!(
        layout_after
            .iter()
            .any(|&(_, size, ty)| ty == 3 && size == 4096),
        "whole chunks past the end became fill and merged: {layout_after:?}"
    );
    let model = BTreeMap::from([
        ("a".to_string(), a[..5000].to_vec()),
        ("b".to_string(), b"b".to_vec()),
    ]);
    let mut container = check(container, &model);

    // Growing "b" and appending to "a" go into the holes: the file does not grow.
    let more = vec![7u8; 12_000];
    container.append("b", &mut more.as_slice()).expect("append");
    container.truncate("a", 9000).expect("grow");
    let mut model = model;
    model.get_mut("b").expect("b").extend_from_slice(&more);
    model.get_mut("a").expect("a").resize(9000, 0);
    let container = check(container, &model);
    assert!(container.into_inner().get_ref().len() <= full_len);
}

#[test]
fn truncating_to_zero_and_to_the_same_size() {
    let mut container = fresh();
    container.add("keep", &mut &b"k"[..]).expect("add");
    let data = vec![3u8; 10_000];
    container.add("z", &mut data.as_slice()).expect("add");
    container.truncate("z", 10_000).expect("same size");
    let mut container = check(
        container,
        &BTreeMap::from([("keep".into(), b"k".to_vec()), ("z".into(), data)]),
    );
    container.truncate("z", 0).expect("to zero");
    let container = check(
        container,
        &BTreeMap::from([("keep".into(), b"k".to_vec()), ("z".into(), Vec::new())]),
    );
    // Only the header, two starts and one continuation remain; the file was cut back.
    assert_eq!(container.into_inner().get_ref().len(), 32 + 128 + 32 + 128);
}

#[test]
fn bad_edits_change_nothing() {
    let mut container = fresh();
    container.add("a", &mut &b"alpha"[..]).expect("add");
    container
        .add("b", &mut vec![1u8; 6000].as_slice())
        .expect("add");
    container
        .remove("b")
        .expect("remove leaves a hole? no: at the end, cut off");
    container
        .add("b", &mut vec![2u8; 6000].as_slice())
        .expect("add");
    container.add("c", &mut &b"c"[..]).expect("add");
    container.remove("b").expect("a hole in the middle");
    let bytes = container.into_inner().into_inner();
    let mut container = Container::open(Cursor::new(bytes.clone()), None).expect("open");

    assert!(matches!(
        container.rename("a", "c"),
        Err(IneError::StreamExists(_))
    ));
    assert!(matches!(
        container.rename("a", "a"),
        Err(IneError::StreamExists(_))
    ));
    assert!(matches!(
        container.rename("a", ""),
        Err(IneError::BadName(_))
    ));
    assert!(matches!(
        container.rename("a", "x\0"),
        Err(IneError::BadName(_))
    ));
    assert!(matches!(
        container.rename("a", &"n".repeat(120)),
        Err(IneError::BadName(_))
    ));
    assert!(matches!(
        container.rename("zz", "y"),
        Err(IneError::NoSuchStream(_))
    ));
    assert!(matches!(
        container.append("zz", &mut &b"1"[..]),
        Err(IneError::NoSuchStream(_))
    ));
    assert!(matches!(
        container.truncate("zz", 1),
        Err(IneError::NoSuchStream(_))
    ));
    assert!(matches!(
        container.truncate("a", 1 << 49),
        Err(IneError::Full)
    ));
    assert!(matches!(
        container.write_at("a", 1 << 49, &mut &b"1"[..]),
        Err(IneError::Full)
    ));

    // An input that fails part-way: what was written of it is taken back.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("input broke"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(9);
            self.0 -= n;
            Ok(n)
        }
    }
    assert!(matches!(
        container.append("a", &mut Failing(20_000)),
        Err(IneError::Io(_))
    ));
    let after = container.into_inner().into_inner();
    let (before_files, before_layout) = independent_read(&bytes).expect("readable");
    let (after_files, after_layout) = independent_read(&after).expect("readable");
    assert_eq!(before_files, after_files);
    assert_eq!(before_layout, after_layout, "the chunks are as they were");
    assert_eq!(bytes.len(), after.len());
}

#[test]
fn a_renamed_file_keeps_its_content_and_is_found_by_its_new_name_only() {
    let mut container = fresh();
    let data = vec![5u8; 5000];
    container.add("old", &mut data.as_slice()).expect("add");
    let (before, mut container) = layout(container);
    container.rename("old", "ünï/new name").expect("rename");
    let (after, container) = layout(container);
    assert_eq!(
        before, after,
        "only the stream start chunk was rewritten, in place"
    );
    let mut container = check(container, &BTreeMap::from([("ünï/new name".into(), data)]));
    let mut sink = Vec::new();
    assert!(matches!(
        container.extract("old", &mut sink),
        Err(IneError::NoSuchStream(_))
    ));
}

#[test]
fn rename_keeps_an_eof_flag_the_writer_set() {
    let mut container = fresh();
    container.add("x", &mut &b"data"[..]).expect("add");
    let mut bytes = container.into_inner().into_inner();
    // Set bit 31 of the stream word in the start chunk at 32 and recompute its CRC the way the
    // spec README describes.
    bytes[32 + 7] |= 0x80;
    let table = crc_table();
    let mut r = u16::from_le_bytes([bytes[32], bytes[33]]);
    for &b in &bytes[36..160] {
        r = ((r << 8) | u16::from(b)) ^ table[usize::from(r >> 8)];
    }
    bytes[34..36].copy_from_slice(&r.to_le_bytes());
    let mut container = Container::open(Cursor::new(bytes), None).expect("open");
    container.rename("x", "y").expect("rename");
    let bytes = container.into_inner().into_inner();
    assert_eq!(bytes[32 + 7] & 0x80, 0x80, "EOF flag kept");
    assert_eq!(&bytes[40..42], b"y\0");
    let (files, _) = independent_read(&bytes).expect("readable, CRC right");
    assert_eq!(files.get("y").map(Vec::as_slice), Some(&b"data"[..]));
}

/// A continuation chunk of `size` bytes carrying `data`, built from the spec README's layout:
/// a writer may pad a chunk beyond the smallest size that holds its data.
fn padded_continuation(size: usize, stream: u32, offset: u64, data: &[u8]) -> Vec<u8> {
    let mut chunk = vec![0u8; size];
    let exp = (0..8).find(|e| 32 << e == size).expect("power of two");
    let invalid = size - 14 - data.len();
    let word = 2u16 | (exp << 2) | ((invalid as u16) << 5);
    chunk[0..2].copy_from_slice(&word.to_le_bytes());
    chunk[4..8].copy_from_slice(&stream.to_le_bytes());
    chunk[8..14].copy_from_slice(&offset.to_le_bytes()[..6]);
    chunk[14..14 + data.len()].copy_from_slice(data);
    let table = crc_table();
    let mut r = word;
    for &b in &chunk[4..14 + data.len()] {
        r = ((r << 8) | u16::from(b)) ^ table[usize::from(r >> 8)];
    }
    chunk[2..4].copy_from_slice(&r.to_le_bytes());
    chunk
}

#[test]
fn padded_chunks_keep_their_size_when_overwritten_and_shrink_when_truncated() {
    let mut container = fresh();
    container.add("p", &mut &b""[..]).expect("add");
    let mut bytes = container.into_inner().into_inner();
    // Two padded continuations: 10 bytes in 256, then 5 bytes in 128.
    bytes.extend(padded_continuation(256, 0, 0, b"0123456789"));
    bytes.extend(padded_continuation(128, 0, 10, b"abcde"));
    let (_, before) = independent_read(&bytes).expect("a valid container");
    let mut container = Container::open(Cursor::new(bytes), None).expect("open");
    container
        .write_at("p", 8, &mut &b"XYZ"[..])
        .expect("write-at across both chunks");
    let (after, container) = layout(container);
    assert_eq!(before, after, "padded chunks keep their size and place");
    let mut container = check(
        container,
        &BTreeMap::from([("p".into(), b"01234567XYZbcde".to_vec())]),
    );
    // Truncating into the first chunk: rewritten at its smallest size, the rest fill (then cut
    // off the end of the file with the freed second chunk).
    container.truncate("p", 4).expect("truncate");
    let (after, container) = layout(container);
    assert_eq!(after.last(), Some(&(160, 32, 2)), "{after:?}");
    check(container, &BTreeMap::from([("p".into(), b"0123".to_vec())]));
}

#[test]
fn a_failing_write_past_the_end_leaves_the_file_as_it_was() {
    let mut container = fresh();
    container.add("a", &mut &b"abc"[..]).expect("add");
    let before = container.into_inner().into_inner();
    let mut container = Container::open(Cursor::new(before.clone()), None).expect("open");
    let mut failing = io::repeat(1).take(5000).chain(Broken);
    assert!(container.write_at("a", 10_000, &mut failing).is_err());
    let after = container.into_inner().into_inner();
    assert_eq!(after, before, "zero gap and partial data taken back");
}

/// A reader that always fails.
struct Broken;

impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("input broke"))
    }
}

// The real binary.

fn zvfs(args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_zvfs"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zvfs");
    if let Some(mut input) = child.stdin.take() {
        // The command may not read its input; a closed pipe is fine.
        let _ = input.write_all(stdin);
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn read_back(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).expect("read");
    independent_read(&bytes).expect("independent reader").0
}

#[test]
fn cli_edits_a_container_and_stays_readable() {
    let dir = scratch("ine_edit_cli");
    let c = dir.join("box.ine");
    let c = c.to_str().unwrap_or_default();
    let src = dir.join("src.bin");
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 239) as u8).collect();
    std::fs::write(&src, &data).expect("write");
    let s = src.to_str().unwrap_or_default();

    assert_eq!(zvfs(&["ine", "init", c], b"").0, 0);
    assert_eq!(zvfs(&["ine", "import", c, s, "--name", "f"], b"").0, 0);
    let mut model = data.clone();

    let (code, out, err) = zvfs(&["ine", "cat", c, "f"], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, model);

    let (code, _, err) = zvfs(&["ine", "append", c, "f", "-"], b"from stdin");
    assert_eq!(code, 0, "{err}");
    model.extend_from_slice(b"from stdin");
    assert_eq!(zvfs(&["ine", "append", c, "f", s], b"").0, 0);
    model.extend_from_slice(&data);
    assert_eq!(read_back(Path::new(c)).get("f"), Some(&model));

    let (code, _, err) = zvfs(&["ine", "write-at", c, "f", "100", "-"], b"PATCH");
    assert_eq!(code, 0, "{err}");
    model[100..105].copy_from_slice(b"PATCH");
    let end = model.len().to_string();
    assert_eq!(zvfs(&["ine", "write-at", c, "f", &end, "-"], b"!!").0, 0);
    model.extend_from_slice(b"!!");
    assert_eq!(zvfs(&["ine", "truncate", c, "f", "12345"], b"").0, 0);
    model.truncate(12_345);
    assert_eq!(zvfs(&["ine", "rename", c, "f", "g"], b"").0, 0);
    let files = read_back(Path::new(c));
    assert_eq!(files.len(), 1);
    assert_eq!(files.get("g"), Some(&model));
    let (code, out, _) = zvfs(&["ine", "cat", c, "g"], b"");
    assert_eq!((code, out), (0, model.clone()));

    // Bad input changes nothing, and the error names the container and the step.
    let before = std::fs::read(c).expect("read");
    let missing = dir.join("missing.bin");
    let (code, _, err) = zvfs(
        &[
            "ine",
            "append",
            c,
            "g",
            missing.to_str().unwrap_or_default(),
        ],
        b"",
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("missing.bin"), "{err}");
    let (code, _, err) = zvfs(&["ine", "rename", c, "nope", "h"], b"");
    assert_eq!(code, 4);
    assert!(err.contains("box.ine") && err.contains("rename"), "{err}");
    assert_eq!(zvfs(&["ine", "rename", c, "g", ""], b"").0, 2);
    assert_eq!(zvfs(&["ine", "truncate", c, "nope", "1"], b"").0, 4);
    assert_eq!(zvfs(&["ine", "write-at", c, "nope", "0", "-"], b"x").0, 4);
    assert_eq!(zvfs(&["ine", "truncate", c, "g", "-1"], b"").0, 2);
    assert_eq!(std::fs::read(c).expect("read"), before);
}

#[test]
fn cli_cat_streams_a_large_file_and_stops_quietly_for_a_closed_reader() {
    let dir = scratch("ine_edit_cat");
    let c = dir.join("big.ine");
    let c = c.to_str().unwrap_or_default();
    let src = dir.join("big.bin");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &data).expect("write");
    assert_eq!(zvfs(&["ine", "init", c], b"").0, 0);
    assert_eq!(
        zvfs(
            &[
                "ine",
                "import",
                c,
                src.to_str().unwrap_or_default(),
                "--name",
                "big"
            ],
            b""
        )
        .0,
        0
    );
    let (code, out, err) = zvfs(&["ine", "cat", c, "big"], b"");
    assert_eq!(code, 0, "{err}");
    assert!(out == data, "cat gives the file back byte for byte");

    // A reader that closes early (`| head -c 10`): no error message, success.
    let mut child = Command::new(env!("CARGO_BIN_EXE_zvfs"))
        .args(["ine", "cat", c, "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let mut first = [0u8; 10];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("read");
    assert_eq!(&first, &data[..10]);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());

    // A damaged chunk is refused: exit code 1, naming the container and the step.
    let mut bytes = std::fs::read(c).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(c, &bytes).expect("write");
    let (code, _, err) = zvfs(&["ine", "cat", c, "big"], b"");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("big.ine") && err.contains("CRC"), "{err}");
}
