//! Engine v2 on a full device (there is no cleaning before stage 4): writes are refused with
//! `NoSpace`, everything committed stays readable and exact, and the region mounts again.

mod common;

use common::v2::{Model, mount_dev, nor_opts, nor_region, read_all};
use storage_backend::StoreError;

#[test]
fn v2_full_device_refuses_cleanly_and_stays_mountable() {
    let opts = nor_opts();
    let mut r = nor_region(40, opts);
    let mut model = Model::new();
    let mut refused = None;
    for i in 0..10_000u32 {
        let k = format!("fill-{i:05}").into_bytes();
        let v = vec![i as u8; 700];
        let res = r
            .begin()
            .and_then(|()| r.put(&k, &v))
            .and_then(|()| r.commit());
        match res {
            Ok(()) => {
                model.insert(k, v);
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some(StoreError::NoSpace),
        "a full device must say NoSpace"
    );
    r.abort();
    assert!(model.len() > 20, "filled only {} objects", model.len());
    // Still readable in this session (refusing wrote nothing that matters).
    assert_eq!(read_all(&mut r).unwrap(), model);
    // And after a remount, with the full check.
    let (dev, _) = r.into_parts();
    let mut r = mount_dev(dev, opts).unwrap();
    assert_eq!(read_all(&mut r).unwrap(), model);
    r.check().unwrap();
    // A write after the remount is refused the same way, or fits; never anything else.
    let res = r
        .begin()
        .and_then(|()| r.put(b"one-more", &[1; 700]))
        .and_then(|()| r.commit());
    assert!(matches!(res, Ok(()) | Err(StoreError::NoSpace)), "{res:?}");
    r.abort();
    let (dev, _) = r.into_parts();
    let mut r = mount_dev(dev, opts).unwrap();
    let got = read_all(&mut r).unwrap();
    let mut with_one = model.clone();
    with_one.insert(b"one-more".to_vec(), vec![1; 700]);
    assert!(got == model || got == with_one);
    r.check().unwrap();
}
