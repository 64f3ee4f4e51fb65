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
