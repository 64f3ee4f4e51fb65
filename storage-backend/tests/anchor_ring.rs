//! The anchor ring (engine v2's superblock ring): every written anchor is found again in a
//! bounded number of reads, across wraps of the ring, on NOR flash, RAM and disk-like
//! geometries; a power cut at any program or erase, also during the first write after a cut and
//! over many cuts in a row, leaves the newest acknowledged anchor (or the one in flight)
//! findable; no (generation, slot) nonce is ever sealed over different bytes; a corrupt newest
//! slot makes mount fall back, flagged, never return wrong data.

mod common;

use std::collections::BTreeMap;

use storage_backend::anchor::{Anchor, AnchorRing, Found, RingLayout};
use storage_backend::block::{
    BlockDevice, CutMode, NorEmulator, NorFlashDevice, RamDevice, TraceOp,
};
use storage_backend::chunk::codec::parse_chunk;
use storage_backend::{CryptoEngine, KeyHandle, SoftwareEngine};

fn engine() -> (SoftwareEngine, KeyHandle) {
    let mut e = SoftwareEngine::new();
    let k = e.import_key(&[0x5A; 32]).expect("key");
    (e, k)
}

/// Anchor number `i` of a workload, under checkpoint generation `i + 1`.
fn anchor(i: u64) -> Anchor {
    anchor_at(i, i + 1)
}

/// An anchor with contents derived from `tag`, under checkpoint generation `gen`. (Generations
/// are the caller's: in the region, checkpoint records durable before their anchor is written;
/// here, a counter that a simulated crash never rolls back.)
fn anchor_at(tag: u64, generation: u64) -> Anchor {
    Anchor {
        version: 2,
        ckpt_seg: (tag * 7 % 1000) as u32,
        ckpt_off: (tag * 131 % 60_000) as u32,
        ckpt_seq: 1000 + tag,
        ckpt_gen: generation,
        seq_limit: 5000 + 256 * tag,
        ckpt_hash: [tag as u8; 32],
    }
}

fn open<D: BlockDevice>(dev: &mut D, layout: RingLayout) -> Option<(AnchorRing, Found)> {
    let (mut e, k) = engine();
    AnchorRing::open(dev, &mut e, k, layout).expect("open never fails on a crash state")
}

fn write<D: BlockDevice>(
    ring: &mut AnchorRing,
    dev: &mut D,
    a: &Anchor,
) -> Result<u64, storage_backend::StoreError> {
    let (mut e, k) = engine();
    ring.write(dev, &mut e, k, a)
}

/// Reads of a lookup that found its anchor without walking back over torn slots.
fn read_bound(layout: RingLayout) -> u32 {
    layout.units + layout.slots_per_unit().next_power_of_two().trailing_zeros() + 1
}

const NOR_BLOCK: u32 = 256;

fn nor(sectors: usize) -> NorFlashDevice<NorEmulator> {
    NorFlashDevice::new(NorEmulator::new(sectors), NOR_BLOCK).expect("nor")
}

/// A ring of `units` 4-KiB sectors after a one-sector "superblock", on NOR with 256-byte
/// program blocks: 16 slots per unit.
fn nor_layout(units: u32) -> RingLayout {
    RingLayout {
        first_unit: 1,
        units,
        unit_blocks: 16,
        block_size: NOR_BLOCK,
    }
}

#[test]
fn an_erased_or_formatted_ring_has_no_anchor() {
    let layout = nor_layout(2);
    let mut dev = nor(4);
    assert!(open(&mut dev, layout).is_none());
    AnchorRing::format(&mut dev, layout).expect("format");
    assert!(open(&mut dev, layout).is_none());
}

#[test]
fn the_ring_refuses_bad_geometry() {
    let mut dev = nor(4);
    for layout in [
        nor_layout(1),
        nor_layout(4),
        RingLayout {
            unit_blocks: 8,
            ..nor_layout(2)
        },
    ] {
        assert_eq!(
            AnchorRing::format(&mut dev, layout).err(),
            Some(storage_backend::StoreError::BadGeometry),
            "{layout:?}"
        );
    }
}

/// Writes `5 × units × slots` anchors, reopening after every write (and continuing from the
/// reopened ring every third time): each is found, in bounded reads; the ring's units wear
/// evenly.
fn every_write_found<D: BlockDevice>(mut dev: D, layout: RingLayout) -> D {
    let mut ring = AnchorRing::format(&mut dev, layout).expect("format");
    let total = 5 * u64::from(layout.units * layout.slots_per_unit());
    let mut last_g = 0;
    for i in 0..total {
        let g = write(&mut ring, &mut dev, &anchor(i)).expect("write");
        assert!(g > last_g, "generations grow");
        last_g = g;
        let (reopened, found) = open(&mut dev, layout).expect("an anchor");
        assert_eq!(found.anchor, anchor(i), "write {i}");
        assert_eq!(found.g, g);
        assert!(!found.fell_back);
        assert!(
            found.reads <= read_bound(layout),
            "{} reads for {layout:?}",
            found.reads
        );
        if i % 3 == 0 {
            ring = reopened;
        }
    }
    dev
}

#[test]
fn every_write_is_found_across_wraps_on_nor() {
    let layout = nor_layout(3);
    let dev = every_write_found(nor(4), layout);
    let erases = &dev.flash().stats().erase_counts;
    let ring: Vec<u32> = erases[1..4].to_vec();
    let (lo, hi) = (ring.iter().min(), ring.iter().max());
    assert!(
        hi.zip(lo).is_some_and(|(h, l)| h - l <= 1),
        "uneven wear: {ring:?}"
    );
    assert!(
        ring.iter().all(|&n| n >= 5),
        "the ring did not wrap: {ring:?}"
    );
}

#[test]
fn every_write_is_found_on_ram_and_disk_geometries() {
    // 512-byte blocks, 4-KiB units: 8 slots per unit.
    every_write_found(
        RamDevice::new(512, 8, 6),
        RingLayout {
            first_unit: 2,
            units: 4,
            unit_blocks: 8,
            block_size: 512,
        },
    );
    // A disk whose "erase unit" is one 4-KiB block: one slot per unit.
    every_write_found(
        RamDevice::new(4096, 1, 8),
        RingLayout {
            first_unit: 1,
            units: 2,
            unit_blocks: 1,
            block_size: 4096,
        },
    );
}

/// Every program of an anchor slot in `ops`, by (generation, byte offset): the same pair must
/// never be programmed with different bytes (that would reuse a nonce).
fn check_nonces(ops: &[TraceOp], seen: &mut BTreeMap<(u64, u32), Vec<u8>>) {
    for op in ops {
        let TraceOp::Program { offset, data } = op else {
            continue;
        };
        let Ok(c) = parse_chunk(data) else { continue };
        let Ok((h, _)) = c.continuation() else {
            continue;
        };
        let prev = seen.insert((h.offset, *offset), data.clone());
        assert!(
            prev.is_none_or(|p| &p == data),
            "generation {} sealed twice at {offset} with different bytes",
            h.offset
        );
    }
}

/// Rebuilds a NOR device from `base` with `ops[..cut]` applied and `ops[cut]` cut by `mode`.
fn rebuild(base: &[u8], ops: &[TraceOp], cut: usize, mode: CutMode) -> NorFlashDevice<NorEmulator> {
    let mut emu = NorEmulator::from_image(base.to_vec());
    for op in &ops[..cut] {
        emu.apply(op, None);
    }
    if let Some(op) = ops.get(cut) {
        emu.apply(op, Some(mode));
    }
    NorFlashDevice::new(NorEmulator::from_image(emu.image().to_vec()), NOR_BLOCK).expect("nor")
}

/// Runs `f` on `dev` with its operations traced; returns them.
fn traced<T>(
    dev: &mut NorFlashDevice<NorEmulator>,
    f: impl FnOnce(&mut NorFlashDevice<NorEmulator>) -> T,
) -> (T, Vec<TraceOp>) {
    dev.flash_mut().start_trace();
    let r = f(dev);
    (r, dev.flash_mut().take_trace())
}

fn modes(len: usize) -> [CutMode; 4] {
    [
        CutMode::NotApplied,
        CutMode::Torn(1),
        CutMode::Torn(len / 2),
        CutMode::Torn(len.saturating_sub(4)),
    ]
}

fn op_len(op: &TraceOp) -> usize {
    match op {
        TraceOp::Program { data, .. } => data.len(),
        TraceOp::Erase { from, to } => (to - from) as usize,
    }
}

#[test]
fn a_cut_at_any_operation_leaves_the_newest_acknowledged_anchor() {
    let layout = nor_layout(2);
    let mut dev = nor(3);
    let ring = AnchorRing::format(&mut dev, layout).expect("format");
    let base = dev.flash().image().to_vec();
    // 40 anchors: the ring (2 × 16 slots) wraps, so cuts also hit the erase of a unit.
    let writes = 40u64;
    let ops_before = dev.flash().stats().ops;
    let (acked, ops) = traced(&mut dev, |dev| {
        let mut ring = ring;
        let mut acked = Vec::new();
        for i in 0..writes {
            write(&mut ring, dev, &anchor(i)).expect("write");
            // Operations of the trace up to and including this write's last one.
            acked.push((dev.flash().stats().ops - ops_before) as usize);
        }
        acked
    });

    check_nonces(&ops, &mut BTreeMap::new());
    let mut cases = 0;
    for cut in 0..ops.len() {
        // The nonces of this history: the workload up to the cut, then what follows it.
        let mut seen = BTreeMap::new();
        check_nonces(&ops[..=cut], &mut seen);
        // Anchors whose every operation came before the cut are acknowledged.
        let done = acked.iter().filter(|&&end| end <= cut).count() as u64;
        for mode in modes(op_len(&ops[cut])) {
            cases += 1;
            let mut dev = rebuild(&base, &ops, cut, mode);
            let found = open(&mut dev, layout);
            let newest = found.as_ref().map(|(_, f)| f.anchor);
            let ok = match done {
                0 => newest.is_none() || newest == Some(anchor(0)),
                d => newest == Some(anchor(d - 1)) || newest == Some(anchor(d)),
            };
            assert!(
                ok,
                "cut {cut} {mode:?}: found {newest:?} after {done} acked"
            );
            // Power back: the next anchor is written and found; a cut during it (at each of
            // its operations) again leaves the newest durable one.
            let Some((ring, _)) = found else { continue };
            let before = newest;
            let img = dev.flash().image().to_vec();
            let first = anchor_at(1000 + cut as u64, 1000);
            let (r, after_ops) = traced(&mut dev, |dev| {
                let mut ring = ring;
                write(&mut ring, dev, &first).map(|_| ring)
            });
            r.expect("first write after the cut");
            check_nonces(&after_ops, &mut seen);
            let seen_after_first = seen.clone();
            let (_, f) = open(&mut dev, layout).expect("anchor");
            assert_eq!(f.anchor, first, "cut {cut} {mode:?}");
            for (second, op) in after_ops.iter().enumerate() {
                for mode2 in modes(op_len(op)) {
                    let mut seen = seen_after_first.clone();
                    let mut dev2 = rebuild(&img, &after_ops, second, mode2);
                    let (ring2, f2) = open(&mut dev2, layout).expect("anchor after two cuts");
                    assert!(
                        Some(f2.anchor) == before || f2.anchor == first,
                        "cut {cut} {mode:?} then {second} {mode2:?}: {:?}",
                        f2.anchor
                    );
                    let third = anchor_at(2000, 1001);
                    let (r, ops3) = traced(&mut dev2, |dev| {
                        let mut ring2 = ring2;
                        write(&mut ring2, dev, &third).map(|_| ring2)
                    });
                    r.expect("write after two cuts");
                    check_nonces(&ops3, &mut seen);
                    let (_, f3) = open(&mut dev2, layout).expect("anchor");
                    assert_eq!(f3.anchor, third);
                }
            }
        }
    }
    // 40 programs and the erases of the units the ring moved into.
    assert!(ops.len() >= 42, "only {} operations", ops.len());
    assert_eq!(cases, 4 * ops.len());
}

#[test]
fn many_cuts_in_a_row_of_the_first_write_after_mount() {
    // Each attempt tears the slot it programs; the walk back must cross every torn slot and
    // the unit boundary (the design study's "two bad slots in a row is corruption" rule would
    // have refused to mount after the second cut).
    let layout = nor_layout(2);
    let mut dev = nor(3);
    let mut ring = AnchorRing::format(&mut dev, layout).expect("format");
    for i in 0..5 {
        write(&mut ring, &mut dev, &anchor(i)).expect("write");
    }
    let mut seen = BTreeMap::new();
    for attempt in 0..40u64 {
        let (mut ring, found) = open(&mut dev, layout).expect("anchor");
        assert_eq!(found.anchor, anchor(4), "attempt {attempt}");
        assert_eq!(found.fell_back, attempt > 0, "attempt {attempt}");
        // Cut the program of the slot (the erase before a unit's first slot goes through).
        let ops_now = dev.flash().stats().ops;
        let program = u64::from(ring.next_write_erases());
        // 60 bytes: inside the 128-byte chunk, so the slot is really torn.
        dev.flash_mut()
            .set_cut(ops_now + program, CutMode::Torn(60));
        let (r, ops) = traced(&mut dev, |dev| {
            write(&mut ring, dev, &anchor_at(100 + attempt, 100 + attempt))
        });
        assert!(r.is_err(), "attempt {attempt}: the cut did not hit");
        check_nonces(&ops, &mut seen);
        dev = NorFlashDevice::new(
            NorEmulator::from_image(dev.flash().image().to_vec()),
            NOR_BLOCK,
        )
        .expect("nor");
    }
    let (mut ring, _) = open(&mut dev, layout).expect("anchor");
    let last = anchor_at(7, 1000);
    write(&mut ring, &mut dev, &last).expect("write after the cuts");
    let (_, found) = open(&mut dev, layout).expect("anchor");
    assert_eq!(found.anchor, last);
    assert!(!found.fell_back);
}

#[test]
fn a_generation_must_grow() {
    let layout = nor_layout(2);
    let mut dev = nor(3);
    let mut ring = AnchorRing::format(&mut dev, layout).expect("format");
    write(&mut ring, &mut dev, &anchor_at(1, 5)).expect("write");
    for g in [0, 4, 5] {
        assert_eq!(
            write(&mut ring, &mut dev, &anchor_at(2, g)),
            Err(storage_backend::StoreError::InvalidArgument),
            "generation {g} after 5"
        );
    }
    let (mut ring, found) = open(&mut dev, layout).expect("anchor");
    assert_eq!(found.anchor, anchor_at(1, 5));
    assert_eq!(ring.last_generation(), 5);
    assert_eq!(
        write(&mut ring, &mut dev, &anchor_at(2, 5)),
        Err(storage_backend::StoreError::InvalidArgument)
    );
    write(&mut ring, &mut dev, &anchor_at(2, 6)).expect("write");
    assert_eq!(
        open(&mut dev, layout).expect("anchor").1.anchor,
        anchor_at(2, 6)
    );
}

#[test]
fn a_corrupt_newest_slot_falls_back_and_says_so() {
    let layout = RingLayout {
        first_unit: 0,
        units: 2,
        unit_blocks: 8,
        block_size: 512,
    };
    let mut dev = RamDevice::new(512, 8, 2);
    let mut ring = AnchorRing::format(&mut dev, layout).expect("format");
    for i in 0..6 {
        write(&mut ring, &mut dev, &anchor(i)).expect("write");
    }
    // Slot 5 of unit 0 holds anchor 5: flip a byte of its ciphertext.
    dev.image_mut()[5 * 512 + 40] ^= 0x10;
    let (_, found) = open(&mut dev, layout).expect("anchor");
    assert_eq!(found.anchor, anchor(4));
    assert!(found.fell_back);
    // Its generation field: the chunk no longer matches its CRC or its nonce.
    dev.image_mut()[4 * 512 + 9] ^= 0x01;
    let (_, found) = open(&mut dev, layout).expect("anchor");
    assert_eq!(found.anchor, anchor(3));
    assert!(found.fell_back);
}
