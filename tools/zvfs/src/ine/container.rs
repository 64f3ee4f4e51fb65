//! An inecontainer file as a map of its chunks, edited in place.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use storage_backend::chunk::{
    CONT_DATA_OFFSET, ChunkType, ContinuationHeader, MAX_CHUNK, MIN_CHUNK, exp_for_len,
    parse_chunk, write_continuation, write_file_header, write_fill, write_fills,
    write_stream_start,
};

use super::error::IneError;
use super::{FORMAT_VERSION, MAX_NAME_BYTES};

/// Size of a stream start chunk.
pub(super) const START_CHUNK: u64 = 128;
/// The largest stream id (31 bits).
const MAX_STREAM_ID: u32 = 0x7FFF_FFFF;
/// Stream offsets are 48-bit.
pub(super) const MAX_STREAM_BYTES: u64 = 1 << 48;

/// A storage a container can live in: a file or, in tests, memory.
pub trait Medium: Read + Write + Seek {
    /// Cuts the medium to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Medium for std::fs::File {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

impl Medium for Cursor<Vec<u8>> {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.get_mut()
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }
}

/// What a chunk of the container holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Header,
    Start { stream: u32 },
    Data { stream: u32, offset: u64, len: u32 },
    Fill,
}

/// One chunk: where it is, how big, what it holds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placed {
    pub(super) pos: u64,
    pub(super) size: u64,
    pub(super) slot: Slot,
}

/// A virtual file of the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// Its stream id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
}

/// An opened inecontainer.
pub struct Container<F: Medium> {
    pub(super) file: F,
    identifier: String,
    /// Every chunk, in file order, covering the file without gaps.
    pub(super) chunks: Vec<Placed>,
    pub(super) streams: BTreeMap<u32, StreamInfo>,
}

impl<F: Medium> Container<F> {
    /// Writes a new, empty container (a file header chunk) into `file`.
    pub fn create(mut file: F, identifier: &str) -> Result<Self, IneError> {
        let mut buf = [0u8; MAX_CHUNK];
        let (minor, major) = FORMAT_VERSION;
        let size = write_file_header(&mut buf, minor, major, identifier.as_bytes())
            .map_err(|_| IneError::BadName(identifier.to_string()))?;
        file.truncate(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&buf[..size])?;
        file.flush()?;
        Ok(Self {
            file,
            identifier: identifier.to_string(),
            chunks: vec![Placed {
                pos: 0,
                size: size as u64,
                slot: Slot::Header,
            }],
            streams: BTreeMap::new(),
        })
    }

    /// Opens a container, checking every chunk and the streams they form. With
    /// `expected_identifier`, a container with another identifier is refused.
    pub fn open(mut file: F, expected_identifier: Option<&str>) -> Result<Self, IneError> {
        let len = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        let mut chunks = Vec::new();
        let mut starts: BTreeMap<u32, String> = BTreeMap::new();
        let mut identifier = None;
        let mut buf = vec![0u8; MAX_CHUNK];
        let mut pos = 0u64;
        while pos < len {
            let bad = |error| IneError::BadChunk {
                position: pos,
                error,
            };
            let head = len - pos;
            if head < 4 {
                return Err(bad(storage_backend::chunk::ChunkError::Truncated));
            }
            file.read_exact(&mut buf[..4])?;
            let size = (MIN_CHUNK << ((buf[0] >> 2) & 7)) as u64;
            if size > head {
                return Err(bad(storage_backend::chunk::ChunkError::Truncated));
            }
            file.read_exact(&mut buf[4..size as usize])?;
            let chunk = parse_chunk(&buf[..size as usize]).map_err(bad)?;
            let slot = match chunk.header.ty {
                ChunkType::FileHeader if pos == 0 => {
                    let (_minor, _major, ident) = chunk.file_header().map_err(bad)?;
                    // Identifiers are compared without the nul padding some writers add.
                    let end = ident.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    identifier = Some(String::from_utf8_lossy(&ident[..end]).into_owned());
                    Slot::Header
                }
                _ if pos == 0 => return Err(IneError::NoFileHeader),
                ChunkType::FileHeader => {
                    return Err(IneError::Inconsistent(format!(
                        "second file header at byte {pos}"
                    )));
                }
                ChunkType::StreamStart => {
                    let (stream, _eof, name) = chunk.stream_start().map_err(bad)?;
                    let name = String::from_utf8(name.to_vec()).map_err(|_| {
                        IneError::Inconsistent(format!("stream name at byte {pos} is not UTF-8"))
                    })?;
                    if starts.insert(stream, name).is_some() {
                        return Err(IneError::Inconsistent(format!(
                            "stream {stream} starts twice"
                        )));
                    }
                    Slot::Start { stream }
                }
                ChunkType::Continuation => {
                    let (header, data) = chunk.continuation().map_err(bad)?;
                    Slot::Data {
                        stream: header.stream_id,
                        offset: header.offset,
                        len: data.len() as u32,
                    }
                }
                ChunkType::Fill => Slot::Fill,
            };
            chunks.push(Placed { pos, size, slot });
            pos += size;
        }
        let Some(identifier) = identifier else {
            return Err(IneError::NoFileHeader);
        };
        if expected_identifier.is_some_and(|expected| identifier != expected) {
            return Err(IneError::WrongIdentifier { found: identifier });
        }
        let streams = assemble_streams(&chunks, starts)?;
        Ok(Self {
            file,
            identifier,
            chunks,
            streams,
        })
    }

    /// The identifier string of the file header.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The virtual files, by name.
    pub fn list(&self) -> Vec<StreamInfo> {
        let mut list: Vec<StreamInfo> = self.streams.values().cloned().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Bytes of the container taken by fill chunks.
    pub fn free_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .filter(|c| c.slot == Slot::Fill)
            .map(|c| c.size)
            .sum()
    }

    /// Gives the medium back.
    pub fn into_inner(self) -> F {
        self.file
    }

    pub(super) fn stream_id(&self, name: &str) -> Result<u32, IneError> {
        self.streams
            .values()
            .find(|s| s.name == name)
            .map(|s| s.id)
            .ok_or_else(|| IneError::NoSuchStream(name.to_string()))
    }

    /// Streams the content of the virtual file `name` to `out`, in byte order, re-checking each
    /// chunk's CRC as it is read.
    pub fn extract(&mut self, name: &str, out: &mut dyn Write) -> Result<u64, IneError> {
        let id = self.stream_id(name)?;
        let mut pieces: Vec<(u64, u64, u64)> = self
            .chunks
            .iter()
            .filter_map(|c| match c.slot {
                Slot::Data { stream, offset, .. } if stream == id => Some((offset, c.pos, c.size)),
                _ => None,
            })
            .collect();
        pieces.sort_unstable();
        let mut buf = vec![0u8; MAX_CHUNK];
        let mut written = 0;
        for (_, pos, size) in pieces {
            let bytes = &mut buf[..size as usize];
            self.file.seek(SeekFrom::Start(pos))?;
            self.file.read_exact(bytes)?;
            let chunk = parse_chunk(bytes).map_err(|error| IneError::BadChunk {
                position: pos,
                error,
            })?;
            let (_, data) = chunk.continuation().map_err(|error| IneError::BadChunk {
                position: pos,
                error,
            })?;
            out.write_all(data)?;
            written += data.len() as u64;
        }
        Ok(written)
    }

    /// Adds a virtual file `name` with the content of `content`, filling unused space first
    /// and then growing the container.
    pub fn add(&mut self, name: &str, content: &mut dyn Read) -> Result<StreamInfo, IneError> {
        self.check_new_name(name)?;
        let id = match self.streams.keys().next_back() {
            None => 0,
            Some(&last) if last < MAX_STREAM_ID => last + 1,
            Some(_) => return Err(IneError::Full),
        };
        let mut buf = vec![0u8; MAX_CHUNK];

        let at = self.allocate(START_CHUNK);
        let size = write_stream_start(&mut buf, id, name.as_bytes())
            .map_err(|_| IneError::BadName(name.to_string()))?;
        let at_pos = self.place(at, &buf[..size], Slot::Start { stream: id })?;

        let size = match self.write_data(id, 0, content) {
            Ok(size) => size,
            Err(e) => {
                // Nothing of a file that could not be read stays behind.
                self.release_at(&[at_pos])?;
                return Err(e);
            }
        };
        self.file.flush()?;
        let info = StreamInfo {
            id,
            name: name.to_string(),
            size,
        };
        self.streams.insert(id, info.clone());
        Ok(info)
    }

    /// Removes the virtual file `name`: its chunks become fill chunks in place, adjacent fills
    /// of equal size merge, and fills at the end of the file are cut off.
    pub fn remove(&mut self, name: &str) -> Result<(), IneError> {
        let id = self.stream_id(name)?;
        let mut buf = vec![0u8; MAX_CHUNK];
        for index in 0..self.chunks.len() {
            let Placed { pos, size, slot } = self.chunks[index];
            let owned =
                matches!(slot, Slot::Start { stream } | Slot::Data { stream, .. } if stream == id);
            if owned {
                write_fill(&mut buf, size as usize)
                    .map_err(|_| IneError::Inconsistent("fill size".into()))?;
                self.write_bytes(pos, &buf[..size as usize])?;
                self.chunks[index].slot = Slot::Fill;
            }
        }
        self.streams.remove(&id);
        self.tidy()
    }

    /// Refuses a name a new or renamed stream cannot take: empty, over 119 bytes, with a nul
    /// byte, or already used.
    pub(super) fn check_new_name(&self, name: &str) -> Result<(), IneError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.contains('\0') {
            return Err(IneError::BadName(name.to_string()));
        }
        if self.streams.values().any(|s| s.name == name) {
            return Err(IneError::StreamExists(name.to_string()));
        }
        Ok(())
    }

    /// Writes `content` as continuations of stream `id` from stream offset `offset` on, into
    /// fill chunks first and then at the end of the file. Returns the stream offset after the
    /// last byte, with the file tidied. If `content` fails to read, the chunks written so far become fill again, so
    /// the stream is as it was.
    pub(super) fn write_data(
        &mut self,
        id: u32,
        offset: u64,
        content: &mut dyn Read,
    ) -> Result<u64, IneError> {
        let mut written = Vec::new();
        match self.write_data_inner(id, offset, content, &mut written) {
            Ok(end) => {
                // Splitting fills may have left equal fills side by side.
                self.tidy()?;
                Ok(end)
            }
            Err(e) => {
                self.release_at(&written)?;
                Err(e)
            }
        }
    }

    fn write_data_inner(
        &mut self,
        id: u32,
        mut offset: u64,
        content: &mut dyn Read,
        written: &mut Vec<u64>,
    ) -> Result<u64, IneError> {
        let mut buf = vec![0u8; MAX_CHUNK];
        let mut data = vec![0u8; MAX_CHUNK - CONT_DATA_OFFSET];
        loop {
            // The slot decides how much data this chunk carries: a hole's capacity, or a whole
            // 4 KiB chunk at the end of the file.
            let hole = self.first_fill(MIN_CHUNK as u64);
            let capacity =
                hole.map_or(MAX_CHUNK as u64, |i| self.chunks[i].size) as usize - CONT_DATA_OFFSET;
            let n = read_up_to(content, &mut data[..capacity])?;
            if n == 0 {
                break;
            }
            if offset + n as u64 > MAX_STREAM_BYTES {
                return Err(IneError::Full);
            }
            let header = ContinuationHeader {
                stream_id: id,
                eof: false,
                offset,
            };
            let size = write_continuation(&mut buf, header, &data[..n])
                .map_err(|_| IneError::Inconsistent("continuation does not fit".into()))?;
            let at = self.allocate(size as u64);
            let pos = self.place(
                at,
                &buf[..size],
                Slot::Data {
                    stream: id,
                    offset,
                    len: n as u32,
                },
            )?;
            written.push(pos);
            offset += n as u64;
        }
        Ok(offset)
    }

    /// Turns the chunks at positions `positions` into fill chunks, then tidies the file.
    pub(super) fn release_at(&mut self, positions: &[u64]) -> Result<(), IneError> {
        let mut buf = vec![0u8; MAX_CHUNK];
        for &pos in positions {
            let index = self
                .chunks
                .binary_search_by_key(&pos, |c| c.pos)
                .map_err(|_| IneError::Inconsistent(format!("no chunk at byte {pos}")))?;
            let size = self.chunks[index].size;
            write_fill(&mut buf, size as usize)
                .map_err(|_| IneError::Inconsistent("fill size".into()))?;
            self.write_bytes(pos, &buf[..size as usize])?;
            self.chunks[index].slot = Slot::Fill;
        }
        self.tidy()
    }

    /// Merges adjacent fills, cuts fills off the end of the file, and flushes.
    pub(super) fn tidy(&mut self) -> Result<(), IneError> {
        self.merge_fills()?;
        while self.chunks.last().is_some_and(|c| c.slot == Slot::Fill) {
            self.chunks.pop();
        }
        let end = self.chunks.last().map_or(0, |c| c.pos + c.size);
        self.file.truncate(end)?;
        self.file.flush()?;
        Ok(())
    }

    /// The first fill chunk (in file order) of at least `min` bytes.
    fn first_fill(&self, min: u64) -> Option<usize> {
        self.chunks
            .iter()
            .position(|c| c.slot == Slot::Fill && c.size >= min)
    }

    /// Where a chunk of `size` bytes goes: the chunk index of a fill chunk to take (split if
    /// larger), or `None` to append.
    pub(super) fn allocate(&self, size: u64) -> Option<usize> {
        self.first_fill(size)
    }

    /// Writes `bytes` (one chunk) into the chunk `at` — a fill chunk, or a chunk rewritten in
    /// place no larger than it was — or at the end of the file; the rest of a larger chunk
    /// becomes fill chunks. Returns the chunk's position.
    pub(super) fn place(
        &mut self,
        at: Option<usize>,
        bytes: &[u8],
        slot: Slot,
    ) -> Result<u64, IneError> {
        let size = bytes.len() as u64;
        match at {
            None => {
                let pos = self.chunks.last().map_or(0, |c| c.pos + c.size);
                self.write_bytes(pos, bytes)?;
                self.chunks.push(Placed { pos, size, slot });
                Ok(pos)
            }
            Some(index) => {
                let hole = self.chunks[index];
                self.write_bytes(hole.pos, bytes)?;
                let mut replacement = vec![Placed {
                    pos: hole.pos,
                    size,
                    slot,
                }];
                if hole.size > size {
                    // The rest of the hole becomes fill chunks, largest first.
                    let rest = (hole.size - size) as usize;
                    let mut fills = vec![0u8; rest];
                    write_fills(&mut fills).map_err(|_| IneError::Inconsistent("split".into()))?;
                    self.write_bytes(hole.pos + size, &fills)?;
                    let mut pos = hole.pos + size;
                    let mut left = rest as u64;
                    while left > 0 {
                        let piece = largest_chunk_within(left);
                        replacement.push(Placed {
                            pos,
                            size: piece,
                            slot: Slot::Fill,
                        });
                        pos += piece;
                        left -= piece;
                    }
                }
                self.chunks.splice(index..=index, replacement);
                Ok(hole.pos)
            }
        }
    }

    /// Merges adjacent fill chunks of equal size (below 4 KiB) into one of twice the size,
    /// until no pair is left.
    fn merge_fills(&mut self) -> Result<(), IneError> {
        let mut buf = [0u8; 4];
        loop {
            let pair = self.chunks.windows(2).position(|w| {
                w[0].slot == Slot::Fill
                    && w[1].slot == Slot::Fill
                    && w[0].size == w[1].size
                    && w[0].size < MAX_CHUNK as u64
            });
            let Some(i) = pair else { return Ok(()) };
            let merged = self.chunks[i].size * 2;
            // Only the header word changes: the merged chunk's payload is the old bytes, and a
            // fill chunk's payload and CRC mean nothing.
            let exp = exp_for_len(merged as usize).unwrap_or(7);
            let word = (ChunkType::Fill as u16) | (u16::from(exp) << 2);
            buf[..2].copy_from_slice(&word.to_le_bytes());
            self.write_bytes(self.chunks[i].pos, &buf[..2])?;
            self.chunks[i].size = merged;
            self.chunks.remove(i + 1);
        }
    }

    pub(super) fn write_bytes(&mut self, pos: u64, bytes: &[u8]) -> Result<(), IneError> {
        self.file.seek(SeekFrom::Start(pos))?;
        self.file.write_all(bytes)?;
        Ok(())
    }
}

/// The largest chunk size not over `bytes` (which is a multiple of 32).
fn largest_chunk_within(bytes: u64) -> u64 {
    let mut size = MAX_CHUNK as u64;
    while size > bytes {
        size /= 2;
    }
    size
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(super) fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Builds the stream table: every continuation belongs to a started stream, each stream's
/// pieces cover `0..size` exactly once, and names are unique.
fn assemble_streams(
    chunks: &[Placed],
    starts: BTreeMap<u32, String>,
) -> Result<BTreeMap<u32, StreamInfo>, IneError> {
    let mut pieces: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for chunk in chunks {
        if let Slot::Data {
            stream,
            offset,
            len,
        } = chunk.slot
        {
            if !starts.contains_key(&stream) {
                return Err(IneError::Inconsistent(format!(
                    "data for stream {stream} at byte {} has no stream start",
                    chunk.pos
                )));
            }
            pieces
                .entry(stream)
                .or_default()
                .push((offset, u64::from(len)));
        }
    }
    let mut streams = BTreeMap::new();
    let mut names = std::collections::BTreeSet::new();
    for (id, name) in starts {
        if !names.insert(name.clone()) {
            return Err(IneError::Inconsistent(format!(
                "two streams named {name:?}"
            )));
        }
        let mut list = pieces.remove(&id).unwrap_or_default();
        list.sort_unstable();
        let mut end = 0u64;
        for (offset, len) in list {
            if offset != end {
                return Err(IneError::Inconsistent(format!(
                    "stream {name:?} has a {} at byte {offset}",
                    if offset > end { "gap" } else { "overlap" }
                )));
            }
            end += len;
        }
        streams.insert(
            id,
            StreamInfo {
                id,
                name,
                size: end,
            },
        );
    }
    Ok(streams)
}
