//! Basic behaviour of the public database API.

mod common;

use storage_backend::{Db, StoreError};

#[test]
fn put_get_commit_remount() {
    let mut s = common::ram_store(256);
    let mut t = s.begin(Db::Userspace).unwrap();
    t.put(b"a", b"1").unwrap();
    t.put(b"b", &[7u8; 5000]).unwrap();
    t.commit().unwrap();
    let mut t = s.begin(Db::Kernel).unwrap();
    t.put(b"svc/vfs", b"pid=3").unwrap();
    t.commit().unwrap();
    assert_eq!(
        s.get(Db::Userspace, b"a").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(s.get(Db::Kernel, b"a").unwrap(), None);
    s.sync().unwrap();
    let mut s = common::remount_ram(s);
    assert_eq!(
        s.get(Db::Userspace, b"b").unwrap().unwrap(),
        vec![7u8; 5000]
    );
    assert_eq!(
        s.get(Db::Kernel, b"svc/vfs").unwrap().as_deref(),
        Some(&b"pid=3"[..])
    );
    s.check(Db::Userspace).unwrap();
    s.check(Db::Kernel).unwrap();
}

#[test]
fn uncommitted_is_invisible() {
    let mut s = common::ram_store(256);
    {
        let mut t = s.begin(Db::Userspace).unwrap();
        t.put(b"x", b"never").unwrap();
    }
    assert_eq!(s.get(Db::Userspace, b"x").unwrap(), None);
    let mut s = common::remount_ram(s);
    assert_eq!(s.get(Db::Userspace, b"x").unwrap(), None);
    s.check(Db::Userspace).unwrap();
}

#[test]
fn scan_pages() {
    let mut s = common::ram_store(256);
    let mut t = s.begin(Db::Userspace).unwrap();
    for i in 0..50u32 {
        t.put(format!("dir/{i:03}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    t.put(b"dis", b"x").unwrap();
    t.put(b"dir0", b"x").unwrap();
    t.commit().unwrap();
    let page1 = s.scan_keys(Db::Userspace, b"dir/", None, 20).unwrap();
    assert_eq!(page1.len(), 20);
    let page2 = s
        .scan(Db::Userspace, b"dir/", Some(page1.last().unwrap()), 100)
        .unwrap();
    assert_eq!(page2.len(), 30);
    assert_eq!(page2[0].0, b"dir/020");
    assert_eq!(page2[0].1, 20u32.to_le_bytes());
}

#[test]
fn wrong_key_is_an_error() {
    let s = common::ram_store(256);
    let (dev, _) = s.into_parts();
    let mut e = storage_backend::SoftwareEngine::new();
    use storage_backend::CryptoEngine;
    let k = e.import_key(&[0x99; 32]).unwrap();
    let err = storage_backend::Store::mount(
        dev,
        e,
        storage_backend::DbKeys {
            kernel: k,
            userspace: k,
        },
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Integrity(_)), "{err:?}");
}

#[test]
fn churn_cleans_segments_and_spreads_wear() {
    use storage_backend::block::RamDevice;
    use storage_backend::{FormatOptions, Store};
    let (e, k) = common::engine();
    let opts = FormatOptions {
        kernel_units: Some(40),
        segment_bytes: 12 * 1024,
        ..FormatOptions::default()
    };
    let mut s = Store::format(RamDevice::new(256, 16, 112), e, k, &opts).unwrap();
    for i in 0..3000u32 {
        let mut t = s.begin(Db::Userspace).unwrap();
        let key = format!("k{:02}", i % 48);
        t.put(key.as_bytes(), &vec![i as u8; (i as usize * 37) % 400])
            .unwrap();
        t.commit().unwrap();
    }
    s.check(Db::Userspace).unwrap();
    let counts = s.erase_counts(Db::Userspace).unwrap();
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 12, "wear not spread: {counts:?}");
    let mut s = common::remount_ram(s);
    for i in 2952..3000u32 {
        let key = format!("k{:02}", i % 48);
        assert_eq!(
            s.get(Db::Userspace, key.as_bytes()).unwrap().unwrap(),
            vec![i as u8; (i as usize * 37) % 400]
        );
    }
    s.check(Db::Userspace).unwrap();
}

#[test]
fn resource_limits() {
    use storage_backend::block::RamDevice;
    use storage_backend::{FormatOptions, LimitKind, Limits, Store};
    let (e, k) = common::engine();
    let opts = FormatOptions {
        userspace_limits: Limits {
            max_objects: 3,
            max_bytes: 1000,
        },
        ..FormatOptions::default()
    };
    let mut s = Store::format(RamDevice::new(512, 8, 256), e, k, &opts).unwrap();
    let mut t = s.begin(Db::Userspace).unwrap();
    t.put(b"a", &[0; 100]).unwrap();
    t.put(b"b", &[0; 100]).unwrap();
    t.put(b"c", &[0; 100]).unwrap();
    assert_eq!(
        t.put(b"d", b"x"),
        Err(StoreError::ResourceLimitExceeded(LimitKind::Objects))
    );
    // Overwrites do not add objects; deleting makes room.
    t.put(b"a", &[1; 200]).unwrap();
    t.delete(b"c").unwrap();
    t.put(b"d", b"x").unwrap();
    assert_eq!(
        t.put(b"e", &[0; 900]),
        Err(StoreError::ResourceLimitExceeded(LimitKind::Objects))
    );
    assert_eq!(
        t.put(b"b", &[0; 900]),
        Err(StoreError::ResourceLimitExceeded(LimitKind::Bytes))
    );
    t.commit().unwrap();
    let u = s.usage(Db::Userspace).unwrap();
    assert_eq!((u.objects, u.bytes), (3, 1 + 200 + 1 + 100 + 1 + 1));
    assert_eq!(
        u.limits,
        Limits {
            max_objects: 3,
            max_bytes: 1000
        }
    );
    let mut s = common::remount_ram(s);
    assert_eq!(s.usage(Db::Userspace).unwrap().limits.max_objects, 3);
    assert_eq!(s.get(Db::Userspace, b"a").unwrap().unwrap(), vec![1; 200]);
}

#[test]
fn no_space_leaves_store_mountable() {
    use storage_backend::block::RamDevice;
    use storage_backend::{FormatOptions, Store};
    let (e, k) = common::engine();
    let opts = FormatOptions {
        kernel_units: Some(20),
        segment_bytes: 12 * 1024,
        ..FormatOptions::default()
    };
    let mut s = Store::format(RamDevice::new(512, 8, 60), e, k, &opts).unwrap();
    let mut committed = Vec::new();
    let mut hit = false;
    for i in 0..1000u32 {
        let mut t = s.begin(Db::Userspace).unwrap();
        let key = format!("f{i}");
        let r = t
            .put(key.as_bytes(), &[i as u8; 3000])
            .and_then(|_| t.commit());
        match r {
            Ok(()) => committed.push(key),
            Err(StoreError::NoSpace) => {
                hit = true;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(hit, "device never filled");
    s.check(Db::Userspace).unwrap();
    // Deleting works again after NoSpace... once something is freed.
    let mut s = common::remount_ram(s);
    for (i, key) in committed.iter().enumerate() {
        assert_eq!(
            s.get(Db::Userspace, key.as_bytes()).unwrap().unwrap(),
            vec![i as u8; 3000]
        );
    }
    s.check(Db::Userspace).unwrap();
    s.check(Db::Kernel).unwrap();
    let mut t = s.begin(Db::Userspace).unwrap();
    for key in &committed[..committed.len() / 2] {
        t.delete(key.as_bytes()).unwrap();
    }
    t.commit().unwrap();
    let mut t = s.begin(Db::Userspace).unwrap();
    t.put(b"again", &[9; 3000]).unwrap();
    t.commit().unwrap();
    s.check(Db::Userspace).unwrap();
}

#[test]
fn corrupt_userspace_region_does_not_stop_kernel() {
    let mut s = common::ram_store(256);
    let mut t = s.begin(Db::Kernel).unwrap();
    t.put(b"cfg/hostname", b"zero").unwrap();
    t.commit().unwrap();
    let mut t = s.begin(Db::Userspace).unwrap();
    t.put(b"/home", b"dir").unwrap();
    t.commit().unwrap();
    s.sync().unwrap();
    // The userspace region starts right after the kernel region.
    let m = s.metadata(Db::Kernel).unwrap();
    let start = (m.sb_units + m.seg_units * m.seg_count) as usize * 4096;
    let (mut dev, _) = s.into_parts();
    for b in &mut dev.image_mut()[start..start + 8192] {
        *b = 0x5A;
    }
    let (e, k) = common::engine();
    let mut s = storage_backend::Store::mount(dev, e, k).unwrap();
    assert_eq!(
        s.get(Db::Kernel, b"cfg/hostname").unwrap().as_deref(),
        Some(&b"zero"[..])
    );
    assert!(matches!(
        s.mount_error(Db::Userspace),
        Some(StoreError::Integrity(_))
    ));
    assert_eq!(
        s.get(Db::Userspace, b"/home"),
        Err(StoreError::Unavailable(Db::Userspace))
    );
    s.check(Db::Kernel).unwrap();
}

#[test]
fn transaction_streams_more_than_it_buffers() {
    use storage_backend::block::RamDevice;
    use storage_backend::{FormatOptions, Store};
    let (e, k) = common::engine();
    // 16 MiB device; one transaction writes 6 MiB in 4 KiB pieces.
    let mut s = Store::format(
        RamDevice::new(512, 8, 4096),
        e,
        k,
        &FormatOptions::default(),
    )
    .unwrap();
    let before = s.device().counters().bytes_written;
    let mut t = s.begin(Db::Userspace).unwrap();
    for i in 0..1536u32 {
        let piece: Vec<u8> = (0..4096u32).map(|j| (i ^ j) as u8).collect();
        t.put(format!("c/1/{i:08}").as_bytes(), &piece).unwrap();
    }
    let during = t.store().device().counters().bytes_written - before;
    assert!(
        during > 6 << 20,
        "records must reach the device before commit ({during})"
    );
    t.commit().unwrap();
    let mut s = common::remount_ram(s);
    for i in (0..1536u32).step_by(97) {
        let piece: Vec<u8> = (0..4096u32).map(|j| (i ^ j) as u8).collect();
        assert_eq!(
            s.get(Db::Userspace, format!("c/1/{i:08}").as_bytes())
                .unwrap()
                .unwrap(),
            piece
        );
    }
    assert_eq!(s.usage(Db::Userspace).unwrap().objects, 1536);
    s.check(Db::Userspace).unwrap();
}

#[test]
fn index_ram_per_object_is_bounded() {
    use storage_backend::block::RamDevice;
    use storage_backend::{FormatOptions, Store};
    let (e, k) = common::engine();
    let mut s = Store::format(
        RamDevice::new(512, 8, 2048),
        e,
        k,
        &FormatOptions::default(),
    )
    .unwrap();
    let n = 10_000u32;
    for batch in 0..10 {
        let mut t = s.begin(Db::Userspace).unwrap();
        for i in 0..n / 10 {
            // 20-byte keys, as the VFS uses for content chunks (prefix + inode + index).
            t.put(
                format!("c/{:08}/{:08}", i % 97, batch * 1000 + i).as_bytes(),
                b"v",
            )
            .unwrap();
        }
        t.commit().unwrap();
    }
    let live = s.index_ram_bytes(Db::Userspace).unwrap();
    assert!(
        live <= 64 * n as usize,
        "{} bytes per object while writing",
        live / n as usize
    );
    let s = common::remount_ram(s);
    let after = s.index_ram_bytes(Db::Userspace).unwrap();
    assert!(
        after <= (24 + 20) * n as usize,
        "{} bytes per object after mount",
        after / n as usize
    );
    assert_eq!(s.usage(Db::Userspace).unwrap().objects, u64::from(n));
}
