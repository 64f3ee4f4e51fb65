//! Per-function instruction profiles of the QEMU benchmarks (`--profile`).
//!
//! Builds `qemu/profile-plugin` (a QEMU TCG plugin that counts instructions per translation
//! block inside regions the guest marks), and turns its output into a page under
//! `docs/benchmarks/`: for each region (a benchmark figure), the instructions per operation
//! and the functions they were spent in. A block is attributed to the ELF of the image whose
//! code bytes at that address match the block's (every task is linked at the same address, so
//! the address alone cannot tell the VFS task from the bench task), then to the symbol that
//! contains its first instruction. What matches no ELF is OpenSBI (M-mode firmware).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use xtask::paths::{IMAGE_TARGET, target_dir, workspace_root};
use xtask::system::System;

use crate::cmd::{cargo_command, status};

/// Functions listed per region.
const TOP: usize = 25;

/// One profiled region: the figure it measured and how many operations it covered.
pub struct Region {
    pub id: u64,
    pub name: String,
    pub operations: u64,
    /// Bytes moved in all those operations (streams), 0 for the others. With one operation the
    /// page gives totals (a whole run), otherwise instructions per operation.
    pub bytes: u64,
}

/// Builds the plugin (a workspace of its own) and returns the shared object's path.
pub fn build_plugin() -> Result<PathBuf, String> {
    let manifest = workspace_root()
        .join("qemu")
        .join("profile-plugin")
        .join("Cargo.toml");
    let dir = target_dir().join("profile-plugin");
    let manifest = manifest.to_string_lossy().into_owned();
    let mut cmd = cargo_command(&["build", "--release", "--manifest-path", &manifest]);
    cmd.env("CARGO_TARGET_DIR", &dir);
    status("build the QEMU profile plugin", &mut cmd)?;
    Ok(dir.join("release").join("libzos_profile_plugin.so"))
}

/// One ELF's functions and code.
struct Image {
    name: String,
    /// (start, end, name), sorted by start.
    functions: Vec<(u64, u64, String)>,
    /// (address, bytes) of each executable section.
    code: Vec<(u64, Vec<u8>)>,
}

impl Image {
    fn load(name: &str, path: &Path) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
        // Assembly symbols (the kernel's trap vector) have no size: such a symbol covers the
        // code up to the next symbol.
        let mut functions: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| {
                // Assembly labels are untyped; local ones (`$x`, `.L..`) name no function.
                let name = s.name().unwrap_or("");
                matches!(s.kind(), SymbolKind::Text | SymbolKind::Unknown)
                    && s.section_index().is_some()
                    && !name.is_empty()
                    && !name.starts_with('$')
                    && !name.starts_with(".L")
            })
            .filter_map(|s| {
                let name = s.name().ok()?;
                let end = if s.size() > 0 {
                    s.address() + s.size()
                } else {
                    u64::MAX
                };
                Some((s.address(), end, demangle(name)))
            })
            .collect();
        functions.sort();
        functions.dedup_by(|b, a| a.0 == b.0);
        for i in 0..functions.len() {
            if functions[i].1 == u64::MAX {
                functions[i].1 = functions.get(i + 1).map_or(functions[i].0, |f| f.0);
            }
        }
        let code = file
            .sections()
            .filter(|s| s.kind() == object::SectionKind::Text)
            .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
            .collect();
        Ok(Self {
            name: name.to_string(),
            functions,
            code,
        })
    }

    /// Whether this ELF holds exactly `bytes` at `addr`.
    fn holds(&self, addr: u64, bytes: &[u8]) -> bool {
        self.code.iter().any(|(base, data)| {
            addr >= *base
                && usize::try_from(addr - base)
                    .ok()
                    .and_then(|at| data.get(at..at + bytes.len()))
                    == Some(bytes)
        })
    }

    /// The function containing `addr`.
    fn function(&self, addr: u64) -> Option<&str> {
        let i = self.functions.partition_point(|f| f.0 <= addr);
        let f = self.functions.get(i.checked_sub(1)?)?;
        (addr < f.1).then_some(f.2.as_str())
    }
}

/// Rust's legacy symbol mangling (`_ZN..E`, what most of the images' symbols use) to a path
/// without the hash; the v0 mangling of the precompiled `core` and `compiler_builtins`
/// (`_R..`) to its path of identifiers, generic arguments left out.
fn demangle(name: &str) -> String {
    if let Some(v0) = name.strip_prefix("_R") {
        return demangle_v0(v0).unwrap_or_else(|| name.to_string());
    }
    let Some(mut rest) = name.strip_prefix("_ZN") else {
        return name.to_string();
    };
    let mut parts = Vec::new();
    while let Some(len_end) = rest.find(|c: char| !c.is_ascii_digit()) {
        let Ok(len) = rest[..len_end].parse::<usize>() else {
            break;
        };
        let Some(part) = rest.get(len_end..len_end + len) else {
            break;
        };
        parts.push(part);
        rest = &rest[len_end + len..];
    }
    if parts
        .last()
        .is_some_and(|p| p.len() == 17 && p.starts_with('h'))
    {
        parts.pop();
    }
    if parts.is_empty() {
        return name.to_string();
    }
    let joined = parts.join("::");
    [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$u20$", " "),
        ("$RF$", "&"),
        ("$C$", ","),
        ("$BP$", "*"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("..", "::"),
    ]
    .iter()
    .fold(joined, |s, (from, to)| s.replace(from, to))
}

/// The identifiers of a v0 symbol (`NvNtCs<hash>_17compiler_builtins3mem6memcpy` →
/// `compiler_builtins::mem::memcpy`): crate roots are `C`, an optional `s<disambiguator>_`,
/// then the crate's name; every identifier is its decimal length and its bytes.
fn demangle_v0(mut rest: &str) -> Option<String> {
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let c = rest.chars().next()?;
        if c == 'C' && rest.get(1..2) == Some("s") {
            let end = rest.find('_')?;
            rest = &rest[end + 1..];
        } else if c.is_ascii_digit() {
            let len_end = rest.find(|c: char| !c.is_ascii_digit())?;
            let len: usize = rest[..len_end].parse().ok()?;
            let mut start = len_end;
            // An identifier may be prefixed by `_` when it starts with a digit or `_`.
            if rest.get(start..start + 1) == Some("_") {
                start += 1;
            }
            parts.push(rest.get(start..start + len)?);
            rest = &rest[start + len..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    (!parts.is_empty()).then(|| parts.join("::"))
}

/// A translation block from the plugin's output.
struct Tb {
    vaddr: u64,
    insns: u64,
    bytes: Vec<u8>,
}

/// Executions of one block in one region: (region, block id, executions).
type Count = (u64, u64, u64);

/// The plugin's output: blocks and their executions per region.
fn parse(text: &str) -> (BTreeMap<u64, Tb>, Vec<Count>) {
    let mut tbs = BTreeMap::new();
    let mut counts = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["tb", id, vaddr, insns, hex] => {
                let (Ok(id), Ok(vaddr), Ok(insns)) =
                    (id.parse(), u64::from_str_radix(vaddr, 16), insns.parse())
                else {
                    continue;
                };
                let bytes = (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                tbs.insert(
                    id,
                    Tb {
                        vaddr,
                        insns,
                        bytes,
                    },
                );
            }
            ["count", region, id, n] => {
                if let (Ok(r), Ok(i), Ok(n)) = (region.parse(), id.parse(), n.parse()) {
                    counts.push((r, i, n));
                }
            }
            _ => {}
        }
    }
    (tbs, counts)
}

/// Writes `docs/benchmarks/<page>` from the plugin's output `out` of a run of `system_file`.
pub fn report(
    out: &Path,
    system_file: &Path,
    kernel: &Path,
    regions: &[Region],
    page: &str,
    intro: &str,
) -> Result<(), String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let (tbs, counts) = parse(&text);
    if counts.is_empty() {
        return Err(format!(
            "{}: the profile plugin counted nothing (no marked region ran)",
            out.display()
        ));
    }
    let mut images = vec![Image::load("kernel", kernel)?];
    let system = System::load(system_file)?;
    for (_, bin) in system.binaries() {
        let path = target_dir().join(IMAGE_TARGET).join("release").join(&bin);
        images.push(Image::load(&bin, &path)?);
    }
    // Instructions per (region, label).
    let mut per: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    for (region, id, n) in counts {
        let Some(tb) = tbs.get(&id) else { continue };
        let label = images
            .iter()
            .find(|im| im.holds(tb.vaddr, &tb.bytes))
            .map_or_else(
                || "OpenSBI (M-mode firmware) or unknown".to_string(),
                |im| {
                    format!(
                        "{}: `{}`",
                        im.name,
                        im.function(tb.vaddr).unwrap_or("(no symbol)")
                    )
                },
            );
        *per.entry(region).or_default().entry(label).or_default() += n * tb.insns;
    }
    let mut md = format!(
        "# Instruction profile\n\n{intro}\n\nInstructions are summed over every measured \
         operation of a figure and divided by their number (per operation); the top {TOP} \
         functions of each figure are listed, the rest summed by image. An assembly symbol \
         without a size (the kernel's `zos_trap_vector`) covers the code up to the next \
         symbol.\n"
    );
    for r in regions {
        let Some(labels) = per.get(&r.id) else {
            continue;
        };
        let total: u64 = labels.values().sum();
        let ops = r.operations.max(1);
        let mut rows: Vec<(&String, &u64)> = labels.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1));
        let summary = if r.operations > 1 {
            format!(
                "{} instructions per operation over {} operations{}",
                total / ops,
                r.operations,
                if r.bytes > 0 {
                    format!(" ({:.1} per byte)", total as f64 / r.bytes as f64)
                } else {
                    String::new()
                }
            )
        } else {
            format!("{total} instructions in all")
        };
        md.push_str(&format!(
            "\n## {}\n\n{summary}.\n\n\
             | function | instructions | share |\n| --- | ---: | ---: |\n",
            r.name,
        ));
        for (label, n) in rows.iter().take(TOP) {
            md.push_str(&format!(
                "| {label} | {} | {:.1} % |\n",
                *n / ops,
                **n as f64 * 100.0 / total.max(1) as f64
            ));
        }
        let mut rest: BTreeMap<String, u64> = BTreeMap::new();
        for (label, n) in rows.iter().skip(TOP) {
            let image = label.split(':').next().unwrap_or("?").to_string();
            *rest.entry(image).or_default() += **n;
        }
        for (image, n) in rest {
            md.push_str(&format!(
                "| {image}: the rest | {} | {:.1} % |\n",
                n / ops,
                n as f64 * 100.0 / total.max(1) as f64
            ));
        }
        // Per image: where the operation's instructions are, in the large.
        let mut by_image: BTreeMap<String, u64> = BTreeMap::new();
        for (label, n) in &rows {
            let image = label.split(':').next().unwrap_or("?").to_string();
            *by_image.entry(image).or_default() += **n;
        }
        let parts: Vec<String> = by_image
            .iter()
            .map(|(im, n)| format!("{im} {}", n / ops))
            .collect();
        md.push_str(&format!("\nBy image: {}.\n", parts.join(", ")));
        // The IPC path's steps: every kernel function (and the firmware) of this figure.
        let kernel: Vec<String> = rows
            .iter()
            .filter(|(label, _)| label.starts_with("kernel:") || label.starts_with("OpenSBI"))
            .map(|(label, n)| {
                let name = label.trim_start_matches("kernel: ");
                format!("{name} {}", **n / ops)
            })
            .collect();
        if !kernel.is_empty() {
            md.push_str(&format!(
                "\nKernel and firmware, every function ({}): {}.\n",
                if r.operations > 1 {
                    "per operation"
                } else {
                    "in all"
                },
                kernel.join(", ")
            ));
        }
    }
    let path = workspace_root().join("docs").join("benchmarks").join(page);
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_symbols_are_demangled_without_their_hash() {
        assert_eq!(
            demangle("_ZN7vfs_api6client6Client9read_file17h0123456789abcdefE"),
            "vfs_api::client::Client::read_file"
        );
        assert_eq!(
            demangle(
                "_ZN4core3ptr46drop_in_place$LT$alloc..vec..Vec$LT$u8$GT$$GT$17h0123456789abcdefE"
            ),
            "core::ptr::drop_in_place<alloc::vec::Vec<u8>>"
        );
        assert_eq!(demangle("memcpy"), "memcpy");
        assert_eq!(
            demangle("_RNvNtCsly9NzYnwRgB_17compiler_builtins3mem6memcpy"),
            "compiler_builtins::mem::memcpy"
        );
        assert_eq!(
            demangle("_RNvNtNtCsduH8GDKzQ6M_4core3str8converts9from_utf8"),
            "core::str::converts::from_utf8"
        );
    }

    #[test]
    fn plugin_output_is_parsed() {
        let (tbs, counts) = parse("tb 3 10000 4 13000000\ncount 2 3 7\nbad line\n");
        let tb = tbs.get(&3).unwrap();
        assert_eq!((tb.vaddr, tb.insns), (0x10000, 4));
        assert_eq!(tb.bytes, vec![0x13, 0, 0, 0]);
        assert_eq!(counts, vec![(2, 3, 7)]);
    }
}
