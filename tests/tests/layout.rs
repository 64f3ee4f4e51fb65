//! The repository's layout rules, checked on the files themselves so they cannot drift:
//!
//! - every crate inherits the workspace lints;
//! - every crate whose sources contain no `unsafe` forbids it at each of its roots;
//! - no source file outside tests is over 650 lines (small modules with one job each);
//! - every Markdown document a file cites (a word ending in `.md` whose name starts with a capital
//!   letter) exists in the repository.
//!
//! The rules and the reasons for them are in `docs/ARCHITECTURE.md`.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest source file allowed outside tests (the rule says "about 600").
const MAX_LINES: usize = 650;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Every file under `dir` (relative to the root), skipping build output and VCS folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name == "target" || name.starts_with('.') {
                continue;
            }
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn all_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(&root(), &mut out);
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// The folders of the crates: every folder (below the root) with a Cargo.toml that has a
/// `[package]`.
fn crates() -> Vec<PathBuf> {
    all_files()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "Cargo.toml"))
        .filter(|p| fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.trim() == "[package]")))
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect()
}

/// The `.rs` files of a crate's own `src/`, `build.rs` included, not those of nested crates.
fn crate_sources(krate: &Path, nested: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(&krate.join("src"), &mut out);
    out.retain(|p| {
        p.extension().is_some_and(|e| e == "rs") && !nested.iter().any(|n| p.starts_with(n))
    });
    out
}

/// Whether Rust source text uses the `unsafe` keyword (outside comments and strings, roughly:
/// a line whose code part has the word).
fn uses_unsafe(text: &str) -> bool {
    text.lines().any(|line| {
        let code = line.split("//").next().unwrap_or("");
        code.split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "unsafe")
            && !code.contains("unsafe_code")
            && !code.contains("unsafe_op_in_unsafe_fn")
            && !code.contains("undocumented_unsafe_blocks")
    })
}

#[test]
fn every_crate_inherits_the_workspace_lints() {
    let mut bad = Vec::new();
    for k in crates() {
        let toml = fs::read_to_string(k.join("Cargo.toml")).unwrap_or_default();
        let mut in_lints = false;
        let mut ok = false;
        for line in toml.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_lints = l == "[lints]";
            } else if in_lints && l.replace(' ', "") == "workspace=true" {
                ok = true;
            }
        }
        if !ok {
            bad.push(rel(&k));
        }
    }
    assert!(
        bad.is_empty(),
        "crates without `[lints] workspace = true`: {bad:?}"
    );
}

#[test]
fn crates_without_unsafe_code_forbid_it() {
    let all = crates();
    let mut bad = Vec::new();
    for k in &all {
        let nested: Vec<PathBuf> = all
            .iter()
            .filter(|o| *o != k && o.starts_with(k))
            .cloned()
            .collect();
        let sources = crate_sources(k, &nested);
        if sources.is_empty() {
            continue;
        }
        let any_unsafe = sources
            .iter()
            .any(|p| uses_unsafe(&fs::read_to_string(p).unwrap_or_default()));
        if any_unsafe {
            continue;
        }
        // Crate roots: src/lib.rs, src/main.rs and src/bin/*.rs.
        let mut roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|r| k.join(r))
            .filter(|p| p.exists())
            .collect();
        if let Ok(bins) = fs::read_dir(k.join("src/bin")) {
            roots.extend(bins.flatten().map(|e| e.path()));
        }
        for r in roots {
            let text = fs::read_to_string(&r).unwrap_or_default();
            if !text.contains("#![forbid(unsafe_code)]") {
                bad.push(rel(&r));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "crate roots without `#![forbid(unsafe_code)]` although their crate has no unsafe code: {bad:?}"
    );
}

#[test]
fn no_source_file_outside_tests_is_oversized() {
    let mut bad = Vec::new();
    for p in all_files() {
        let r = rel(&p);
        if !r.ends_with(".rs") || r.split('/').any(|c| c == "tests" || c == "benches") {
            continue;
        }
        let lines = fs::read_to_string(&p).unwrap_or_default().lines().count();
        if lines > MAX_LINES {
            bad.push(format!("{r} ({lines} lines)"));
        }
    }
    assert!(
        bad.is_empty(),
        "source files over {MAX_LINES} lines: {bad:?}"
    );
}

/// The Markdown file names cited in `text`: words ending in `.md` that start with a capital
/// letter, possibly behind a path.
fn cited_documents(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || "_./-".contains(c))) {
        let word = word.trim_end_matches('.');
        let Some(stem) = word.strip_suffix(".md") else {
            continue;
        };
        let name = stem.rsplit('/').next().unwrap_or(stem);
        if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !word.contains("://") {
            out.push(word.to_string());
        }
    }
    out
}

#[test]
fn every_cited_document_exists() {
    let root = root();
    let mut bad = Vec::new();
    for p in all_files() {
        let r = rel(&p);
        if !(r.ends_with(".rs") || r.ends_with(".md") || r.ends_with(".toml")) {
            continue;
        }
        let text = fs::read_to_string(&p).unwrap_or_default();
        for cited in cited_documents(&text) {
            // A citation is relative to the citing file, to any crate folder above it, or to
            // the repository root.
            let mut bases = vec![root.clone()];
            let mut dir = p.parent();
            while let Some(d) = dir {
                if !d.starts_with(&root) {
                    break;
                }
                bases.push(d.to_path_buf());
                dir = d.parent();
            }
            if !bases.iter().any(|b| b.join(&cited).exists()) {
                bad.push(format!("{r} cites {cited}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "documents cited but not in the repository: {bad:?}"
    );
}

/// The names in a Cargo.toml's `[dependencies]` table (not dev- or build-dependencies).
fn dependencies(manifest: &str) -> Vec<String> {
    let text = fs::read_to_string(root().join(manifest)).unwrap_or_default();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deps = l == "[dependencies]";
        } else if in_deps && !l.is_empty() && !l.starts_with('#') {
            let name = l.split(['=', '.']).next().unwrap_or("").trim();
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn dependencies_run_down_the_layers() {
    // The contract and the store depend on no project crate; the API crate, which every client
    // links, depends on the contract alone: neither the store nor a cipher.
    let project = [
        "kernel-abi",
        "storage-backend",
        "vfs-api",
        "vfs-service",
        "zos-virtio",
        "kernel-host",
        "kernel-core",
        "zos-runtime",
        "init",
    ];
    for (manifest, allowed_project) in [
        ("kernel-abi/Cargo.toml", &[][..]),
        ("storage-backend/Cargo.toml", &[][..]),
        ("vfs-service/api/Cargo.toml", &["kernel-abi"][..]),
        ("kernel/core/Cargo.toml", &["kernel-abi"][..]),
        (
            "drivers/virtio/Cargo.toml",
            &["kernel-abi", "storage-backend"][..],
        ),
    ] {
        let deps = dependencies(manifest);
        assert!(!deps.is_empty(), "{manifest}: no [dependencies] found");
        for d in &deps {
            assert!(
                !project.contains(&d.as_str()) || allowed_project.contains(&d.as_str()),
                "{manifest} depends on {d}, a crate above its layer"
            );
        }
        if manifest.starts_with("vfs-service/api") || manifest.starts_with("kernel-abi") {
            for cipher in ["aes-gcm", "aes", "hkdf", "storage-backend"] {
                assert!(
                    !deps.iter().any(|d| d == cipher),
                    "{manifest} must not depend on {cipher}"
                );
            }
        }
    }
}
