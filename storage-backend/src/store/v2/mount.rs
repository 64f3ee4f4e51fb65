//! Format and mount of a v2 region.
//!
//! Mount: superblock → anchor ring (newest authentic slot) → the CKPT record it names (its
//! SHA-256 must match the anchor's) → the tree's root → replay of the log tail only. Nothing
//! else is read: no segment header outside the tail, nothing proportional to the number of
//! objects. Mount writes nothing; the first write after it reserves sequence numbers with an
//! anchor and takes a checkpoint, so every head starts in a fresh segment and the crashed
//! journal segment is never appended to.

use alloc::vec::Vec;

use sha2::Digest;
use sha2::Sha256;

use crate::block::BlockDevice;
use crate::crypto::{CryptoEngine, KeyHandle};
use crate::store::anchor::AnchorRing;
use crate::store::btree::pool::Pool;
use crate::store::btree::{BTree, Config, PageFormat};
use crate::store::error::{Db, IntegrityKind, Result, StoreError};
use crate::store::record::stream;
use crate::store::seal::{Next, SegView, read_record};

use super::ckpt::{Ckpt, FALLBACK_GEN_SKIP, MAX_CKPT};
use super::layout::{Layout, VERSION, read_superblock, region_key, write_superblock};
use super::medium::{LogPos, Medium, MediumStats};
use super::region::{Durable, MountInfo, SEQ_RESERVE, V2Options, V2Region, tree_err};
use super::sit::DeltaTable;

/// The tree's share of the region's budget: what the region's own buffers leave.
fn tree_config(l: &Layout, opts: &V2Options) -> Result<Config> {
    let format = PageFormat::new(l.page_plain as usize).ok_or(StoreError::BadGeometry)?;
    let budget = opts
        .ram_budget
        .checked_sub(opts.overhead())
        .ok_or(StoreError::InvalidArgument)?;
    Ok(Config {
        format,
        max_dirty: l.max_dirty as usize,
        ram_budget: budget,
    })
}

impl<D: BlockDevice, E: CryptoEngine> V2Region<D, E> {
    /// Erases the device and writes an empty region (superblock, anchor ring, a first
    /// checkpoint). `master` is the caller's key for database `db`.
    pub fn format(dev: D, eng: E, master: KeyHandle, db: Db, opts: V2Options) -> Result<Self> {
        Self::format_in(dev, eng, master, db, opts, None)
    }

    /// [`Self::format`], with the tree's pages in `pool` (shared with the other region's tree
    /// under another owner id) instead of a pool of its own.
    pub(crate) fn format_in(
        mut dev: D,
        mut eng: E,
        master: KeyHandle,
        db: Db,
        opts: V2Options,
        pool: Option<(u8, &mut Pool)>,
    ) -> Result<Self> {
        let g = dev.geometry();
        let sb_units = Layout::sb_units_for(g.erase_unit_bytes());
        let used = u64::from(sb_units) + u64::from(opts.ring_units);
        let seg_count = g.erase_units().saturating_sub(used) / u64::from(opts.seg_units.max(1));
        let lay = Layout {
            bs: g.block_size as usize,
            unit_blocks: g.blocks_per_erase_unit,
            sb_units,
            ring_units: opts.ring_units,
            seg_units: opts.seg_units,
            seg_count: u32::try_from(seg_count).map_err(|_| StoreError::BadGeometry)?,
            page_plain: opts.page_plain,
            max_dirty: opts.max_dirty,
        };
        if seg_count < 4 || opts.seg_units == 0 || lay.seg_bytes() < 4 * lay.bs + 2 * 4096 {
            return Err(StoreError::BadGeometry);
        }
        let cfg = tree_config(&lay, &opts)?;
        let key = region_key(&mut eng, master, db, &opts.uuid)?;
        write_superblock(&mut dev, &mut eng, key, db, opts.uuid, &lay)?;
        let ring = AnchorRing::format(&mut dev, lay.ring())?;
        let m = Medium {
            dev,
            eng,
            key,
            lay,
            j: None,
            i: None,
            next_seq: 1,
            // Nothing is durable yet: a cut during format leaves no anchor (not formatted).
            seq_limit: SEQ_RESERVE,
            deltas: DeltaTable::default(),
            free: Vec::new(),
            journal_bytes: 0,
            stats: MediumStats::default(),
            page_io: Vec::new(),
        };
        let (tree, mut pool) = match pool {
            None => (BTree::create(m, cfg), None),
            Some((owner, p)) => (BTree::with_pool(m, cfg, owner, p, None), Some(p)),
        };
        let tree = tree.map_err(tree_err)?;
        let mut r = V2Region {
            tree,
            ring,
            db,
            opts,
            chain: chain0(&opts.uuid),
            next_txn: 1,
            generation: 0,
            objects: 0,
            bytes: 0,
            durable: Durable::default(),
            txn: None,
            fresh: false,
            halted: false,
            sit_cursor: 0,
            scan_exhausted: false,
            info: MountInfo::default(),
        };
        // A shared pool is lent for the first checkpoint and given back to the caller.
        if let Some(p) = pool.as_mut() {
            r.swap_pool(p);
        }
        let done = r.refill_free().and_then(|()| r.checkpoint());
        if let Some(p) = pool.as_mut() {
            r.swap_pool(p);
        }
        done?;
        Ok(r)
    }

    /// Mounts the region with `opts`' budget and triggers (geometry comes from the medium).
    pub fn mount(dev: D, eng: E, master: KeyHandle, db: Db, opts: V2Options) -> Result<Self> {
        Self::mount_in(dev, eng, master, db, opts, None)
    }

    /// [`Self::mount`], with the tree's pages in a shared `pool` (see [`Self::format_in`]).
    pub(crate) fn mount_in(
        mut dev: D,
        mut eng: E,
        master: KeyHandle,
        db: Db,
        opts: V2Options,
        pool: Option<(u8, &mut Pool)>,
    ) -> Result<Self> {
        let (lay, key) = read_superblock(&mut dev, &mut eng, master, db)?;
        let opts = V2Options {
            max_dirty: lay.max_dirty,
            page_plain: lay.page_plain,
            ..opts
        };
        let cfg = tree_config(&lay, &opts)?;
        let Some((ring, found)) = AnchorRing::open(&mut dev, &mut eng, key, lay.ring())? else {
            return Err(StoreError::integrity(IntegrityKind::Anchor));
        };
        let a = found.anchor;
        if a.version != VERSION || a.ckpt_seg >= lay.seg_count {
            return Err(StoreError::integrity(IntegrityKind::Anchor));
        }
        let mut m = Medium {
            dev,
            eng,
            key,
            lay,
            j: None,
            i: None,
            // After a fallback, a newer anchor that is now unreadable may have reserved up to
            // `S` more sequence numbers.
            next_seq: a
                .seq_limit
                .saturating_add(1 + if found.fell_back { SEQ_RESERVE } else { 0 }),
            seq_limit: a.seq_limit,
            deltas: DeltaTable::default(),
            free: Vec::new(),
            journal_bytes: 0,
            stats: MediumStats::default(),
            page_io: Vec::new(),
        };
        let at = LogPos {
            seg: a.ckpt_seg,
            off: a.ckpt_off,
            seq: a.ckpt_seq,
        };
        let plain = read_ckpt(&mut m, at)?;
        let hash: [u8; 32] = Sha256::digest(&plain).into();
        if hash != a.ckpt_hash {
            return Err(StoreError::integrity_at(
                IntegrityKind::Anchor,
                at.seg,
                at.off as usize,
            ));
        }
        let ck = Ckpt::decode(&plain)?;
        m.deltas = ck.carry.clone();
        let (tree, mut pool) = match pool {
            None => (BTree::open(m, cfg, ck.root), None),
            Some((owner, p)) => (BTree::with_pool(m, cfg, owner, p, Some(ck.root)), Some(p)),
        };
        let tree = tree.map_err(tree_err)?;
        let tail = if ck.in_flight.is_some() && ck.tail.seq != 0 {
            ck.tail
        } else {
            at
        };
        let mut generation = found.g.max(ck.generation);
        if found.fell_back {
            // A newer anchor may have used generations above this one (see DESIGN.md).
            generation = generation.saturating_add(FALLBACK_GEN_SKIP);
        }
        let mut r = V2Region {
            tree,
            ring,
            db,
            opts,
            chain: ck.chain,
            next_txn: ck.next_txn,
            generation,
            objects: ck.objects,
            bytes: ck.bytes,
            durable: Durable {
                ckpt: at,
                tail,
                hash,
            },
            txn: None,
            fresh: true,
            halted: false,
            sit_cursor: 0,
            scan_exhausted: false,
            info: MountInfo {
                fell_back: found.fell_back,
                anchor_reads: found.reads,
                next_seq: a
                    .seq_limit
                    .saturating_add(1 + if found.fell_back { SEQ_RESERVE } else { 0 }),
                seq_limit: a.seq_limit,
                ..MountInfo::default()
            },
        };
        if let Some(p) = pool.as_mut() {
            r.swap_pool(p);
        }
        let done = r.replay(tail, ck.in_flight, ck.next_txn);
        if let Some(p) = pool.as_mut() {
            r.swap_pool(p);
        }
        done?;
        Ok(r)
    }
}

/// `chain_0` of a v2 region.
fn chain0(uuid: &[u8; 16]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"zos-store/v2/chain");
    h.update(uuid);
    h.finalize().into()
}

/// Reads the CKPT record at `at` (its length is not known before it is read).
fn read_ckpt<D: BlockDevice, E: CryptoEngine>(m: &mut Medium<D, E>, at: LogPos) -> Result<Vec<u8>> {
    let span = crate::store::seal::sealed_len(MAX_CKPT);
    let (buf, base) = m.read_span(at.seg, at.off as usize, span)?;
    let v = SegView {
        bytes: &buf,
        base,
        seq: at.seq,
    };
    match read_record(&mut m.eng, m.key, v, at.off as usize) {
        Next::Record(r) if r.off == at.off as usize && r.stream == stream::CKPT => Ok(r.plain),
        _ => Err(StoreError::integrity_at(
            IntegrityKind::Anchor,
            at.seg,
            at.off as usize,
        )),
    }
}
