//! The chunk CRC of the inecontainer format, as real containers compute it.
//!
//! It is the plain (non-augmented) remainder of the chunk's valid bytes divided by
//! P = x^16 + x^15 + x^2 + 1 (0x8005). The register starts as the chunk's first two bytes read as a
//! little-endian u16; each later valid byte `b` is shifted in as
//! `r = ((r << 8) | b) ^ T[r >> 8]` where `T[i] = i·x^16 mod P`. It is not a catalogued CRC-16,
//! so the `crc` crate's catalogue cannot produce it; the table is built at compile time.

/// The generator polynomial without its x^16 term.
pub const POLY: u16 = 0x8005;

/// `T[i] = i·x^16 mod P`.
pub const TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut t = [0u16; 256];
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
        t[i] = r;
        i += 1;
    }
    t
}

/// Shifts `bytes` into the register `r`.
pub fn update(mut r: u16, bytes: &[u8]) -> u16 {
    for &b in bytes {
        r = ((r << 8) | u16::from(b)) ^ TABLE[usize::from(r >> 8)];
    }
    r
}

/// The CRC of a chunk: `header_word` is the u16 at offset 0, `valid` the valid bytes from chunk
/// offset 4 on.
pub fn chunk_crc(header_word: u16, valid: &[u8]) -> u16 {
    update(header_word, valid)
}
