//! The chunk CRC of the inecontainer format, as real containers compute it.
//!
//! It is the plain (non-augmented) remainder of the chunk's valid bytes divided by
//! P = x^16 + x^15 + x^2 + 1 (0x8005). The register starts as the chunk's first two bytes read as a
//! little-endian u16; each later valid byte `b` is shifted in as
//! `r = ((r << 8) | b) ^ T[r >> 8]` where `T[i] = i·x^16 mod P`. It is not a catalogued CRC-16,
//! so the `crc` crate's catalogue cannot produce it; the tables are built at compile time.
//!
//! Speed: every sealed chunk read from the medium is checked (a 4-KiB index page on nearly every
//! point read of a large store), so [`update`] shifts in 16 bytes per step ("slicing by 16"):
//! in polynomial terms one step is `r' = (r·x^128 + B) mod P` for the 16-byte block `B`, and
//! each byte's contribution `b·x^(8j) mod P` comes from its own table, so the 16 lookups are
//! independent instead of a chain of 16 dependent ones. The result is bit-exact with the
//! byte-wise rule above (tested against long division on random inputs and the spec's vectors).

/// The generator polynomial without its x^16 term.
pub const POLY: u16 = 0x8005;

/// Bytes shifted in per step of the sliced loop.
const SLICE: usize = 16;

/// `TABLES[k][i] = i·x^(16 + 8k) mod P`.
const TABLES: [[u16; 256]; SLICE] = build_tables();

/// `T[i] = i·x^16 mod P` (the byte-wise table, `TABLES[0]`).
pub const TABLE: [u16; 256] = TABLES[0];

const fn build_tables() -> [[u16; 256]; SLICE] {
    let mut t = [[0u16; 256]; SLICE];
    let mut i = 0;
    while i < 256 {
        // i·x^16 mod P: shift the 8 bits of i through the 16-bit register MSB first.
        let mut r: u16 = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000 != 0 {
                (r << 1) ^ POLY
            } else {
                r << 1
            };
            bit += 1;
        }
        t[0][i] = r;
        i += 1;
    }
    // Each further table is the previous one times x^8: shift a zero byte in.
    let mut k = 1;
    while k < SLICE {
        let mut i = 0;
        while i < 256 {
            let v = t[k - 1][i];
            t[k][i] = (v << 8) ^ t[0][(v >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// Shifts `bytes` into the register `r` one at a time (the definition; also the tail of
/// [`update`]).
pub fn update_bytewise(mut r: u16, bytes: &[u8]) -> u16 {
    for &b in bytes {
        r = ((r << 8) | u16::from(b)) ^ TABLE[usize::from(r >> 8)];
    }
    r
}

/// Shifts `bytes` into the register `r`.
pub fn update(mut r: u16, bytes: &[u8]) -> u16 {
    let mut blocks = bytes.chunks_exact(SLICE);
    for b in &mut blocks {
        // r·x^128: its high byte lands at x^(16+8·15), its low byte at x^(16+8·14); byte j of
        // the block at x^(8·(15-j)), of which the last two need no reduction.
        let mut x = TABLES[15][usize::from(r >> 8)] ^ TABLES[14][usize::from(r & 0xFF)];
        for (j, &byte) in b[..SLICE - 2].iter().enumerate() {
            x ^= TABLES[SLICE - 3 - j][usize::from(byte)];
        }
        r = x ^ (u16::from(b[SLICE - 2]) << 8 | u16::from(b[SLICE - 1]));
    }
    update_bytewise(r, blocks.remainder())
}

/// The CRC of a chunk: `header_word` is the u16 at offset 0, `valid` the valid bytes from chunk
/// offset 4 on.
pub fn chunk_crc(header_word: u16, valid: &[u8]) -> u16 {
    update(header_word, valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Bit-by-bit long division, MSB first, of the seeded message (the reference).
    fn by_division(word: u16, valid: &[u8]) -> u16 {
        let mut r: u32 = 0;
        let seeded = [(word >> 8) as u8, word as u8];
        for &b in seeded.iter().chain(valid) {
            for i in (0..8).rev() {
                r = (r << 1) | u32::from((b >> i) & 1);
                if r & 0x1_0000 != 0 {
                    r ^= 0x1_8005;
                }
            }
        }
        r as u16
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sliced_equals_long_division_on_random_inputs() {
        let mut s = 0x243F_6A88_85A3_08D3u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for round in 0..600 {
            // Every length up to 70 (all remainders around the 16-byte step), then long ones.
            let len = if round < 71 {
                round
            } else {
                (next() % 4200) as usize
            };
            let msg: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let word = next() as u16;
            let want = by_division(word, &msg);
            assert_eq!(update(word, &msg), want, "len {len}");
            assert_eq!(update_bytewise(word, &msg), want, "len {len}");
            // Split anywhere: the register carries over between calls.
            let cut = if len == 0 { 0 } else { (next() as usize) % len };
            assert_eq!(update(update(word, &msg[..cut]), &msg[cut..]), want);
        }
    }

    #[test]
    fn spec_vectors() {
        // The chunks of the spec-derived container of `tests/chunk_codec.rs` (header word, valid
        // bytes from offset 4, CRC field).
        let mut stream_start = hex("00000000612e747874");
        stream_start.resize(124, 0);
        let cases = [
            (0x0280, hex("010000005a65726f"), 0xFF38),
            (0x0009, stream_start, 0x26C5),
            (0x0202, hex("000000800000000000006869"), 0x4A15),
        ];
        for (word, valid, crc) in cases {
            assert_eq!(chunk_crc(word, &valid), crc);
            assert_eq!(by_division(word, &valid), crc);
        }
        assert_eq!((TABLE[1], TABLE[2], TABLE[255]), (0x8005, 0x800F, 0x0202));
    }
}
