//! Reading task images: the loadable segments of a static ELF64 RISC-V executable (System V gABI,
//! "ELF Header" and "Program Header"). Only what the loader needs is parsed, and every offset is
//! checked against the image, so a bad image is an error, never a panic.

/// `e_machine` for RISC-V.
pub const EM_RISCV: u16 = 243;
/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not an ELF file, or truncated.
    NotElf,
    /// Not a 64-bit little-endian RISC-V executable.
    WrongKind,
    /// A header or segment points outside the file, or a segment is malformed.
    Malformed,
}

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: usize,
    /// Bytes in memory (the part past `file.len()` is zero-filled).
    pub mem_size: usize,
    /// Offset of the file bytes in the image.
    pub offset: usize,
    /// Bytes present in the file.
    pub file_size: usize,
    /// `PF_*` flags.
    pub flags: u32,
}

/// A checked ELF image.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    image: &'a [u8],
    /// The entry point.
    pub entry: usize,
    phoff: usize,
    phentsize: usize,
    phnum: usize,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> Elf<'a> {
    /// Checks the header of `image`.
    pub fn parse(image: &'a [u8]) -> Result<Self, ElfError> {
        if image.get(0..4) != Some(b"\x7fELF".as_slice()) || image.len() < 64 {
            return Err(ElfError::NotElf);
        }
        // ELFCLASS64, ELFDATA2LSB, ET_EXEC, EM_RISCV.
        if image[4] != 2 || image[5] != 1 {
            return Err(ElfError::WrongKind);
        }
        if u16_at(image, 16) != Some(2) || u16_at(image, 18) != Some(EM_RISCV) {
            return Err(ElfError::WrongKind);
        }
        let entry = u64_at(image, 24).ok_or(ElfError::NotElf)? as usize;
        let phoff = u64_at(image, 32).ok_or(ElfError::NotElf)? as usize;
        let phentsize = u16_at(image, 54).ok_or(ElfError::NotElf)? as usize;
        let phnum = u16_at(image, 56).ok_or(ElfError::NotElf)? as usize;
        if phentsize < 56 {
            return Err(ElfError::Malformed);
        }
        let end = phnum
            .checked_mul(phentsize)
            .and_then(|n| n.checked_add(phoff))
            .ok_or(ElfError::Malformed)?;
        if end > image.len() {
            return Err(ElfError::Malformed);
        }
        Ok(Self {
            image,
            entry,
            phoff,
            phentsize,
            phnum,
        })
    }

    /// The whole image.
    pub fn bytes(&self) -> &'a [u8] {
        self.image
    }

    /// The loadable segments; a malformed one is an error item.
    pub fn segments(&self) -> impl Iterator<Item = Result<Segment, ElfError>> + 'a {
        let (image, phoff, phentsize) = (self.image, self.phoff, self.phentsize);
        (0..self.phnum).filter_map(move |i| {
            let at = phoff + i * phentsize;
            let kind = u32_at(image, at)?;
            if kind != PT_LOAD {
                return None;
            }
            let read = || -> Option<Segment> {
                Some(Segment {
                    flags: u32_at(image, at + 4)?,
                    offset: u64_at(image, at + 8)? as usize,
                    vaddr: u64_at(image, at + 16)? as usize,
                    file_size: u64_at(image, at + 32)? as usize,
                    mem_size: u64_at(image, at + 40)? as usize,
                })
            };
            Some(match read() {
                Some(s)
                    if s.file_size <= s.mem_size
                        && s.offset
                            .checked_add(s.file_size)
                            .is_some_and(|e| e <= image.len())
                        && s.vaddr.checked_add(s.mem_size).is_some() =>
                {
                    Ok(s)
                }
                _ => Err(ElfError::Malformed),
            })
        })
    }

    /// The file bytes of `segment` (checked by [`Elf::segments`]).
    pub fn data(&self, segment: &Segment) -> &'a [u8] {
        self.image
            .get(segment.offset..segment.offset + segment.file_size)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF with the given program headers (type, flags, offset, vaddr, filesz, memsz).
    fn image(entry: u64, headers: &[(u32, u32, u64, u64, u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&EM_RISCV.to_le_bytes());
        b[24..32].copy_from_slice(&entry.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        for &(kind, flags, off, vaddr, filesz, memsz) in headers {
            let mut h = vec![0u8; 56];
            h[0..4].copy_from_slice(&kind.to_le_bytes());
            h[4..8].copy_from_slice(&flags.to_le_bytes());
            h[8..16].copy_from_slice(&off.to_le_bytes());
            h[16..24].copy_from_slice(&vaddr.to_le_bytes());
            h[32..40].copy_from_slice(&filesz.to_le_bytes());
            h[40..48].copy_from_slice(&memsz.to_le_bytes());
            b.extend(h);
        }
        b.resize(b.len() + 32, 0xaa);
        b
    }

    #[test]
    fn reads_loadable_segments() {
        let img = image(
            0x1_0000,
            &[
                (PT_LOAD, PF_R | PF_X, 0, 0x1_0000, 100, 100),
                (6, 0, 0, 0, 0, 0),
                (PT_LOAD, PF_R | PF_W, 64, 0x2_0000, 8, 4096),
            ],
        );
        let elf = Elf::parse(&img).unwrap();
        assert_eq!(elf.entry, 0x1_0000);
        let segs: Vec<_> = elf.segments().collect::<Result<_, _>>().unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[1].vaddr, 0x2_0000);
        assert_eq!(segs[1].mem_size, 4096);
        assert_eq!(elf.data(&segs[1]).len(), 8);
    }

    #[test]
    fn refuses_bad_images() {
        assert_eq!(Elf::parse(b"nope").unwrap_err(), ElfError::NotElf);
        let mut img = image(0, &[]);
        img[18] = 0x3e;
        assert_eq!(Elf::parse(&img).unwrap_err(), ElfError::WrongKind);
        let img = image(0, &[(PT_LOAD, PF_R, 0, 0x1000, 1 << 20, 1 << 20)]);
        let elf = Elf::parse(&img).unwrap();
        assert_eq!(elf.segments().next(), Some(Err(ElfError::Malformed)));
        let mut img = image(0, &[(PT_LOAD, PF_R, 0, 0x1000, 4, 4)]);
        img[56] = 0xff; // phnum far past the file
        assert_eq!(Elf::parse(&img).unwrap_err(), ElfError::Malformed);
    }
}
