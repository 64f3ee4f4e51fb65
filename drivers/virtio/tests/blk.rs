//! The virtio-blk adapter (virtio-drivers' `VirtIOBlk` underneath) against the fake disk.

use zos_virtio::blk::{BlockDevice, DeviceError, ERASED, EraseMode, OpenError, VirtioBlockDevice};
use zos_virtio::fake::{FakeBlkDevice, FakeHal, FakeTransport};

type Disk = VirtioBlockDevice<FakeHal, FakeTransport<FakeBlkDevice>>;

fn disk(sectors: u64, mode: EraseMode) -> Disk {
    VirtioBlockDevice::new(
        FakeTransport::new(FakeBlkDevice::new(sectors)),
        4096,
        4,
        mode,
    )
    .unwrap()
}

#[test]
fn geometry_comes_from_the_capacity() {
    // 70 sectors = 8 whole 4 KiB blocks (the partial ninth is unused), 2 erase units.
    let d = disk(70, EraseMode::Fill);
    let g = d.geometry();
    assert_eq!(
        (g.block_size, g.blocks_per_erase_unit, g.block_count),
        (4096, 4, 8)
    );
    assert_eq!(g.erase_units(), 2);
}

#[test]
fn blocks_round_trip_and_reach_the_medium() {
    let mut d = disk(64, EraseMode::Fill);
    let data: Vec<u8> = (0..2 * 4096).map(|i| (i * 7) as u8).collect();
    d.write(3, &data).unwrap();
    let mut back = vec![0u8; 2 * 4096];
    d.read(3, &mut back).unwrap();
    assert_eq!(back, data);
    d.flush().unwrap();
}

#[test]
fn out_of_range_and_misaligned_requests_are_refused_before_the_device() {
    let mut d = disk(64, EraseMode::Fill);
    let mut buf = vec![0u8; 4096];
    assert_eq!(d.read(8, &mut buf), Err(DeviceError::OutOfRange));
    assert_eq!(d.read(u64::MAX, &mut buf), Err(DeviceError::OutOfRange));
    assert_eq!(d.read(0, &mut buf[..512]), Err(DeviceError::OutOfRange));
    assert_eq!(d.write(7, &[0u8; 8192]), Err(DeviceError::OutOfRange));
    assert_eq!(d.erase(2, 1), Err(DeviceError::OutOfRange));
    assert_eq!(d.read(0, &mut []), Ok(()));
}

#[test]
fn erase_fill_writes_the_erased_value_and_noop_does_not() {
    let mut d = disk(64, EraseMode::Fill);
    d.write(4, &[1u8; 4096]).unwrap();
    d.erase(1, 1).unwrap();
    let mut buf = vec![0u8; 4 * 4096];
    d.read(4, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == ERASED));
    d.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "unit 0 untouched");

    let mut d = disk(64, EraseMode::NoOp);
    d.write(4, &[1u8; 4096]).unwrap();
    d.erase(1, 1).unwrap();
    d.read(4, &mut buf[..4096]).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == 1));
}

#[test]
fn device_errors_are_io_errors() {
    let mut transport = FakeTransport::new(FakeBlkDevice::new(64));
    transport.device.fail_io = true;
    let mut d: Disk = VirtioBlockDevice::new(transport, 4096, 4, EraseMode::Fill).unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(d.read(0, &mut buf), Err(DeviceError::Io));
    assert_eq!(d.write(0, &buf), Err(DeviceError::Io));
    assert_eq!(d.flush(), Err(DeviceError::Io));
}

#[test]
fn bad_geometry_is_refused() {
    for (bs, per_unit) in [(0, 4), (1000, 4), (4096, 0)] {
        let r: Result<Disk, _> = VirtioBlockDevice::new(
            FakeTransport::new(FakeBlkDevice::new(64)),
            bs,
            per_unit,
            EraseMode::Fill,
        );
        assert_eq!(r.err(), Some(OpenError::BadGeometry));
    }
}
