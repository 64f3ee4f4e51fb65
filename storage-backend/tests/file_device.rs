//! The file-backed device (feature `std`): format, commit, remount from the same file, and the
//! NOR adapter on the emulator with erase-before-write enforced.
#![cfg(feature = "std")]

mod common;

use storage_backend::block::{BlockDevice, DeviceError, FileDevice, NorEmulator, NorFlashDevice};
use storage_backend::{Db, FormatOptions, Store};

#[test]
fn store_on_a_file_survives_reopen() {
    let path = std::env::temp_dir().join(format!("zos-store-test-{}.img", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let open = || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        FileDevice::new(f, 512, 8, 256).unwrap()
    };
    let (e, k) = common::engine();
    let mut s = Store::format(open(), e, k, &FormatOptions::default()).unwrap();
    let mut t = s.begin(Db::Kernel).unwrap();
    t.put(b"svc/init", b"1").unwrap();
    t.commit().unwrap();
    s.sync().unwrap();
    drop(s);
    let (e, k) = common::engine();
    let mut s = Store::mount(open(), e, k).unwrap();
    assert_eq!(
        s.get(Db::Kernel, b"svc/init").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    s.check(Db::Kernel).unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn nor_adapter_enforces_erase_before_write() {
    let mut d = NorFlashDevice::new(NorEmulator::new(4), 256).unwrap();
    assert_eq!(d.geometry().blocks_per_erase_unit, 16);
    d.write(0, &[0x0F; 256]).unwrap();
    // Clearing more bits is fine, setting one is not.
    d.write(0, &[0x0E; 256]).unwrap();
    assert!(matches!(d.write(0, &[0xFF; 256]), Err(DeviceError::Io)));
    d.erase(0, 1).unwrap();
    d.write(0, &[0xF0; 256]).unwrap();
    assert_eq!(d.flash().stats().erase_counts, vec![1, 0, 0, 0]);
    let mut buf = [0u8; 256];
    d.read(0, &mut buf).unwrap();
    assert_eq!(buf, [0xF0; 256]);
}
