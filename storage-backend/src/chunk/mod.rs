//! The inecontainer chunk format, bit-exact with the reference implementation (see the spec
//! README's "Notes on exactness" and `FORMAT.md`).
//!
//! Every record this crate writes to a medium is a chunk; its CRC catches torn and rotted writes.

pub mod codec;
pub mod crc;

pub use codec::{
    CONT_DATA_OFFSET, Chunk, ChunkError, ChunkType, ContinuationHeader, HeaderWord, MAX_CHUNK,
    MIN_CHUNK, exp_for_len, merge_fills, parse_chunk, write_continuation, write_file_header,
    write_fill, write_fills, write_stream_start,
};
