//! The driver against the register-level fake bank: the query, every command sequence, every
//! failure the status register can report, the chip's rule that a program only clears bits,
//! and the store running on top through `NorFlashDevice`.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use storage_backend::block::NorFlashDevice;
use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};
use zos_cfi_flash::fake::FakeCfiBank;
use zos_cfi_flash::{CfiError, CfiFlash, FlashBus};

const ERASE: usize = 8192;
const BLOCKS: usize = 32;

type Flash = CfiFlash<FakeCfiBank, ERASE>;

fn flash(locked: bool) -> Flash {
    CfiFlash::new(FakeCfiBank::new(BLOCKS, ERASE, locked)).unwrap()
}

#[test]
fn the_query_gives_the_bank_geometry() {
    let f = flash(false);
    let g = f.geometry();
    assert_eq!(g.devices, 2);
    assert_eq!(g.erase_size, ERASE);
    assert_eq!(g.blocks, BLOCKS);
    assert_eq!(g.command_set, 1);
    assert_eq!(f.capacity(), BLOCKS * ERASE);
}

#[test]
fn a_bank_of_other_blocks_or_no_cfi_is_refused() {
    let other = CfiFlash::<FakeCfiBank, 4096>::new(FakeCfiBank::new(BLOCKS, ERASE, false));
    assert_eq!(other.err(), Some(CfiError::Geometry));

    /// Plain memory: reads return the data whatever was written.
    struct Ram(Vec<u8>);
    impl FlashBus for Ram {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn read(&mut self, o: usize) -> u32 {
            u32::from_le_bytes(self.0[o..o + 4].try_into().unwrap())
        }
        fn write(&mut self, o: usize, v: u32) {
            self.0[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    let ram = CfiFlash::<Ram, ERASE>::new(Ram(vec![0; BLOCKS * ERASE]));
    assert_eq!(ram.err(), Some(CfiError::NotCfi));
}

#[test]
fn erase_write_and_read_back_at_any_alignment() {
    let mut f = flash(false);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    f.erase(ERASE as u32, 3 * ERASE as u32).unwrap();
    f.write(ERASE as u32 + 100, &data).unwrap();
    for (start, len) in [(0, 1000), (1, 999), (3, 5), (997, 3), (500, 1)] {
        let mut back = vec![0u8; len];
        f.read(ERASE as u32 + 100 + start as u32, &mut back)
            .unwrap();
        assert_eq!(back, data[start..start + len], "read at {start}+{len}");
    }
    // Only the written words changed; the array reads as the fake holds it.
    let image = f.bus_mut().image();
    assert!(image[..ERASE + 100].iter().all(|&b| b == 0xFF));
    assert_eq!(&image[ERASE + 100..ERASE + 1100], &data[..]);
    assert!(image[ERASE + 1100..].iter().all(|&b| b == 0xFF));
}

#[test]
fn erasing_returns_a_block_to_ones_and_words_of_ones_are_not_programmed() {
    let mut f = flash(false);
    f.write(0, &[0u8; 64]).unwrap();
    let programs = f.bus_mut().programs;
    f.write(64, &[0xFF; 64]).unwrap();
    assert_eq!(
        f.bus_mut().programs,
        programs,
        "all-ones words need no program"
    );
    f.erase(0, ERASE as u32).unwrap();
    let mut back = [0u8; 64];
    f.read(0, &mut back).unwrap();
    assert_eq!(back, [0xFF; 64]);
    assert_eq!(f.bus_mut().erases, 1);
}

#[test]
fn writing_over_data_that_was_not_erased_is_an_error() {
    let mut f = flash(false);
    f.write(0, &0x0F0F_0F0Fu32.to_le_bytes()).unwrap();
    // 0xF0 over 0x0F can only clear bits: the cell ends up 0x00, not what was asked.
    assert_eq!(
        f.write(0, &0xF0F0_F0F0u32.to_le_bytes()),
        Err(CfiError::Verify)
    );
}

#[test]
fn blocks_locked_at_power_on_are_unlocked_before_erase() {
    let mut f = flash(true);
    // A locked block refuses a program: the status register says so.
    assert_eq!(f.write(0, &[0u8; 4]), Err(CfiError::Locked));
    f.erase(0, ERASE as u32).unwrap();
    f.write(0, &[1, 2, 3, 4]).unwrap();
    let mut back = [0u8; 4];
    f.read(0, &mut back).unwrap();
    assert_eq!(back, [1, 2, 3, 4]);
}

#[test]
fn every_reported_failure_is_typed_and_leaves_the_bank_usable() {
    let mut f = flash(false);
    f.bus_mut().fail_next_program = true;
    assert_eq!(f.write(0, &[0u8; 8]), Err(CfiError::Program));
    f.bus_mut().fail_next_erase = true;
    assert_eq!(f.erase(0, ERASE as u32), Err(CfiError::Erase));
    // The status was cleared and the bank is in read-array mode: the next operations work.
    f.erase(0, ERASE as u32).unwrap();
    f.write(0, &[9; 8]).unwrap();
    let mut back = [0u8; 8];
    f.read(0, &mut back).unwrap();
    assert_eq!(back, [9; 8]);

    let mut locked = flash(true);
    locked.bus_mut().refuse_unlock = true;
    assert_eq!(locked.erase(0, ERASE as u32), Err(CfiError::Locked));
    let mut back = [0u8; 4];
    locked.read(0, &mut back).unwrap();
    assert_eq!(back, [0xFF; 4], "back in read-array mode after the failure");
}

#[test]
fn out_of_bounds_and_misaligned_requests_are_refused_before_any_bus_cycle() {
    let mut f = flash(false);
    let cycles = f.bus_mut().cycles;
    let end = (BLOCKS * ERASE) as u32;
    assert_eq!(f.read(end - 2, &mut [0u8; 4]), Err(CfiError::OutOfBounds));
    assert_eq!(f.write(end, &[0u8; 4]), Err(CfiError::OutOfBounds));
    assert_eq!(f.write(2, &[0u8; 4]), Err(CfiError::NotAligned));
    assert_eq!(f.write(0, &[0u8; 3]), Err(CfiError::NotAligned));
    assert_eq!(f.erase(100, ERASE as u32), Err(CfiError::NotAligned));
    assert_eq!(f.erase(0, end + ERASE as u32), Err(CfiError::OutOfBounds));
    assert_eq!(f.erase(ERASE as u32, 0), Err(CfiError::OutOfBounds));
    assert_eq!(f.bus_mut().cycles, cycles);
}

fn engine() -> (SoftwareEngine, DbKeys) {
    let mut e = SoftwareEngine::new();
    let kernel = e.import_key(&[0x11; 32]).unwrap();
    let userspace = e.import_key(&[0x22; 32]).unwrap();
    (e, DbKeys { kernel, userspace })
}

#[test]
fn the_store_runs_on_the_driver_and_survives_a_remount() {
    // 512 KiB: six segments of 16 KiB at least in each database.
    let bank: Flash = CfiFlash::new(FakeCfiBank::new(64, ERASE, true)).unwrap();
    let dev = NorFlashDevice::new(bank, 256).unwrap();
    let (e, k) = engine();
    let opts = FormatOptions {
        kernel_units: Some(16),
        segment_bytes: 16 * 1024,
        ..FormatOptions::default()
    };
    let mut store = Store::format(dev, e, k, &opts).unwrap();
    for i in 0..200u32 {
        let mut t = store.begin(Db::Userspace).unwrap();
        t.put(
            &i.to_be_bytes(),
            &vec![i as u8; (i as usize * 13) % 700 + 1],
        )
        .unwrap();
        t.commit().unwrap();
    }
    store.sync().unwrap();
    let (dev, _) = store.into_parts();
    // A new driver on the same bank: the data is in the flash, not in the old driver.
    let bank = dev.into_inner().into_bus();
    let dev = NorFlashDevice::new(CfiFlash::<_, ERASE>::new(bank).unwrap(), 256).unwrap();
    let (e, k) = engine();
    let mut store = Store::mount(dev, e, k).unwrap();
    for i in 0..200u32 {
        let v = store.get(Db::Userspace, &i.to_be_bytes()).unwrap();
        assert_eq!(
            v,
            Some(vec![i as u8; (i as usize * 13) % 700 + 1]),
            "key {i}"
        );
    }
    store.check(Db::Userspace).unwrap();
}
