//! The anchor ring: where a region records its newest checkpoint, found at mount in a number of
//! reads that depends on neither the device size nor the number of objects.
//!
//! The ring is `units` erase units. Each unit holds `slots_per_unit` slots of
//! `max(128 B, block)` rounded to whole blocks, programmed strictly in order, each once per erase
//! of its unit. A slot holds one 128-byte continuation chunk (stream [`STREAM_ANCHOR`]) whose
//! 48-bit offset field carries the anchor's generation `g` — its checkpoint's generation — in
//! plaintext, sealed with nonce `(2⁶³ | g, byte offset of the slot in the ring)`, a nonce family
//! disjoint from the segments' `(seq < 2⁶³, offset)`.
//!
//! **Nonces.** The ring cannot count its own attempts across crashes: a torn slot may be erased
//! again before anything records it (when it started a unit), so a counter kept in the ring
//! would repeat. The caller supplies `g` instead and guarantees it was never used for an
//! attempt before: the region uses the generation of the checkpoint the anchor names, whose
//! checkpoint record is durable in the log *before* the anchor is programmed, and replay after a
//! crash continues above every checkpoint record it finds in the tail — including those whose
//! anchor was torn. The ring refuses a generation not above every one it has seen or written.
//!
//! Guarantees:
//! - **Newest durable anchor survives any cut.** A write moves to the next unit (erasing it
//!   first) only when the current one is full; that unit holds only anchors older than every
//!   anchor in the current unit, so erasing it never destroys the newest durable anchor. A torn
//!   slot program leaves the slots before it intact.
//! - **Bounded mount.** [`AnchorRing::open`] reads slot 0 of every unit, binary-searches the end
//!   of the programmed slots in the newest unit, and walks back over slots that do not
//!   authenticate (torn by cuts) to the newest that does: `units + log2(slots) + 1` reads plus
//!   one per torn slot at the end of the unit (at most the unit's slots, after as many
//!   consecutive cuts).
//! - **Never wrong data.** A slot is used only if its CRC holds and it authenticates under the
//!   region key with its position-bound nonce; a corrupt newest slot makes mount fall back to
//!   an older anchor, reported in [`Found::fell_back`] so the caller can be conservative (its
//!   sequence-number reservation, for one).

use alloc::vec;

use crate::block::{BlockDevice, ERASED};
use crate::chunk::codec::{CONT_DATA_OFFSET, ContinuationHeader, parse_chunk, write_continuation};
use crate::crypto::{CryptoEngine, KeyHandle, TAG_LEN};

use super::error::{IntegrityKind, Result, StoreError};
use super::seal::{aad, nonce};

/// Stream ID of anchor chunks.
pub const STREAM_ANCHOR: u32 = 10;
/// The bit that sets anchor nonces apart from segment nonces.
const ANCHOR_NONCE_FLAG: u64 = 1 << 63;
/// Bytes of an anchor chunk on the medium.
pub const ANCHOR_CHUNK: usize = 128;
/// Plaintext bytes of an anchor.
const PAYLOAD: usize = 2 + 4 + 4 + 8 + 8 + 8 + 32;
/// The largest generation the chunk's 48-bit offset field can carry.
const MAX_G: u64 = (1 << 48) - 1;

/// What an anchor points at: the checkpoint record and what mount needs before reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// Format version of the region that wrote it.
    pub version: u16,
    /// Segment of the checkpoint record.
    pub ckpt_seg: u32,
    /// Byte offset of the checkpoint record in its segment.
    pub ckpt_off: u32,
    /// Sequence number of that segment (the nonce prefix of the record).
    pub ckpt_seq: u64,
    /// Generation of the checkpoint.
    pub ckpt_gen: u64,
    /// Highest segment sequence number the writer may use before it writes another anchor.
    pub seq_limit: u64,
    /// SHA-256 of the checkpoint record's plaintext.
    pub ckpt_hash: [u8; 32],
}

impl Anchor {
    fn encode(&self) -> [u8; PAYLOAD] {
        let mut p = [0u8; PAYLOAD];
        p[0..2].copy_from_slice(&self.version.to_le_bytes());
        p[2..6].copy_from_slice(&self.ckpt_seg.to_le_bytes());
        p[6..10].copy_from_slice(&self.ckpt_off.to_le_bytes());
        p[10..18].copy_from_slice(&self.ckpt_seq.to_le_bytes());
        p[18..26].copy_from_slice(&self.ckpt_gen.to_le_bytes());
        p[26..34].copy_from_slice(&self.seq_limit.to_le_bytes());
        p[34..66].copy_from_slice(&self.ckpt_hash);
        p
    }

    fn decode(p: &[u8]) -> Option<Self> {
        if p.len() != PAYLOAD {
            return None;
        }
        let u32_at = |i: usize| p.get(i..i + 4)?.try_into().ok().map(u32::from_le_bytes);
        let u64_at = |i: usize| p.get(i..i + 8)?.try_into().ok().map(u64::from_le_bytes);
        Some(Self {
            version: u16::from_le_bytes(p.get(0..2)?.try_into().ok()?),
            ckpt_seg: u32_at(2)?,
            ckpt_off: u32_at(6)?,
            ckpt_seq: u64_at(10)?,
            ckpt_gen: u64_at(18)?,
            seq_limit: u64_at(26)?,
            ckpt_hash: p.get(34..66)?.try_into().ok()?,
        })
    }
}

/// Where the ring is on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// First erase unit of the ring on the device.
    pub first_unit: u64,
    /// Erase units in the ring (at least 2).
    pub units: u32,
    /// Blocks per erase unit.
    pub unit_blocks: u32,
    /// Bytes per block.
    pub block_size: u32,
}

impl RingLayout {
    /// Blocks per slot: enough for one anchor chunk, at least one block.
    pub fn slot_blocks(&self) -> u32 {
        (ANCHOR_CHUNK as u32)
            .div_ceil(self.block_size.max(1))
            .max(1)
    }

    /// Slots per erase unit.
    pub fn slots_per_unit(&self) -> u32 {
        self.unit_blocks / self.slot_blocks()
    }

    fn slot_bytes(&self) -> usize {
        (self.slot_blocks() * self.block_size) as usize
    }

    /// First device block of `slot` in ring unit `unit`.
    fn slot_block(&self, unit: u32, slot: u32) -> u64 {
        (self.first_unit + u64::from(unit)) * u64::from(self.unit_blocks)
            + u64::from(slot * self.slot_blocks())
    }

    /// Byte offset of the slot from the start of the ring (the nonce's offset part).
    fn slot_offset(&self, unit: u32, slot: u32) -> Result<u32> {
        let bytes = (u64::from(unit) * u64::from(self.unit_blocks)
            + u64::from(slot * self.slot_blocks()))
            * u64::from(self.block_size);
        u32::try_from(bytes).map_err(|_| StoreError::BadGeometry)
    }

    fn check<D: BlockDevice>(&self, dev: &D) -> Result<()> {
        let g = dev.geometry();
        let fits = g
            .check_units(self.first_unit, u64::from(self.units))
            .is_ok();
        let ring_bytes = u64::from(self.units) * g.erase_unit_bytes();
        if self.units < 2
            || g.blocks_per_erase_unit != self.unit_blocks
            || g.block_size != self.block_size
            || self.slots_per_unit() == 0
            || !fits
            || ring_bytes > u64::from(u32::MAX)
        {
            return Err(StoreError::BadGeometry);
        }
        Ok(())
    }
}

/// What [`AnchorRing::open`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The newest anchor that authenticates, with its generation.
    pub anchor: Anchor,
    /// Its generation.
    pub g: u64,
    /// Some slot newer than it may have been programmed but does not authenticate (torn by a
    /// cut, or corrupt): the caller cannot tell which, and must not assume that the newest
    /// anchor it wrote is this one.
    pub fell_back: bool,
    /// Slots read to find it.
    pub reads: u32,
}

/// The writer's position in the ring.
#[derive(Debug)]
pub struct AnchorRing {
    layout: RingLayout,
    /// Ring unit of the next slot.
    unit: u32,
    /// The next slot; `slots_per_unit` means "move to the next unit first".
    next_slot: u32,
    /// The highest generation found at open or written since: the next must be above it.
    last_g: u64,
    /// A device error hit a write: the position is unsure until the ring is opened again.
    halted: bool,
}

/// What reading one slot gave.
enum Slot {
    Erased,
    Valid(u64, Anchor),
    /// Programmed (not all erased bytes) but not an authentic anchor.
    Invalid,
}

fn read_slot<D: BlockDevice, E: CryptoEngine>(
    dev: &mut D,
    eng: &mut E,
    key: KeyHandle,
    layout: &RingLayout,
    unit: u32,
    slot: u32,
) -> Result<Slot> {
    let mut buf = vec![0u8; layout.slot_bytes()];
    dev.read(layout.slot_block(unit, slot), &mut buf)
        .map_err(StoreError::Device)?;
    if buf.iter().all(|&b| b == ERASED) {
        return Ok(Slot::Erased);
    }
    let off = layout.slot_offset(unit, slot)?;
    let Some((g, anchor)) = open_slot(eng, key, &buf, off) else {
        return Ok(Slot::Invalid);
    };
    Ok(Slot::Valid(g, anchor))
}

/// Opens the anchor chunk at the start of `buf`, programmed at ring offset `off`.
fn open_slot<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    buf: &[u8],
    off: u32,
) -> Option<(u64, Anchor)> {
    let c = parse_chunk(buf).ok()?;
    let (h, data) = c.continuation().ok()?;
    if h.stream_id != STREAM_ANCHOR || !h.eof || data.len() != PAYLOAD + TAG_LEN {
        return None;
    }
    let mut plain = [0u8; PAYLOAD];
    plain.copy_from_slice(&data[..PAYLOAD]);
    let tag: [u8; TAG_LEN] = data[PAYLOAD..].try_into().ok()?;
    let n = nonce(ANCHOR_NONCE_FLAG | h.offset, off);
    eng.open(key, &n, &aad(buf), &mut plain, &tag).ok()?;
    Some((h.offset, Anchor::decode(&plain)?))
}

/// Seals `anchor` with generation `g` for ring offset `off` into a slot-sized buffer.
fn seal_slot<E: CryptoEngine>(
    eng: &mut E,
    key: KeyHandle,
    slot_bytes: usize,
    g: u64,
    off: u32,
    anchor: &Anchor,
) -> Result<alloc::vec::Vec<u8>> {
    let mut buf = vec![ERASED; slot_bytes];
    let mut data = [0u8; PAYLOAD + TAG_LEN];
    data[..PAYLOAD].copy_from_slice(&anchor.encode());
    let h = ContinuationHeader {
        stream_id: STREAM_ANCHOR,
        eof: true,
        offset: g,
    };
    let len = write_continuation(&mut buf, h, &data).map_err(|_| StoreError::InvalidArgument)?;
    if len != ANCHOR_CHUNK {
        return Err(StoreError::InvalidArgument);
    }
    let n = nonce(ANCHOR_NONCE_FLAG | g, off);
    let a = aad(&buf);
    let body = CONT_DATA_OFFSET..CONT_DATA_OFFSET + PAYLOAD;
    let tag = eng
        .seal(key, &n, &a, &mut buf[body])
        .map_err(StoreError::Crypto)?;
    buf[CONT_DATA_OFFSET + PAYLOAD..CONT_DATA_OFFSET + PAYLOAD + TAG_LEN].copy_from_slice(&tag);
    let word = u16::from_le_bytes([buf[0], buf[1]]);
    let crc = crate::chunk::crc::chunk_crc(word, &buf[4..CONT_DATA_OFFSET + PAYLOAD + TAG_LEN]);
    buf[2..4].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

impl AnchorRing {
    /// Erases the ring: afterwards it holds no anchor. Only for a new region (its key, hence its
    /// nonces, must be new too).
    pub fn format<D: BlockDevice>(dev: &mut D, layout: RingLayout) -> Result<Self> {
        layout.check(dev)?;
        dev.erase(layout.first_unit, u64::from(layout.units))
            .map_err(StoreError::Device)?;
        dev.flush().map_err(StoreError::Device)?;
        Ok(Self {
            layout,
            unit: 0,
            next_slot: 0,
            last_g: 0,
            halted: false,
        })
    }

    /// Finds the newest anchor that authenticates. `Ok(None)`: the ring holds no anchor at all
    /// (erased, or every unit's first slot unreadable). Writes nothing.
    ///
    /// Any number of torn slots after the newest valid one (one per crash that hit an anchor
    /// write) is walked back over; the next write goes to the slot after the last programmed
    /// one, never over a torn one.
    pub fn open<D: BlockDevice, E: CryptoEngine>(
        dev: &mut D,
        eng: &mut E,
        key: KeyHandle,
        layout: RingLayout,
    ) -> Result<Option<(Self, Found)>> {
        layout.check(dev)?;
        let slots = layout.slots_per_unit();
        let mut reads = 0u32;
        // 1. The current unit: the one whose first slot holds the highest generation.
        let mut current: Option<(u32, u64, Anchor)> = None;
        // A first slot that is programmed but not authentic: a cut while starting that unit
        // (then the newest anchor is in the unit before it) or corruption (then it may not be).
        let mut unit_start_lost = false;
        for unit in 0..layout.units {
            reads += 1;
            match read_slot(dev, eng, key, &layout, unit, 0)? {
                Slot::Valid(g, a) if current.is_none_or(|(_, best, _)| g > best) => {
                    current = Some((unit, g, a));
                }
                Slot::Invalid => unit_start_lost = true,
                Slot::Valid(..) | Slot::Erased => {}
            }
        }
        let Some((unit, g0, a0)) = current else {
            return Ok(None);
        };
        // 2. Slots are programmed in order: binary-search the last one that is not erased.
        let (mut lo, mut hi) = (0u32, slots);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            reads += 1;
            match read_slot(dev, eng, key, &layout, unit, mid)? {
                Slot::Erased => hi = mid,
                Slot::Valid(..) | Slot::Invalid => lo = mid,
            }
        }
        // 3. Walk back over programmed slots that do not authenticate.
        let mut newest = (0u32, g0, a0);
        let mut slot = lo;
        while slot > 0 {
            reads += 1;
            if let Slot::Valid(g, a) = read_slot(dev, eng, key, &layout, unit, slot)? {
                if g <= g0 {
                    // Generations only grow within a unit: an older anchor here is not ours.
                    return Err(StoreError::integrity(IntegrityKind::Anchor));
                }
                newest = (slot, g, a);
                break;
            }
            slot -= 1;
        }
        let (valid_slot, g, anchor) = newest;
        let ring = Self {
            layout,
            unit,
            // The next slot after the last programmed one (an erased slot, or "next unit").
            next_slot: lo + 1,
            last_g: g,
            halted: false,
        };
        let found = Found {
            anchor,
            g,
            fell_back: valid_slot != lo || unit_start_lost,
            reads,
        };
        Ok(Some((ring, found)))
    }

    /// Programs `anchor` into the next slot under generation `anchor.ckpt_gen` and flushes:
    /// when this returns, mount finds it (or a newer one). The generation must be above every
    /// one found or written (`InvalidArgument` otherwise) and never used for an attempt before
    /// (the caller's guarantee, see the module docs). A device error halts the ring until it is
    /// opened again.
    pub fn write<D: BlockDevice, E: CryptoEngine>(
        &mut self,
        dev: &mut D,
        eng: &mut E,
        key: KeyHandle,
        anchor: &Anchor,
    ) -> Result<u64> {
        if self.halted {
            return Err(StoreError::Halted);
        }
        let g = anchor.ckpt_gen;
        if g <= self.last_g || g > MAX_G {
            return Err(StoreError::InvalidArgument);
        }
        let layout = self.layout;
        if self.next_slot >= layout.slots_per_unit() {
            self.unit = (self.unit + 1) % layout.units;
            self.next_slot = 0;
        }
        let (unit, slot) = (self.unit, self.next_slot);
        // Advance first: whatever happens below, this slot and generation are used up.
        self.next_slot += 1;
        self.last_g = g;
        let buf = seal_slot(
            eng,
            key,
            layout.slot_bytes(),
            g,
            layout.slot_offset(unit, slot)?,
            anchor,
        )?;
        let r = (|| {
            if slot == 0 {
                // The unit holds only anchors older than every one in the current unit.
                dev.erase(layout.first_unit + u64::from(unit), 1)?;
            }
            dev.write(layout.slot_block(unit, slot), &buf)?;
            dev.flush()
        })();
        if let Err(e) = r {
            self.halted = true;
            return Err(StoreError::Device(e));
        }
        Ok(g)
    }

    /// The ring's layout.
    pub fn layout(&self) -> RingLayout {
        self.layout
    }

    /// Whether the next [`Self::write`] starts a unit (erases it before programming).
    pub fn next_write_erases(&self) -> bool {
        self.next_slot == 0 || self.next_slot >= self.layout.slots_per_unit()
    }

    /// The highest generation found or written: the next anchor's must be above it.
    pub fn last_generation(&self) -> u64 {
        self.last_g
    }
}
