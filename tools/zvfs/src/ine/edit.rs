//! Edits of an existing virtual file: rename, append, truncate and overwrite at an offset.
//!
//! Every edit keeps the container in the layout the reference implementation reads: a rename
//! rewrites the 128-byte stream start chunk in place (keeping its EOF flag); appended data goes into continuation
//! chunks after the stream's end, in fill chunks first (the container's allocator); a shrink
//! turns the chunks past the new end into fill chunks in place and rewrites a chunk that
//! straddles the end shorter, the freed bytes becoming fill; an overwrite rewrites each touched
//! continuation in place with the same data length, so it keeps its size and position.
//! Afterwards adjacent fills merge and fills at the end of the file are cut off.
//!
//! Arguments are checked before the first byte is written: a bad name, a missing stream or an
//! offset past the 48-bit limit change nothing.

use std::io::{self, Read, SeekFrom};

use storage_backend::chunk::crc::chunk_crc;
use storage_backend::chunk::{
    ChunkType, MAX_CHUNK, exp_for_len, parse_chunk, write_continuation, write_stream_start,
};

use super::container::{Container, MAX_STREAM_BYTES, Medium, START_CHUNK, Slot, read_up_to};
use super::error::IneError;

impl<F: Medium> Container<F> {
    /// Renames the virtual file `old` to `new` (which must be a valid, unused name) by
    /// rewriting its stream start chunk in place.
    pub fn rename(&mut self, old: &str, new: &str) -> Result<(), IneError> {
        let id = self.stream_id(old)?;
        self.check_new_name(new)?;
        let pos = self
            .chunks
            .iter()
            .find(|c| c.slot == Slot::Start { stream: id })
            .map(|c| c.pos)
            .ok_or_else(|| IneError::Inconsistent(format!("stream {old:?} has no start")))?;
        let mut buf = vec![0u8; MAX_CHUNK];
        let old_chunk = &mut buf[..START_CHUNK as usize];
        self.file.seek(SeekFrom::Start(pos))?;
        self.file.read_exact(old_chunk)?;
        let bad = |error| IneError::BadChunk {
            position: pos,
            error,
        };
        let (_, eof, _) = parse_chunk(old_chunk)
            .and_then(|c| c.stream_start())
            .map_err(bad)?;
        let size = write_stream_start(&mut buf, id, new.as_bytes())
            .map_err(|_| IneError::BadName(new.to_string()))?;
        if eof {
            // The codec writes the EOF flag clear; a container that set it keeps it.
            buf[7] |= 0x80;
            let word = u16::from_le_bytes([buf[0], buf[1]]);
            let crc = chunk_crc(word, &buf[4..size]);
            buf[2..4].copy_from_slice(&crc.to_le_bytes());
        }
        self.write_bytes(pos, &buf[..size])?;
        self.file.flush()?;
        if let Some(info) = self.streams.get_mut(&id) {
            info.name = new.to_string();
        }
        Ok(())
    }

    /// Appends `content` to the virtual file `name`; returns its new size. If `content`
    /// fails to read, the file is left as it was.
    pub fn append(&mut self, name: &str, content: &mut dyn Read) -> Result<u64, IneError> {
        let id = self.stream_id(name)?;
        let end = self.size_of(id);
        let new_end = self.write_data(id, end, content)?;
        self.file.flush()?;
        self.set_size(id, new_end);
        Ok(new_end)
    }

    /// Sets the size of the virtual file `name`: a shrink frees the chunks past the end (a
    /// chunk straddling the end is rewritten shorter), a grow appends zeros.
    pub fn truncate(&mut self, name: &str, size: u64) -> Result<(), IneError> {
        let id = self.stream_id(name)?;
        let current = self.size_of(id);
        if size > MAX_STREAM_BYTES {
            return Err(IneError::Full);
        }
        if size > current {
            let end = self.write_data(id, current, &mut io::repeat(0).take(size - current))?;
            self.file.flush()?;
            self.set_size(id, end);
            return Ok(());
        }
        if size == current {
            return Ok(());
        }
        // Chunks wholly past the end become fill; at most one chunk straddles the end.
        let mut freed = Vec::new();
        let mut straddle = None;
        for c in &self.chunks {
            if let Slot::Data {
                stream,
                offset,
                len,
            } = c.slot
                && stream == id
            {
                if offset >= size {
                    freed.push(c.pos);
                } else if offset + u64::from(len) > size {
                    straddle = Some((c.pos, size - offset));
                }
            }
        }
        // Chunks past the end go first: should the edit stop half-way, the stream still
        // covers its bytes without a gap (only longer than asked).
        self.release_at(&freed)?;
        if let Some((pos, keep)) = straddle {
            self.rewrite(pos, |data| {
                usize::try_from(keep).map_or(data.len(), |k| k.min(data.len()))
            })?;
            // The freed tail of the rewritten chunk merges with its neighbours.
            self.tidy()?;
        }
        self.set_size(id, size);
        Ok(())
    }

    /// Writes `content` into the virtual file `name` from byte `offset` on: bytes inside the
    /// file are overwritten in place, the rest is appended (a gap between the end of the file
    /// and `offset` is filled with zeros). Returns the number of bytes of `content` written.
    pub fn write_at(
        &mut self,
        name: &str,
        offset: u64,
        content: &mut dyn Read,
    ) -> Result<u64, IneError> {
        let id = self.stream_id(name)?;
        if offset > MAX_STREAM_BYTES {
            return Err(IneError::Full);
        }
        let old_size = self.size_of(id);
        let mut size = old_size;
        if offset > size {
            size = self.write_data(id, size, &mut io::repeat(0).take(offset - size))?;
            self.set_size(id, size);
        }
        // The pieces the write reaches into, in stream order (metadata only).
        let mut pieces: Vec<(u64, u64, u64)> = self
            .chunks
            .iter()
            .filter_map(|c| match c.slot {
                Slot::Data {
                    stream,
                    offset: at,
                    len,
                } if stream == id && len > 0 && at + u64::from(len) > offset => {
                    Some((at, u64::from(len), c.pos))
                }
                _ => None,
            })
            .collect();
        pieces.sort_unstable();
        let mut cursor = offset;
        let mut input = vec![0u8; MAX_CHUNK];
        for (at, len, pos) in pieces {
            let skip = (cursor - at) as usize;
            let want = (len - (cursor - at)) as usize;
            let got = read_up_to(content, &mut input[..want])?;
            if got == 0 {
                break;
            }
            self.rewrite(pos, |data| {
                data[skip..skip + got].copy_from_slice(&input[..got]);
                data.len()
            })?;
            cursor += got as u64;
            if got < want {
                // A padded chunk rewritten smaller may have left fills to merge.
                self.tidy()?;
                return Ok(cursor - offset);
            }
        }
        let end = match self.write_data(id, cursor, content) {
            Ok(end) => end,
            Err(e) => {
                // Past the old end nothing was overwritten: the zero gap is taken back too,
                // so a write past the end that fails leaves the file as it was.
                if offset >= old_size && size > old_size {
                    self.truncate(name, old_size)?;
                }
                return Err(e);
            }
        };
        self.file.flush()?;
        if end > size {
            self.set_size(id, end);
        }
        Ok(end - offset)
    }

    /// Rereads the continuation at `pos` (checking its CRC), lets `edit` change its data and
    /// say how many bytes to keep, and writes it back in place; a chunk that became smaller
    /// leaves its freed bytes as fill.
    fn rewrite(&mut self, pos: u64, edit: impl FnOnce(&mut [u8]) -> usize) -> Result<(), IneError> {
        let index = self
            .chunks
            .binary_search_by_key(&pos, |c| c.pos)
            .map_err(|_| IneError::Inconsistent(format!("no chunk at byte {pos}")))?;
        let old = self.chunks[index];
        let mut buf = vec![0u8; MAX_CHUNK];
        let bytes = &mut buf[..old.size as usize];
        self.file.seek(SeekFrom::Start(pos))?;
        self.file.read_exact(bytes)?;
        let bad = |error| IneError::BadChunk {
            position: pos,
            error,
        };
        let chunk = parse_chunk(bytes).map_err(bad)?;
        let (header, data) = chunk.continuation().map_err(bad)?;
        let mut data = data.to_vec();
        let keep = edit(&mut data);
        let mut out = vec![0u8; MAX_CHUNK];
        let size = write_continuation(&mut out, header, &data[..keep])
            .map_err(|_| IneError::Inconsistent("continuation does not fit".into()))?;
        let slot = Slot::Data {
            stream: header.stream_id,
            offset: header.offset,
            len: keep as u32,
        };
        if keep == data.len() && (size as u64) < old.size {
            // The same data length in a chunk its writer padded: keep the chunk's size (more
            // invalid trailing bytes), so an overwrite moves nothing.
            let grown = old.size as usize;
            let valid = size - 4 - usize::from(u16::from_le_bytes([out[0], out[1]]) >> 5);
            let exp = exp_for_len(grown).unwrap_or(7);
            let word = (ChunkType::Continuation as u16)
                | (u16::from(exp) << 2)
                | (((grown - 4 - valid) as u16) << 5);
            out[0..2].copy_from_slice(&word.to_le_bytes());
            let crc = chunk_crc(word, &out[4..4 + valid]);
            out[2..4].copy_from_slice(&crc.to_le_bytes());
            self.write_bytes(pos, &out[..grown])?;
            self.chunks[index].slot = slot;
        } else if size as u64 == old.size {
            self.write_bytes(pos, &out[..size])?;
            self.chunks[index].slot = slot;
        } else {
            // A shorter chunk (truncate): the freed bytes become fill.
            self.place(Some(index), &out[..size], slot)?;
        }
        Ok(())
    }

    fn size_of(&self, id: u32) -> u64 {
        self.streams.get(&id).map_or(0, |s| s.size)
    }

    fn set_size(&mut self, id: u32, size: u64) {
        if let Some(info) = self.streams.get_mut(&id) {
            info.size = size;
        }
    }
}
