//! The value cache: hits return the committed bytes, and no mutation (overwrite, delete, abort,
//! cleaning, reuse of a segment, remount) ever lets it serve a stale value.

mod common;

use std::collections::BTreeMap;

use storage_backend::block::RamDevice;
use storage_backend::{Db, FormatOptions, SoftwareEngine, Store};

const U: Db = Db::Userspace;

fn get(s: &mut Store<RamDevice, SoftwareEngine>, k: &[u8]) -> Option<Vec<u8>> {
    s.get(U, k).unwrap()
}

fn put(s: &mut Store<RamDevice, SoftwareEngine>, k: &[u8], v: &[u8]) {
    let mut t = s.begin(U).unwrap();
    t.put(k, v).unwrap();
    t.commit().unwrap();
}

/// A small store whose userspace region has few segments, so the cleaner and segment reuse
/// start after a few dozen kilobytes of writes.
fn small_store() -> Store<RamDevice, SoftwareEngine> {
    let (e, k) = common::engine();
    let opts = FormatOptions {
        kernel_units: Some(40),
        segment_bytes: 12 * 1024,
        ..FormatOptions::default()
    };
    // Userspace: one superblock unit and 8 segments of three 4 KiB units.
    Store::format(RamDevice::new(512, 8, 40 + 1 + 8 * 3), e, k, &opts).unwrap()
}

#[test]
fn hits_return_the_committed_bytes() {
    let mut s = common::ram_store(256);
    put(&mut s, b"a", b"alpha");
    put(&mut s, b"b", &[7u8; 5000]);
    assert_eq!(get(&mut s, b"a").as_deref(), Some(&b"alpha"[..]));
    assert_eq!(get(&mut s, b"b"), Some(vec![7u8; 5000]));
    let before = s.cache_stats(U).unwrap();
    assert_eq!(before.entries, 2);
    for _ in 0..3 {
        assert_eq!(get(&mut s, b"a").as_deref(), Some(&b"alpha"[..]));
        assert_eq!(get(&mut s, b"b"), Some(vec![7u8; 5000]));
    }
    let after = s.cache_stats(U).unwrap();
    assert_eq!(after.hits, before.hits + 6);
    assert_eq!(after.misses, before.misses);
    let mut buf = [0u8; 16];
    assert_eq!(s.get_into(U, b"a", &mut buf).unwrap(), Some(5));
    assert_eq!(&buf[..5], b"alpha");
    // The other database has its own cache and does not see these keys.
    assert_eq!(s.get(Db::Kernel, b"a").unwrap(), None);
    assert_eq!(s.cache_stats(Db::Kernel).unwrap().entries, 0);
}

#[test]
fn overwrite_delete_and_abort_never_serve_stale_values() {
    let mut s = common::ram_store(256);
    put(&mut s, b"k", b"one");
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"one"[..]));
    // Overwrite with a value of the same length.
    put(&mut s, b"k", b"two");
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"two"[..]));
    // A pending write is not visible, and an abort leaves the cached committed value right.
    {
        let mut t = s.begin(U).unwrap();
        t.put(b"k", b"xxx").unwrap();
        assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"two"[..]));
        t.abort();
    }
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"two"[..]));
    {
        let mut t = s.begin(U).unwrap();
        t.delete(b"k").unwrap();
        // Dropped without commit.
    }
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"two"[..]));
    // Delete, then re-create with the old value's length.
    let mut t = s.begin(U).unwrap();
    t.delete(b"k").unwrap();
    t.commit().unwrap();
    assert_eq!(get(&mut s, b"k"), None);
    put(&mut s, b"k", b"new");
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"new"[..]));
    // Several keys in one transaction.
    put(&mut s, b"j", b"jj");
    assert_eq!(get(&mut s, b"j").as_deref(), Some(&b"jj"[..]));
    let mut t = s.begin(U).unwrap();
    t.put(b"j", b"JJ").unwrap();
    t.put(b"k", b"NEW").unwrap();
    t.commit().unwrap();
    assert_eq!(get(&mut s, b"j").as_deref(), Some(&b"JJ"[..]));
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"NEW"[..]));
    // A remount starts with an empty cache and the same contents.
    s.sync().unwrap();
    let mut s = common::remount_ram(s);
    assert_eq!(s.cache_stats(U).unwrap().entries, 0);
    assert_eq!(get(&mut s, b"k").as_deref(), Some(&b"NEW"[..]));
    s.check(U).unwrap();
}

/// Churns fixed-size values through a small region so the cleaner moves cached keys and
/// segments are erased and reused many times, reading every key after every commit. The same
/// key keeps landing at the same offsets of reused segments with new contents (each value holds
/// its write counter), so an entry validated against the location alone would serve an old
/// value; the check against the segment's sequence number (and dropping entries when a key
/// moves) is what keeps this correct.
#[test]
fn cleaning_and_segment_reuse_never_serve_stale_values() {
    for capacity in [usize::MAX, 2048, 0] {
        let mut s = small_store();
        s.set_cache_bytes(U, capacity).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        // Cold keys: written once, moved only by the cleaner.
        let mut t = s.begin(U).unwrap();
        for i in 0..8u32 {
            let k = format!("cold/{i}").into_bytes();
            let v = vec![i as u8; 700];
            t.put(&k, &v).unwrap();
            model.insert(k, v);
        }
        t.commit().unwrap();
        let erases_before: u32 = s.erase_counts(U).unwrap().iter().sum();
        let value = |n: u32| -> Vec<u8> {
            let mut v = vec![0u8; 400];
            v[..4].copy_from_slice(&n.to_le_bytes());
            v
        };
        for n in 0..1500u32 {
            let k = format!("hot/{}", n % 3).into_bytes();
            let mut t = s.begin(U).unwrap();
            t.put(&k, &value(n)).unwrap();
            if n % 97 == 0 {
                // Some transactions are abandoned after writing to the log.
                t.put(b"hot/0", &value(u32::MAX)).unwrap();
                t.abort();
            } else {
                t.commit().unwrap();
                model.insert(k, value(n));
            }
            if n % 251 == 0 {
                let mut t = s.begin(U).unwrap();
                t.delete(b"hot/1").unwrap();
                t.commit().unwrap();
                model.remove(&b"hot/1"[..]);
            }
            for (k, v) in &model {
                assert_eq!(
                    get(&mut s, k).as_ref(),
                    Some(v),
                    "capacity {capacity} write {n} key {k:?}"
                );
            }
            assert_eq!(get(&mut s, b"hot/1").as_ref(), model.get(&b"hot/1"[..]));
        }
        let erases: u32 = s.erase_counts(U).unwrap().iter().sum();
        let segments = s.usage(U).unwrap().segments_total;
        assert!(
            erases >= erases_before + 4 * segments,
            "every segment reused several times ({erases_before} -> {erases} erases, {segments} segments)"
        );
        let st = s.cache_stats(U).unwrap();
        if capacity == 0 {
            assert_eq!((st.hits, st.entries, st.bytes), (0, 0, 0));
        } else {
            // Unbounded: every read after the first of each value hits. 2 KiB holds three
            // entries of the eleven keys read in turn, so LRU gets few hits there.
            let least = if capacity == usize::MAX { 10_000 } else { 1 };
            assert!(st.hits >= least, "{st:?}");
            assert!(st.bytes <= capacity, "{st:?}");
        }
        s.check(U).unwrap();
        let mut s = common::remount_ram(s);
        for (k, v) in &model {
            assert_eq!(get(&mut s, k).as_ref(), Some(v));
        }
    }
}

#[test]
fn capacity_is_bounded_and_zero_disables() {
    let mut s = common::ram_store(256);
    let mut t = s.begin(U).unwrap();
    for i in 0..64u32 {
        t.put(format!("f/{i}").as_bytes(), &[i as u8; 4096])
            .unwrap();
    }
    t.commit().unwrap();
    s.set_cache_bytes(U, 20 * 1024).unwrap();
    for _ in 0..2 {
        for i in 0..64u32 {
            assert_eq!(
                get(&mut s, format!("f/{i}").as_bytes()),
                Some(vec![i as u8; 4096])
            );
            let st = s.cache_stats(U).unwrap();
            assert!(st.bytes <= 20 * 1024, "{st:?}");
        }
    }
    assert_eq!(s.cache_stats(U).unwrap().entries, 4);
    s.set_cache_bytes(U, 0).unwrap();
    let st = s.cache_stats(U).unwrap();
    assert_eq!((st.entries, st.bytes, st.capacity), (0, 0, 0));
    let hits = st.hits;
    for i in 0..64u32 {
        assert_eq!(
            get(&mut s, format!("f/{i}").as_bytes()),
            Some(vec![i as u8; 4096])
        );
    }
    let st = s.cache_stats(U).unwrap();
    assert_eq!((st.hits, st.entries), (hits, 0));
}

/// One key rewritten with same-sized values, so every incarnation of a segment holds it at the
/// same offsets, and read only every `interval` writes, so its cached entry outlives many
/// overwrites and the erasure and reuse of the segment it was read from. In this geometry the
/// key comes back to the same (segment, offset) every 64 writes (measured), so at intervals
/// dividing a multiple of 64 its location when read again equals, field for field, the location
/// it was cached under, in a newer incarnation of that segment. Only the segment's sequence
/// number tells them apart (or the eager drop when a commit moves the key): with both removed
/// this test fails.
#[test]
fn same_location_in_a_reused_segment_is_not_a_hit() {
    let value = |n: u32| -> Vec<u8> {
        let mut v = vec![0xA5u8; 300];
        v[..4].copy_from_slice(&n.to_le_bytes());
        v
    };
    for interval in [1u32, 2, 3, 5, 7, 13, 32, 48, 63, 64, 65, 96, 128] {
        let mut s = small_store();
        let mut last = None;
        for n in 0..400u32 {
            put(&mut s, b"inode/1", &value(n));
            last = Some(value(n));
            if n % interval == 0 {
                assert_eq!(
                    get(&mut s, b"inode/1"),
                    last,
                    "interval {interval} write {n}"
                );
            }
        }
        assert_eq!(get(&mut s, b"inode/1"), last);
        let erases: u32 = s.erase_counts(U).unwrap().iter().sum();
        assert!(erases > 3 * s.usage(U).unwrap().segments_total);
    }
}
