//! The byte layout of index pages and the bounds-checked accessors every other part of the tree
//! uses to read them.
//!
//! A page is the plaintext of one chunk (`PageFormat::plaintext` bytes, e.g. 994 or 4,066), and
//! the cache keeps pages in exactly this encoding, so a flush writes the cached bytes as they are
//! and a read needs no conversion. All integers are little-endian.
//!
//! ```text
//! header  u8 kind = 0x10, u8 level (0 = leaf), u16 n, u64 ckpt_gen
//! fence   u8 ns, u8 len, key[len]             lowest key the page may hold
//! leaf entry      u8 ns, u8 len, key[len], u8 vtype, value
//!     LOC    (1)  u32 seg, u32 off, u64 seq, u32 disk_len, u32 vlen      24 B
//!     INLINE (2)  u8 len, bytes[len]  (len <= max_inline)
//!     EXTENT (3)  u32 seg, u32 off, u64 seq, u32 first_piece, u16 blocks, u16 last_len   24 B
//! internal entry  u8 ns, u8 len, sep[len], u32 seg, u32 off, u64 seq      (child pointer)
//! zero padding up to the page size
//! ```
//!
//! Entry 0 of an internal page stores the empty separator `(0, "")`: its real lower bound is
//! the page's fence. Every accessor returns [`PageError`] instead of reading past the end.

use core::cmp::Ordering;

use super::error::PageError;
use super::{Key, PagePtr, Value};

/// The `kind` byte of an index page.
pub const PAGE_KIND: u8 = 0x10;
/// Bytes of the fixed header (kind, level, n, ckpt_gen).
pub const HEADER: usize = 12;
/// Longest user key.
pub const MAX_KEY: usize = 255;
/// Longest encoded key field (ns, len, key).
pub const MAX_KEY_FIELD: usize = 2 + MAX_KEY;
/// Bytes of an encoded child pointer.
pub const PTR_LEN: usize = 16;
/// Longest internal entry (separator field + child pointer).
pub const MAX_SEP_ENTRY: usize = MAX_KEY_FIELD + PTR_LEN;
/// Value type: location of a PUT record.
pub const VT_LOC: u8 = 1;
/// Value type: bytes stored in the leaf.
pub const VT_INLINE: u8 = 2;
/// Value type: an extent of a data run.
pub const VT_EXTENT: u8 = 3;
/// Bytes of a LOC or EXTENT value.
pub const FIXED_VALUE: usize = 24;
/// Largest supported page plaintext (entry offsets of two pages must fit in `u16`).
pub const MAX_PLAINTEXT: usize = 16_384;

/// The page size of a tree, fixed at format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFormat {
    plaintext: usize,
    max_inline: usize,
}

impl PageFormat {
    /// Pages of the small profile: one 1,024-byte chunk, 994 bytes of plaintext.
    pub const SMALL: PageFormat = PageFormat {
        plaintext: 994,
        max_inline: 48,
    };
    /// Pages of the large profile: one 4,096-byte chunk, 4,066 bytes of plaintext.
    pub const LARGE: PageFormat = PageFormat {
        plaintext: 4066,
        max_inline: 255,
    };

    /// A page format for `plaintext` bytes per page. Inline values may hold up to 48 bytes
    /// below 2,048-byte pages, 255 above. Refused unless any two of the largest entries plus a
    /// largest fence fit in one page: then every overflowing page splits into two that fit.
    pub fn new(plaintext: usize) -> Option<PageFormat> {
        let max_inline = if plaintext >= 2048 { 255 } else { 48 };
        let f = PageFormat {
            plaintext,
            max_inline,
        };
        let worst = f.max_leaf_entry().max(MAX_SEP_ENTRY);
        (plaintext <= MAX_PLAINTEXT && 2 * worst <= f.capacity()).then_some(f)
    }

    /// Bytes of plaintext per page.
    pub fn plaintext(&self) -> usize {
        self.plaintext
    }

    /// Longest inline value.
    pub fn max_inline(&self) -> usize {
        self.max_inline
    }

    /// Entry bytes a page holds whatever its fence: the page minus header and longest fence.
    pub fn capacity(&self) -> usize {
        self.plaintext - HEADER - MAX_KEY_FIELD
    }

    /// Longest leaf entry (longest key, longest inline value).
    pub fn max_leaf_entry(&self) -> usize {
        MAX_KEY_FIELD + 2 + self.max_inline.max(FIXED_VALUE - 1)
    }

    /// A non-root page whose entry bytes fall below this is merged or redistributed.
    pub fn underfull(&self) -> usize {
        self.capacity() / 4
    }
}

#[inline]
fn rd_u16(b: &[u8], at: usize) -> Result<u16, PageError> {
    let s = b.get(at..at + 2).ok_or(PageError::Truncated)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

#[inline]
fn rd_u32(b: &[u8], at: usize) -> Result<u32, PageError> {
    let s = b.get(at..at + 4).ok_or(PageError::Truncated)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
fn rd_u64(b: &[u8], at: usize) -> Result<u64, PageError> {
    let s = b.get(at..at + 8).ok_or(PageError::Truncated)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

#[inline]
fn byte(b: &[u8], at: usize) -> Result<u8, PageError> {
    b.get(at).copied().ok_or(PageError::Truncated)
}

/// Level (0 = leaf).
#[inline]
pub fn level(b: &[u8]) -> Result<u8, PageError> {
    byte(b, 1)
}

/// Number of entries.
#[inline]
pub fn count(b: &[u8]) -> Result<usize, PageError> {
    Ok(usize::from(rd_u16(b, 2)?))
}

/// Checkpoint generation that wrote the page.
pub fn generation(b: &[u8]) -> Result<u64, PageError> {
    rd_u64(b, 4)
}

/// Writes the header fields.
pub fn set_header(b: &mut [u8], level: u8, n: usize, ckpt: u64) -> Result<(), PageError> {
    let n = u16::try_from(n).map_err(|_| PageError::Count)?;
    let h = b.get_mut(..HEADER).ok_or(PageError::Truncated)?;
    h[0] = PAGE_KIND;
    h[1] = level;
    h[2..4].copy_from_slice(&n.to_le_bytes());
    h[4..12].copy_from_slice(&ckpt.to_le_bytes());
    Ok(())
}

/// Sets the entry count.
pub fn set_count(b: &mut [u8], n: usize) -> Result<(), PageError> {
    let n = u16::try_from(n).map_err(|_| PageError::Count)?;
    b.get_mut(2..4)
        .ok_or(PageError::Truncated)?
        .copy_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Sets the checkpoint generation.
pub fn set_generation(b: &mut [u8], ckpt: u64) -> Result<(), PageError> {
    b.get_mut(4..12)
        .ok_or(PageError::Truncated)?
        .copy_from_slice(&ckpt.to_le_bytes());
    Ok(())
}

/// The key field at `at`: the key and the offset just after it.
#[inline]
pub fn key_at(b: &[u8], at: usize) -> Result<(Key<'_>, usize), PageError> {
    let ns = byte(b, at)?;
    let len = usize::from(byte(b, at + 1)?);
    let key = b.get(at + 2..at + 2 + len).ok_or(PageError::Truncated)?;
    Ok((Key { ns, key }, at + 2 + len))
}

/// Writes a key field at `at`, returns the offset after it.
pub fn put_key(b: &mut [u8], at: usize, k: Key<'_>) -> Result<usize, PageError> {
    let len = u8::try_from(k.key.len()).map_err(|_| PageError::Truncated)?;
    let end = at + 2 + k.key.len();
    let d = b.get_mut(at..end).ok_or(PageError::Truncated)?;
    d[0] = k.ns;
    d[1] = len;
    d[2..].copy_from_slice(k.key);
    Ok(end)
}

/// The fence key and the offset of entry 0.
#[inline]
pub fn fence(b: &[u8]) -> Result<(Key<'_>, usize), PageError> {
    key_at(b, HEADER)
}

/// The value at `at` (its vtype byte): the value and the offset after it.
#[inline]
pub fn value_at(b: &[u8], at: usize, max_inline: usize) -> Result<(Value, usize), PageError> {
    let vt = byte(b, at)?;
    let v = at + 1;
    match vt {
        VT_LOC => Ok((
            Value::Loc {
                seg: rd_u32(b, v)?,
                off: rd_u32(b, v + 4)?,
                seq: rd_u64(b, v + 8)?,
                disk_len: rd_u32(b, v + 16)?,
                vlen: rd_u32(b, v + 20)?,
            },
            v + FIXED_VALUE,
        )),
        VT_EXTENT => Ok((
            Value::Extent {
                seg: rd_u32(b, v)?,
                off: rd_u32(b, v + 4)?,
                seq: rd_u64(b, v + 8)?,
                first_piece: rd_u32(b, v + 16)?,
                blocks: rd_u16(b, v + 20)?,
                last_len: rd_u16(b, v + 22)?,
            },
            v + FIXED_VALUE,
        )),
        VT_INLINE => {
            let len = usize::from(byte(b, v)?);
            if len > max_inline {
                return Err(PageError::InlineLength);
            }
            let bytes = b.get(v + 1..v + 1 + len).ok_or(PageError::Truncated)?;
            Ok((
                Value::inline(bytes).ok_or(PageError::InlineLength)?,
                v + 1 + len,
            ))
        }
        _ => Err(PageError::ValueType),
    }
}

/// Length of the value at `at` (its vtype byte included), checked like [`value_at`] but
/// without building the value: the hot path of searches and validation.
#[inline]
pub fn value_len_at(b: &[u8], at: usize, max_inline: usize) -> Result<usize, PageError> {
    let len = match byte(b, at)? {
        VT_LOC | VT_EXTENT => 1 + FIXED_VALUE,
        VT_INLINE => {
            let len = usize::from(byte(b, at + 1)?);
            if len > max_inline {
                return Err(PageError::InlineLength);
            }
            2 + len
        }
        _ => return Err(PageError::ValueType),
    };
    if at + len > b.len() {
        return Err(PageError::Truncated);
    }
    Ok(len)
}

/// Encoded length of a value (with its vtype byte).
pub fn value_len(v: &Value) -> usize {
    match v {
        Value::Loc { .. } | Value::Extent { .. } => 1 + FIXED_VALUE,
        Value::Inline { len, .. } => 2 + usize::from(*len),
    }
}

/// Encodes a leaf entry into `out`; returns its length.
pub fn encode_leaf_entry(out: &mut [u8], k: Key<'_>, v: &Value) -> Result<usize, PageError> {
    let at = put_key(out, 0, k)?;
    let end = at + value_len(v);
    let d = out.get_mut(at..end).ok_or(PageError::Truncated)?;
    match v {
        Value::Loc {
            seg,
            off,
            seq,
            disk_len,
            vlen,
        } => {
            d[0] = VT_LOC;
            d[1..5].copy_from_slice(&seg.to_le_bytes());
            d[5..9].copy_from_slice(&off.to_le_bytes());
            d[9..17].copy_from_slice(&seq.to_le_bytes());
            d[17..21].copy_from_slice(&disk_len.to_le_bytes());
            d[21..25].copy_from_slice(&vlen.to_le_bytes());
        }
        Value::Extent {
            seg,
            off,
            seq,
            first_piece,
            blocks,
            last_len,
        } => {
            d[0] = VT_EXTENT;
            d[1..5].copy_from_slice(&seg.to_le_bytes());
            d[5..9].copy_from_slice(&off.to_le_bytes());
            d[9..17].copy_from_slice(&seq.to_le_bytes());
            d[17..21].copy_from_slice(&first_piece.to_le_bytes());
            d[21..23].copy_from_slice(&blocks.to_le_bytes());
            d[23..25].copy_from_slice(&last_len.to_le_bytes());
        }
        Value::Inline { len, bytes } => {
            d[0] = VT_INLINE;
            d[1] = *len;
            let n = usize::from(*len);
            d[2..].copy_from_slice(bytes.get(..n).ok_or(PageError::InlineLength)?);
        }
    }
    Ok(end)
}

/// Encodes an internal entry (separator, child) into `out`; returns its length.
pub fn encode_internal_entry(
    out: &mut [u8],
    sep: Key<'_>,
    child: PagePtr,
) -> Result<usize, PageError> {
    let at = put_key(out, 0, sep)?;
    put_ptr(out, at, child)?;
    Ok(at + PTR_LEN)
}

/// The child pointer at `at`.
#[inline]
pub fn ptr_at(b: &[u8], at: usize) -> Result<PagePtr, PageError> {
    Ok(PagePtr {
        seg: rd_u32(b, at)?,
        off: rd_u32(b, at + 4)?,
        seq: rd_u64(b, at + 8)?,
    })
}

/// Writes a child pointer at `at`.
pub fn put_ptr(b: &mut [u8], at: usize, p: PagePtr) -> Result<(), PageError> {
    let d = b.get_mut(at..at + PTR_LEN).ok_or(PageError::Truncated)?;
    d[0..4].copy_from_slice(&p.seg.to_le_bytes());
    d[4..8].copy_from_slice(&p.off.to_le_bytes());
    d[8..16].copy_from_slice(&p.seq.to_le_bytes());
    Ok(())
}

/// Length of the entry at `at` on a page of `level`.
#[inline]
pub fn entry_len(b: &[u8], at: usize, level: u8, max_inline: usize) -> Result<usize, PageError> {
    let (_, after_key) = key_at(b, at)?;
    let end = if level == 0 {
        after_key + value_len_at(b, after_key, max_inline)?
    } else {
        if after_key + PTR_LEN > b.len() {
            return Err(PageError::Truncated);
        }
        after_key + PTR_LEN
    };
    Ok(end - at)
}

/// Offset just after the last entry (the used length of the page).
pub fn used(b: &[u8], max_inline: usize) -> Result<usize, PageError> {
    let lvl = level(b)?;
    let n = count(b)?;
    let mut at = fence(b)?.1;
    for _ in 0..n {
        at += entry_len(b, at, lvl, max_inline)?;
    }
    Ok(at)
}

/// Compares two keys in tree order (namespace byte first, then key bytes).
#[inline]
pub fn cmp(a: Key<'_>, b: Key<'_>) -> Ordering {
    match a.ns.cmp(&b.ns) {
        Ordering::Equal => cmp_bytes(a.key, b.key),
        o => o,
    }
}

/// Lexicographic byte order, eight bytes at a time: keys are short, and searches and
/// validation compare every entry they pass, so this beats a call into `memcmp`.
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let (mut x, mut y) = (a, b);
    while let (Some((xa, xr)), Some((ya, yr))) =
        (x.split_first_chunk::<8>(), y.split_first_chunk::<8>())
    {
        match u64::from_be_bytes(*xa).cmp(&u64::from_be_bytes(*ya)) {
            Ordering::Equal => (x, y) = (xr, yr),
            o => return o,
        }
    }
    x.cmp(y)
}

/// The shortest separator `s` with `left < s <= right` (a prefix of `right`), for `left < right`.
pub fn separator<'a>(left: Key<'_>, right: Key<'a>) -> Key<'a> {
    if left.ns != right.ns {
        return Key {
            ns: right.ns,
            key: &[],
        };
    }
    let common = left
        .key
        .iter()
        .zip(right.key)
        .take_while(|(x, y)| x == y)
        .count();
    let len = (common + 1).min(right.key.len());
    Key {
        ns: right.ns,
        key: &right.key[..len],
    }
}
