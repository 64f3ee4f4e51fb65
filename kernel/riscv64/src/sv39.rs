//! Sv39 page tables (RISC-V privileged spec, section "Sv39: Page-Based 39-bit Virtual-Memory
//! System"): three levels of 512 eight-byte entries, 4 KiB pages, 2 MiB and 1 GiB leaves.
//!
//! The walker is generic over [`TableMemory`], which turns a table's physical address into a
//! mutable table: on the target that is the kernel's identity map of RAM, in host tests a fake
//! arena. So mapping, translation and permission checks are tested on the host.

use crate::frames::FRAME_SIZE;

/// Valid.
pub const PTE_V: u64 = 1 << 0;
/// Readable.
pub const PTE_R: u64 = 1 << 1;
/// Writable.
pub const PTE_W: u64 = 1 << 2;
/// Executable.
pub const PTE_X: u64 = 1 << 3;
/// Reachable from U-mode.
pub const PTE_U: u64 = 1 << 4;
/// Global (present in every address space).
pub const PTE_G: u64 = 1 << 5;
/// Accessed (set up front: QEMU would otherwise fault or set it on first use).
pub const PTE_A: u64 = 1 << 6;
/// Dirty (set up front for writable pages).
pub const PTE_D: u64 = 1 << 7;

/// Entries per table.
pub const ENTRIES: usize = 512;
/// One page table.
pub type Table = [u64; ENTRIES];

/// The first virtual address past the lower half of Sv39 (user addresses lie below).
pub const LOWER_HALF_END: usize = 1 << 38;
/// The size of a level-2 (1 GiB) leaf.
pub const GIGAPAGE: usize = 1 << 30;

/// The `satp` MODE field value for Sv39.
pub const SATP_MODE_SV39: u64 = 8 << 60;

/// Where page-table pages come from and how the walker reaches them.
pub trait TableMemory {
    /// A zeroed frame for a new table, or `None` when memory is exhausted.
    fn alloc_table(&mut self) -> Option<usize>;
    /// The table at physical address `pa`, which a previous `alloc_table` returned.
    fn table(&mut self, pa: usize) -> &mut Table;
}

/// Why a mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate table.
    OutOfMemory,
    /// The virtual page is already mapped (or covered by a large leaf).
    AlreadyMapped,
    /// The address is not page-aligned or not in the lower half.
    BadAddress,
}

/// What an access needs from a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read (load).
    Read,
    /// A write (store).
    Write,
}

/// The `satp` value for a root table at `root_pa` with address-space id `asid`.
pub const fn satp(root_pa: usize, asid: u16) -> u64 {
    SATP_MODE_SV39 | ((asid as u64) << 44) | (root_pa as u64 >> 12)
}

/// The VPN index of `va` at `level` (2 = root).
pub const fn vpn(va: usize, level: usize) -> usize {
    (va >> (12 + 9 * level)) & 0x1ff
}

const fn pte_pa(pte: u64) -> usize {
    ((pte >> 10) << 12) as usize
}

const fn leaf(pa: usize, flags: u64) -> u64 {
    ((pa as u64 >> 12) << 10) | flags | PTE_V | PTE_A | if flags & PTE_W != 0 { PTE_D } else { 0 }
}

/// The physical address a leaf entry points at.
pub const fn leaf_pa(pte: u64) -> usize {
    pte_pa(pte)
}

/// Installs a 1 GiB leaf in the root table (the kernel's own mappings).
pub fn map_gigapage(root: &mut Table, va: usize, pa: usize, flags: u64) {
    root[vpn(va, 2)] = leaf(pa, flags);
}

/// Maps the 4 KiB page at `va` to the frame at `pa` with `flags` (R/W/X/U/G).
pub fn map_page<M: TableMemory>(
    mem: &mut M,
    root: usize,
    va: usize,
    pa: usize,
    flags: u64,
) -> Result<(), MapError> {
    if !va.is_multiple_of(FRAME_SIZE) || !pa.is_multiple_of(FRAME_SIZE) || va >= LOWER_HALF_END {
        return Err(MapError::BadAddress);
    }
    let mut table = root;
    for level in [2, 1] {
        let index = vpn(va, level);
        let pte = mem.table(table)[index];
        if pte & PTE_V == 0 {
            let next = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
            mem.table(table)[index] = ((next as u64 >> 12) << 10) | PTE_V;
            table = next;
        } else if pte & (PTE_R | PTE_W | PTE_X) != 0 {
            return Err(MapError::AlreadyMapped);
        } else {
            table = pte_pa(pte);
        }
    }
    let slot = &mut mem.table(table)[vpn(va, 0)];
    if *slot & PTE_V != 0 {
        return Err(MapError::AlreadyMapped);
    }
    *slot = leaf(pa, flags);
    Ok(())
}

/// Adds permission `flags` to the existing 4 KiB leaf at `va` (two ELF segments sharing a page).
pub fn add_flags<M: TableMemory>(mem: &mut M, root: usize, va: usize, flags: u64) -> bool {
    let mut table = root;
    for level in [2, 1] {
        let pte = mem.table(table)[vpn(va, level)];
        if pte & PTE_V == 0 || pte & (PTE_R | PTE_W | PTE_X) != 0 {
            return false;
        }
        table = pte_pa(pte);
    }
    let slot = &mut mem.table(table)[vpn(va, 0)];
    if *slot & PTE_V == 0 {
        return false;
    }
    *slot |= flags | if flags & PTE_W != 0 { PTE_D } else { 0 };
    true
}

/// The leaf entry mapping `va`, and the size of the page it maps.
pub fn lookup<M: TableMemory>(mem: &mut M, root: usize, va: usize) -> Option<(u64, usize)> {
    if va >= LOWER_HALF_END {
        return None;
    }
    let mut table = root;
    for level in [2, 1, 0] {
        let pte = mem.table(table)[vpn(va, level)];
        if pte & PTE_V == 0 {
            return None;
        }
        if pte & (PTE_R | PTE_W | PTE_X) != 0 {
            return Some((pte, 1 << (12 + 9 * level)));
        }
        table = pte_pa(pte);
    }
    None
}

/// Translates a user address for `access`: the physical address, if `va` is mapped with the U bit
/// and the permission the access needs. This is how the kernel validates every user pointer.
pub fn translate_user<M: TableMemory>(
    mem: &mut M,
    root: usize,
    va: usize,
    access: Access,
) -> Option<usize> {
    let (pte, size) = lookup(mem, root, va)?;
    let need = match access {
        Access::Read => PTE_R | PTE_U,
        Access::Write => PTE_R | PTE_W | PTE_U,
    };
    if pte & need != need {
        return None;
    }
    Some(pte_pa(pte) + (va & (size - 1)))
}

/// Releases a user address space: calls `release(mem, pa, is_table)` for every 4 KiB page with
/// the U bit (`is_table` false) and then for every lower-level table (`is_table` true), each
/// after the walker is done reading it. The root itself and large leaves (the kernel's) are not
/// passed. `release` may free frames but must not change the tables.
pub fn release_user_space<M: TableMemory>(
    mem: &mut M,
    root: usize,
    mut release: impl FnMut(&mut M, usize, bool),
) {
    for i in 0..ENTRIES {
        let l2 = mem.table(root)[i];
        if l2 & PTE_V == 0 || l2 & (PTE_R | PTE_W | PTE_X) != 0 {
            continue;
        }
        let mid = pte_pa(l2);
        for j in 0..ENTRIES {
            let l1 = mem.table(mid)[j];
            if l1 & PTE_V == 0 || l1 & (PTE_R | PTE_W | PTE_X) != 0 {
                continue;
            }
            let low = pte_pa(l1);
            for k in 0..ENTRIES {
                let l0 = mem.table(low)[k];
                if l0 & PTE_V != 0 && l0 & PTE_U != 0 {
                    release(mem, pte_pa(l0), false);
                }
            }
            release(mem, low, true);
        }
        release(mem, mid, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Arena {
        tables: HashMap<usize, Box<Table>>,
        next: usize,
    }

    impl TableMemory for Arena {
        fn alloc_table(&mut self) -> Option<usize> {
            self.next += FRAME_SIZE;
            self.tables.insert(self.next, Box::new([0; ENTRIES]));
            Some(self.next)
        }
        fn table(&mut self, pa: usize) -> &mut Table {
            self.tables.get_mut(&pa).expect("a table")
        }
    }

    #[test]
    fn maps_translates_and_checks_permissions() {
        let mut mem = Arena::default();
        let root = mem.alloc_table().unwrap();
        map_page(&mut mem, root, 0x1_0000, 0x8040_0000, PTE_R | PTE_X | PTE_U).unwrap();
        map_page(&mut mem, root, 0x1_1000, 0x8040_1000, PTE_R | PTE_W | PTE_U).unwrap();
        map_page(&mut mem, root, 0x2_0000, 0x8040_2000, PTE_R | PTE_W).unwrap();
        assert_eq!(
            translate_user(&mut mem, root, 0x1_0123, Access::Read),
            Some(0x8040_0123)
        );
        assert_eq!(
            translate_user(&mut mem, root, 0x1_0123, Access::Write),
            None
        );
        assert_eq!(
            translate_user(&mut mem, root, 0x1_1ff8, Access::Write),
            Some(0x8040_1ff8)
        );
        // Kernel-only (no U) and unmapped pages are refused.
        assert_eq!(translate_user(&mut mem, root, 0x2_0000, Access::Read), None);
        assert_eq!(translate_user(&mut mem, root, 0x3_0000, Access::Read), None);
        assert_eq!(
            map_page(&mut mem, root, 0x1_0000, 0x8040_0000, PTE_R | PTE_U),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            map_page(&mut mem, root, 0x1_0001, 0x8040_0000, PTE_R),
            Err(MapError::BadAddress)
        );
    }

    #[test]
    fn gigapages_without_u_are_invisible_to_users() {
        let mut mem = Arena::default();
        let root = mem.alloc_table().unwrap();
        map_gigapage(
            mem.table(root),
            0x8000_0000,
            0x8000_0000,
            PTE_R | PTE_W | PTE_X,
        );
        assert_eq!(
            lookup(&mut mem, root, 0x8020_0000).map(|(_, size)| size),
            Some(GIGAPAGE)
        );
        assert_eq!(
            translate_user(&mut mem, root, 0x8020_0000, Access::Read),
            None
        );
        assert_eq!(
            map_page(&mut mem, root, 0x8020_0000, 0x8040_0000, PTE_R | PTE_U),
            Err(MapError::AlreadyMapped)
        );
    }

    #[test]
    fn walks_every_user_frame() {
        let mut mem = Arena::default();
        let root = mem.alloc_table().unwrap();
        map_gigapage(
            mem.table(root),
            0x8000_0000,
            0x8000_0000,
            PTE_R | PTE_W | PTE_X,
        );
        for i in 0..3 {
            map_page(
                &mut mem,
                root,
                0x1000 * i,
                0x9000_0000 + 0x1000 * i,
                PTE_R | PTE_U,
            )
            .unwrap();
        }
        map_page(
            &mut mem,
            root,
            0x40_0000_0000 - 0x1000,
            0x9100_0000,
            PTE_R | PTE_U,
        )
        .unwrap();
        let (mut pages, mut tables) = (Vec::new(), Vec::new());
        release_user_space(&mut mem, root, |_, pa, table| {
            if table {
                tables.push(pa)
            } else {
                pages.push(pa)
            }
        });
        pages.sort();
        assert_eq!(
            pages,
            vec![0x9000_0000, 0x9000_1000, 0x9000_2000, 0x9100_0000]
        );
        assert_eq!(tables.len(), 4);
        assert_eq!(satp(0x8030_0000, 1) >> 60, 8);
    }
}
