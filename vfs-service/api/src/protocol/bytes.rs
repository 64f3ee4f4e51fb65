//! `Vec<u8>` fields as one byte string on the wire (`#[serde(with = "bytes")]`).
//!
//! serde serialises a `Vec<u8>` as a sequence of `u8`, element by element: in postcard that is
//! the length as a varint, then each byte, written and read one at a time through the
//! serializer (about 11 instructions a byte each way on rv64, 45,000 per 4 KiB message, in the
//! QEMU profile). As a byte string postcard writes exactly the same bytes — the varint length,
//! then the bytes — in one copy. The wire does not change; only the work does, which the
//! byte-for-byte examples of PROTOCOL.md check.

use alloc::vec::Vec;
use core::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Serialises `bytes` as one byte string.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

/// Deserialises a byte string (or, from a self-describing format, a sequence of bytes).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(ByteBuf)
}

struct ByteBuf;

impl<'de> Visitor<'de> for ByteBuf {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // Capped: a length claimed by the input is not an allocation size.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element()? {
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct AsSeq {
        a: u8,
        data: Vec<u8>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct AsBytes {
        a: u8,
        #[serde(with = "super")]
        data: Vec<u8>,
    }

    #[test]
    fn the_wire_is_the_same_as_a_sequence_of_bytes() {
        for len in [0usize, 1, 127, 128, 3968, 5000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let seq = postcard::to_allocvec(&AsSeq {
                a: 7,
                data: data.clone(),
            })
            .unwrap();
            let bytes = postcard::to_allocvec(&AsBytes {
                a: 7,
                data: data.clone(),
            })
            .unwrap();
            assert_eq!(seq, bytes, "len {len}");
            let back: AsBytes = postcard::from_bytes(&seq).unwrap();
            assert_eq!(back.data, data);
        }
    }

    #[test]
    fn a_length_past_the_input_is_an_error() {
        // Length 5, three bytes.
        let input = vec![7u8, 5, 1, 2, 3];
        assert!(postcard::from_bytes::<AsBytes>(&input).is_err());
    }
}
