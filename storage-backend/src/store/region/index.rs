//! The in-RAM index: key → [`Loc`], kept as one sorted array of fixed 24-byte entries plus one
//! arena holding the key bytes back to back.
//!
//! RAM per object: a 24-byte entry plus the key's bytes — no per-key allocation, no tree nodes.
//! Both arrays grow by an eighth, and removed keys' bytes stay in the arena until they are half
//! of it, so the worst case is 27 + 1.7 × key length bytes per object (≤ 64 bytes for keys of
//! up to 21 bytes; 24 + key length right after mount). Lookups are binary searches; inserting a
//! new key moves the entries after it (a checkpoint loads in key order, so mount appends).

use alloc::vec::Vec;
use core::ops::Bound;

use super::super::record::Loc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    key_off: u32,
    key_len: u8,
    loc: Loc,
}

const _: () = assert!(core::mem::size_of::<Entry>() == 24);

/// The index.
#[derive(Clone, Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
    arena: Vec<u8>,
    garbage: usize,
}

impl PartialEq for Index {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Index {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.garbage = 0;
    }

    fn key(&self, e: &Entry) -> &[u8] {
        let s = e.key_off as usize;
        self.arena.get(s..s + usize::from(e.key_len)).unwrap_or(&[])
    }

    fn find(&self, key: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| self.key(e).cmp(key))
    }

    /// The location of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Loc> {
        self.find(key).ok().map(|i| self.entries[i].loc)
    }

    /// Sets `key` to `loc`; returns the previous location. Keys longer than 255 bytes are not
    /// stored (the store never passes one).
    pub fn insert(&mut self, key: &[u8], loc: Loc) -> Option<Loc> {
        let Ok(key_len) = u8::try_from(key.len()) else {
            return None;
        };
        match self.find(key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].loc, loc)),
            Err(i) => {
                // Grow by an eighth instead of doubling: bounded slack per object.
                if self.entries.len() == self.entries.capacity() {
                    self.entries.reserve_exact(self.entries.len() / 8 + 16);
                }
                if self.arena.capacity() - self.arena.len() < key.len() {
                    self.arena.reserve_exact(self.arena.len() / 8 + 256);
                }
                let key_off = self.arena.len() as u32;
                self.arena.extend_from_slice(key);
                self.entries.insert(
                    i,
                    Entry {
                        key_off,
                        key_len,
                        loc,
                    },
                );
                None
            }
        }
    }

    /// Removes `key`; returns its location.
    pub fn remove(&mut self, key: &[u8]) -> Option<Loc> {
        let i = self.find(key).ok()?;
        let e = self.entries.remove(i);
        self.garbage += usize::from(e.key_len);
        if self.garbage > 4096 && self.garbage > self.arena.len() / 2 {
            self.compact();
        }
        Some(e.loc)
    }

    /// Rewrites the arena without the bytes of removed keys.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for e in &mut self.entries {
            let s = e.key_off as usize;
            let k = self.arena.get(s..s + usize::from(e.key_len)).unwrap_or(&[]);
            e.key_off = arena.len() as u32;
            arena.extend_from_slice(k);
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// Every key and location, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Loc)> + '_ {
        self.entries.iter().map(move |e| (self.key(e), e.loc))
    }

    /// Keys and locations from `lower` on, in key order.
    pub fn range(&self, lower: Bound<&[u8]>) -> impl Iterator<Item = (&[u8], Loc)> + '_ {
        let start = match lower {
            Bound::Unbounded => 0,
            Bound::Included(k) => self.find(k).unwrap_or_else(|i| i),
            Bound::Excluded(k) => match self.find(k) {
                Ok(i) => i + 1,
                Err(i) => i,
            },
        };
        self.entries[start..]
            .iter()
            .map(move |e| (self.key(e), e.loc))
    }

    /// Drops growth slack (after mount).
    pub fn shrink(&mut self) {
        if self.garbage > 0 {
            self.compact();
        }
        self.entries.shrink_to_fit();
        self.arena.shrink_to_fit();
    }

    /// Bytes of RAM held (capacity of both arrays).
    pub fn ram_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<Entry>() + self.arena.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::format;

    fn loc(n: u32) -> Loc {
        Loc {
            seg: n,
            off: n,
            disk_len: n,
            vlen: n,
        }
    }

    #[test]
    fn matches_a_btreemap_through_compactions() {
        let mut idx = Index::default();
        let mut model = BTreeMap::new();
        let mut x = 7u64;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("key/{}", x % 3000).into_bytes();
            if x.is_multiple_of(3) {
                assert_eq!(idx.remove(&key), model.remove(&key));
            } else {
                assert_eq!(idx.insert(&key, loc(i)), model.insert(key, loc(i)));
            }
        }
        assert_eq!(idx.len(), model.len());
        assert!(
            idx.iter()
                .map(|(k, l)| (k.to_vec(), l))
                .eq(model.iter().map(|(k, l)| (k.clone(), *l)))
        );
        let from = b"key/2".as_slice();
        assert!(
            idx.range(Bound::Excluded(from))
                .map(|(k, _)| k.to_vec())
                .eq(model
                    .range::<[u8], _>((Bound::Excluded(from), Bound::Unbounded))
                    .map(|(k, _)| k.clone()))
        );
        idx.shrink();
        assert_eq!(
            idx.arena.len(),
            model.keys().map(|k| k.len()).sum::<usize>()
        );
    }
}
