//! Decoding the kernel's defmt log stream on the host.
//!
//! The kernel writes rzCOBS-framed defmt records through QEMU's semihosting console into a file
//! (see `kernel/riscv64/src/kern/log.rs`); this module follows that file while QEMU runs and prints each
//! record as a readable, levelled line, using the interned strings of the kernel ELF.
//!
//! The kernel's `.defmt` section is not at address 0 as in defmt's own linker script (the
//! kernel at 0x80200000 could not reach it PC-relatively), so the ids in the frames are the
//! symbol addresses minus the section's base: [`rebase_defmt_symbols`] rewrites a copy of the
//! ELF's symbol table accordingly before the decoder reads it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use defmt_decoder::{DecodeError, Table};

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Subtracts the base address of every `.defmt*` section from the values of the symbols in it
/// (ELF64 little-endian). Returns how many symbols were rebased.
pub fn rebase_defmt_symbols(elf: &mut [u8]) -> Option<usize> {
    if elf.get(0..4)? != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return None;
    }
    let shoff = u64_at(elf, 0x28)? as usize;
    let shentsize = u16_at(elf, 0x3a)? as usize;
    let shnum = u16_at(elf, 0x3c)? as usize;
    let shstrndx = u16_at(elf, 0x3e)? as usize;
    let header = |i: usize| shoff + i * shentsize;
    let strtab_off = u64_at(elf, header(shstrndx) + 24)? as usize;
    let mut bases = std::collections::HashMap::new();
    let mut symtab = None;
    for i in 0..shnum {
        let h = header(i);
        let name_off = u32_at(elf, h)? as usize;
        let kind = u32_at(elf, h + 4)?;
        let name_start = strtab_off + name_off;
        let name_end = elf[name_start..].iter().position(|&b| b == 0)? + name_start;
        let name = &elf[name_start..name_end];
        if name.starts_with(b".defmt") {
            bases.insert(i as u16, u64_at(elf, h + 16)?);
        }
        if kind == 2 {
            // SHT_SYMTAB
            symtab = Some((u64_at(elf, h + 24)? as usize, u64_at(elf, h + 32)? as usize));
        }
    }
    let (off, size) = symtab?;
    let mut rebased = 0;
    for sym in (off..off + size).step_by(24) {
        let shndx = u16_at(elf, sym + 6)?;
        if let Some(&base) = bases.get(&shndx) {
            let value = u64_at(elf, sym + 8)?.wrapping_sub(base);
            elf.get_mut(sym + 8..sym + 16)?
                .copy_from_slice(&value.to_le_bytes());
            rebased += 1;
        }
    }
    Some(rebased)
}

/// Reads the decoder table of a kernel ELF.
pub fn table(elf_path: &Path) -> Result<Table, String> {
    let mut elf = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    rebase_defmt_symbols(&mut elf).ok_or("the kernel ELF has no symbol table")?;
    Table::parse(&elf)
        .map_err(|e| format!("defmt tables: {e}"))?
        .ok_or_else(|| "the kernel ELF has no defmt tables".to_string())
}

/// Follows `log` (the frame stream QEMU writes) until `done` is set and the file is drained,
/// printing decoded records to stderr.
pub fn follow(table: &Table, log: &Path, done: &Arc<AtomicBool>) {
    let mut decoder = table.new_stream_decoder();
    let mut file = None;
    let mut offset = 0u64;
    let mut buf = vec![0u8; 4096];
    loop {
        let finished = done.load(Ordering::Relaxed);
        if file.is_none() {
            file = File::open(log).ok();
        }
        let mut got = 0;
        if let Some(f) = file.as_mut()
            && f.seek(SeekFrom::Start(offset)).is_ok()
        {
            got = f.read(&mut buf).unwrap_or(0);
        }
        if got > 0 {
            offset += got as u64;
            decoder.received(&buf[..got]);
            loop {
                match decoder.decode() {
                    Ok(frame) => eprintln!("{}", frame.display(false)),
                    Err(DecodeError::UnexpectedEof) => break,
                    Err(DecodeError::Malformed) => {
                        eprintln!("(defmt: malformed frame skipped)");
                    }
                }
            }
            continue;
        }
        if finished {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_an_elf() {
        assert_eq!(rebase_defmt_symbols(&mut [0u8; 64]), None);
        assert_eq!(rebase_defmt_symbols(&mut []), None);
    }
}
