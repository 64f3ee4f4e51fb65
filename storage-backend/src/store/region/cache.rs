//! A bounded cache of authenticated values, so repeated reads of the same key (path resolution
//! reading the same inodes, a file read twice) skip the device read and AES-GCM.
//!
//! Correctness rests on the log being write-once: a record at (segment, offset) never changes
//! while the segment keeps its sequence number, and a segment only gets a new sequence number
//! when it is erased and reopened. An entry is therefore stored with the key's full index
//! location ([`Loc`]) *and* the sequence number of the segment it was read from, and a lookup
//! hits only if both equal the index's current location for the key and that segment's current
//! sequence number. Whatever changed the key (commit of an overwrite or delete, cleaning, a
//! segment reused by a later incarnation) changes one of them, so a stale entry can never be
//! returned even if a mutation path forgot to drop it. The region also drops entries eagerly
//! when a commit or a cleaning pass moves or removes their key, so dead values do not hold RAM.
//!
//! Only values returned by `Region::read_value` (the record's CRC, GCM tag, position, key and
//! length all verified) are inserted. Pending writes of an open transaction never enter.
//!
//! Memory: each entry is charged its value, twice its key (the map key and the recency list)
//! and [`ENTRY_OVERHEAD`]; the sum stays at or below the capacity. Eviction is LRU. A capacity
//! of 0 disables the cache (nothing is allocated).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::super::record::Loc;

/// Bytes charged per entry beyond its key and value: its slots in the two B-trees (64 + 24
/// bytes on 64-bit targets, 40 + 16 on 32-bit ones) at the nodes' typical two-thirds fill, plus
/// allocator headers of the three boxes (key twice, value). An estimate, not an exact count:
/// the real heap use of a full cache lies within a few percent of the capacity.
pub const ENTRY_OVERHEAD: usize = 160;

/// Counters of one database's value cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that read the device (including those that found a stale entry).
    pub misses: u64,
    /// Entries held.
    pub entries: usize,
    /// Bytes charged (values, keys and per-entry overhead).
    pub bytes: usize,
    /// The capacity in bytes (0: disabled).
    pub capacity: usize,
}

struct Entry {
    loc: Loc,
    seq: u64,
    value: Box<[u8]>,
    /// Position in [`ValueCache::lru`].
    tick: u64,
}

fn charge(key: &[u8], value_len: usize) -> usize {
    2 * key.len() + value_len + ENTRY_OVERHEAD
}

/// The cache of one region.
#[derive(Default)]
pub(super) struct ValueCache {
    capacity: usize,
    used: usize,
    next_tick: u64,
    map: BTreeMap<Box<[u8]>, Entry>,
    /// Recency order: least recently used first.
    lru: BTreeMap<u64, Box<[u8]>>,
    hits: u64,
    misses: u64,
}

impl ValueCache {
    /// An empty cache of `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Changes the capacity, evicting as needed (0 empties and disables the cache).
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.used > self.capacity && self.evict_one() {}
    }

    /// The value cached for `key` if it was read from exactly `loc` in the incarnation `seq` of
    /// that segment. An entry for `key` that does not match is stale and is dropped.
    pub(super) fn get(&mut self, key: &[u8], loc: Loc, seq: u64) -> Option<Vec<u8>> {
        let Some(e) = self.map.get_mut(key) else {
            self.misses += 1;
            return None;
        };
        if e.loc != loc || e.seq != seq {
            self.misses += 1;
            self.remove(key);
            return None;
        }
        self.hits += 1;
        // Bump to most recently used.
        let tick = self.next_tick;
        self.next_tick += 1;
        let old = core::mem::replace(&mut e.tick, tick);
        let value = e.value.to_vec();
        if let Some(k) = self.lru.remove(&old) {
            self.lru.insert(tick, k);
        }
        Some(value)
    }

    /// Stores `value`, which the caller has just read and authenticated at `loc` in incarnation
    /// `seq` of its segment. Skipped when the entry alone would exceed the capacity.
    pub(super) fn insert(&mut self, key: &[u8], loc: Loc, seq: u64, value: &[u8]) {
        let c = charge(key, value.len());
        if c > self.capacity {
            return;
        }
        self.remove(key);
        while self.used + c > self.capacity {
            if !self.evict_one() {
                return;
            }
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        self.lru.insert(tick, Box::from(key));
        self.map.insert(
            Box::from(key),
            Entry {
                loc,
                seq,
                value: Box::from(value),
                tick,
            },
        );
        self.used += c;
    }

    /// Drops the entry for `key`, if any.
    pub(super) fn remove(&mut self, key: &[u8]) {
        if let Some(e) = self.map.remove(key) {
            self.lru.remove(&e.tick);
            self.used -= charge(key, e.value.len());
        }
    }

    /// Drops everything (the counters stay).
    pub(super) fn clear(&mut self) {
        self.map = BTreeMap::new();
        self.lru = BTreeMap::new();
        self.used = 0;
    }

    /// Evicts the least recently used entry; false if there was none.
    fn evict_one(&mut self) -> bool {
        match self.lru.pop_first() {
            Some((_, k)) => {
                if let Some(e) = self.map.remove(&k) {
                    self.used -= charge(&k, e.value.len());
                }
                true
            }
            None => false,
        }
    }

    /// The counters.
    pub(super) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits,
            misses: self.misses,
            entries: self.map.len(),
            bytes: self.used,
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(seg: u32, off: u32) -> Loc {
        Loc {
            seg,
            off,
            disk_len: 64,
            vlen: 3,
        }
    }

    #[test]
    fn hits_only_on_the_same_location_and_segment_incarnation() {
        let mut c = ValueCache::new(4096);
        c.insert(b"k", loc(3, 128), 7, b"abc");
        assert_eq!(c.get(b"k", loc(3, 128), 7).as_deref(), Some(&b"abc"[..]));
        // Segment 3 erased and reopened as incarnation 9; a new record for the same key landed
        // at the same offset with the same lengths. Without the sequence check this would hit.
        assert_eq!(c.get(b"k", loc(3, 128), 9), None);
        // The stale entry is gone, also for the old incarnation.
        assert_eq!(c.get(b"k", loc(3, 128), 7), None);
        c.insert(b"k", loc(3, 128), 7, b"abc");
        assert_eq!(c.get(b"k", loc(3, 192), 7), None);
        c.insert(b"k", loc(3, 128), 7, b"abc");
        assert_eq!(c.get(b"k", loc(4, 128), 7), None);
        c.insert(b"k", loc(3, 128), 7, b"abc");
        let mut other = loc(3, 128);
        other.disk_len = 128;
        assert_eq!(c.get(b"k", other, 7), None);
        assert_eq!(c.get(b"x", loc(3, 128), 7), None);
        assert_eq!(c.stats().entries, 0);
        assert_eq!(c.stats().bytes, 0);
    }

    #[test]
    fn bounded_by_bytes_and_evicts_least_recently_used() {
        let per = charge(b"k0", 100);
        let mut c = ValueCache::new(3 * per);
        for i in 0..3u8 {
            c.insert(&[b'k', b'0' + i], loc(1, u32::from(i)), 1, &[i; 100]);
        }
        assert_eq!(c.stats().entries, 3);
        // Touch k0 so k1 is the least recently used.
        assert!(c.get(b"k0", loc(1, 0), 1).is_some());
        c.insert(b"k3", loc(1, 3), 1, &[3; 100]);
        assert_eq!(c.stats().entries, 3);
        assert!(c.stats().bytes <= 3 * per);
        assert!(c.get(b"k1", loc(1, 1), 1).is_none());
        assert!(c.get(b"k0", loc(1, 0), 1).is_some());
        assert!(c.get(b"k2", loc(1, 2), 1).is_some());
        assert!(c.get(b"k3", loc(1, 3), 1).is_some());
        // An entry larger than the whole capacity is not stored and evicts nothing.
        c.insert(b"big", loc(1, 9), 1, &[0; 1000]);
        assert_eq!(c.stats().entries, 3);
        c.set_capacity(per);
        assert_eq!(c.stats().entries, 1);
        assert!(c.get(b"k3", loc(1, 3), 1).is_some());
    }

    #[test]
    fn capacity_zero_stores_nothing() {
        let mut c = ValueCache::new(0);
        c.insert(b"k", loc(1, 0), 1, b"v");
        assert_eq!(c.get(b"k", loc(1, 0), 1), None);
        assert_eq!(c.stats().entries, 0);
        let mut c = ValueCache::new(4096);
        c.insert(b"k", loc(1, 0), 1, b"v");
        c.set_capacity(0);
        assert_eq!(c.stats().entries, 0);
        assert_eq!(c.stats().bytes, 0);
    }
}
