//! The full integrity check of a v2 region: the tree's structure (every page read back and
//! validated), every value read and authenticated, and the per-segment live counts (SIT entries
//! plus the delta table) equal to what the tree references — journal segments the bytes of the
//! PUT records the leaves point at, index segments one page chunk per clean page.

use alloc::collections::BTreeMap;

use crate::block::BlockDevice;
use crate::crypto::CryptoEngine;
use crate::store::btree::{Key, Value};
use crate::store::error::{IntegrityKind, Result, StoreError};

use super::region::{V2Region, tree_err};
use super::sit::{NS_USER, class};

/// What [`V2Region::check`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Objects (all values read and authenticated).
    pub objects: u64,
    /// Pages of the tree.
    pub pages: u64,
    /// Tree height.
    pub height: usize,
}

impl<D: BlockDevice, E: CryptoEngine> V2Region<D, E> {
    /// Checks everything (reads the whole tree and every value: O(data), unlike mount).
    pub fn check(&mut self) -> Result<CheckReport> {
        let st = self.tree.stats().map_err(tree_err)?;
        let pages: usize = st.pages.iter().sum();
        let mut refs: BTreeMap<u32, u64> = BTreeMap::new();
        let mut keys = alloc::vec::Vec::new();
        {
            let mut c = self.tree.cursor(Key::new(NS_USER, &[])).map_err(tree_err)?;
            while let Some(e) = c.next_entry().map_err(tree_err)? {
                if let Value::Loc { seg, disk_len, .. } = e.value {
                    *refs.entry(seg).or_default() += u64::from(disk_len);
                }
                keys.push((e.key().to_vec(), e.value));
            }
        }
        if keys.len() as u64 != self.objects {
            return Err(StoreError::integrity(IntegrityKind::Accounting));
        }
        for (k, v) in &keys {
            self.read_value(k, v)?;
        }
        let chunk = self.tree.store().page_chunk() as u64;
        let clean = (pages - self.tree.dirty_pages()) as u64;
        let mut index_live = 0u64;
        for seg in 0..self.tree.store().lay.seg_count {
            let base = self.sit_entry(seg)?;
            let e = match self.tree.store().deltas.map.get(&seg) {
                Some(d) => d.apply(base)?,
                None => base,
            };
            let want = refs.get(&seg).copied().unwrap_or(0);
            match e.class {
                class::INDEX => index_live += u64::from(e.live),
                _ if u64::from(e.live) != want => {
                    return Err(StoreError::integrity_at(IntegrityKind::Accounting, seg, 0));
                }
                _ => {}
            }
            if e.class != class::JOURNAL && want != 0 {
                return Err(StoreError::integrity_at(IntegrityKind::Accounting, seg, 0));
            }
        }
        if index_live != clean * chunk {
            return Err(StoreError::integrity(IntegrityKind::Accounting));
        }
        Ok(CheckReport {
            objects: keys.len() as u64,
            pages: pages as u64,
            height: st.height,
        })
    }
}
