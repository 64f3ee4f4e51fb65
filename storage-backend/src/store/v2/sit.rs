//! Per-segment state (SIT) and the delta table.
//!
//! A SIT entry is an ordinary tree entry (namespace 0, key `'S' ‖ segment u32 BE`, inline value
//! of 24 bytes), written copy-on-write at checkpoints. Between checkpoints, changes of a
//! segment's live bytes and its (re)opening go to the [`DeltaTable`] instead of the tree, so a
//! commit never dirties SIT pages; a checkpoint folds the table into the entries. The exact
//! state of a segment is its entry plus its delta.

use alloc::collections::BTreeMap;

use crate::store::btree::{Key, Value};
use crate::store::error::{IntegrityKind, Result, StoreError};

/// Namespace of system keys (SIT entries).
pub const NS_SYSTEM: u8 = 0;
/// Namespace of user keys.
pub const NS_USER: u8 = 1;

/// Head classes a segment can be opened for.
pub mod class {
    /// Never opened (free since format).
    pub const NONE: u8 = 0;
    /// The journal: transaction records, COMMIT, LINK, CKPT (replayed).
    pub const JOURNAL: u8 = 1;
    /// Index pages written by checkpoints (referenced, not replayed).
    pub const INDEX: u8 = 2;
}

/// The SIT key of segment `seg`.
pub fn sit_key(seg: u32) -> [u8; 5] {
    let mut k = [b'S', 0, 0, 0, 0];
    k[1..].copy_from_slice(&seg.to_be_bytes());
    k
}

/// The key as a tree key.
pub fn tree_key(k: &[u8; 5]) -> Key<'_> {
    Key::new(NS_SYSTEM, k)
}

/// The state of one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SitEntry {
    /// Sequence number of the current incarnation (0: never opened).
    pub seq: u64,
    /// Bytes of chunks the committed state references.
    pub live: u32,
    /// Erases so far.
    pub erase: u32,
    /// Head class of the current incarnation.
    pub class: u8,
}

impl SitEntry {
    const LEN: usize = 24;

    /// The inline tree value.
    pub fn to_value(&self) -> Value {
        let mut b = [0u8; Self::LEN];
        b[0..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..12].copy_from_slice(&self.live.to_le_bytes());
        b[12..16].copy_from_slice(&self.erase.to_le_bytes());
        b[16] = self.class;
        // `Value::inline` accepts up to 255 bytes; 24 always fits.
        Value::inline(&b).unwrap_or(Value::Inline {
            len: 0,
            bytes: [0; 255],
        })
    }

    /// Decodes a tree value; anything else than a 24-byte inline value is corrupt.
    pub fn from_value(v: &Value) -> Result<SitEntry> {
        let Value::Inline { len, bytes } = v else {
            return Err(StoreError::integrity(IntegrityKind::Accounting));
        };
        if usize::from(*len) != Self::LEN {
            return Err(StoreError::integrity(IntegrityKind::Accounting));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut q = [0u8; 8];
        q.copy_from_slice(&bytes[0..8]);
        Ok(SitEntry {
            seq: u64::from_le_bytes(q),
            live: u32_at(8),
            erase: u32_at(12),
            class: bytes[16],
        })
    }
}

/// A pending change of one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// The segment was (re)opened since the last fold: its entry restarts from this state with
    /// live 0 (the old incarnation's entry no longer applies).
    pub opened: Option<SitEntry>,
    /// Change of live bytes.
    pub dlive: i64,
}

impl Delta {
    /// Applies the delta to `base` (the entry in the tree).
    pub fn apply(&self, base: SitEntry) -> Result<SitEntry> {
        let mut e = self.opened.unwrap_or(base);
        let live = i64::from(e.live) + self.dlive;
        e.live =
            u32::try_from(live).map_err(|_| StoreError::integrity(IntegrityKind::Accounting))?;
        Ok(e)
    }
}

/// Changes since the last fold, by segment (bounded by the caller: a checkpoint is due when it
/// holds `E` entries).
#[derive(Clone, Debug, Default)]
pub struct DeltaTable {
    /// The entries.
    pub map: BTreeMap<u32, Delta>,
}

impl DeltaTable {
    /// Adds `d` bytes to the live count of `seg`.
    pub fn add(&mut self, seg: u32, d: i64) {
        self.map.entry(seg).or_default().dlive += d;
    }

    /// Records that `seg` was opened as `e` (live restarts at 0).
    pub fn opened(&mut self, seg: u32, e: SitEntry) {
        self.map.insert(
            seg,
            Delta {
                opened: Some(e),
                dlive: 0,
            },
        );
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
