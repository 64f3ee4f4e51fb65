//! Commands that read the image's tree and change nothing: `ls`, `tree`, `cat`, `get`, `stat`.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use vfs_service::protocol::messages::{FileKind, Stat};

use super::ImageArgs;
use super::output::{bar, hex, kind_char, name_suffix, owner_string, stat_json, utc};
use crate::{Failure, human_size};

/// `ls`: a directory's children (or the entry itself when `path` is not a directory).
pub(super) fn ls(image: &ImageArgs, path: &str, long: bool, json: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let stat = img.op(path, |v, c| v.stat(c, path, true))?;
    let entries = if stat.kind == FileKind::Directory {
        let mut all = img.walk(&stat.path)?;
        // Only the directory's own children.
        all.retain(|s| {
            s.path
                .rsplit_once('/')
                .map(|(p, _)| if p.is_empty() { "/" } else { p })
                == Some(stat.path.as_str())
                && s.path != stat.path
        });
        all
    } else {
        vec![stat]
    };
    if json {
        println!(
            "{}",
            serde_json::Value::Array(entries.iter().map(stat_json).collect())
        );
    } else {
        for s in &entries {
            let name = s.path.rsplit('/').next().unwrap_or_default();
            let suffix = name_suffix(s);
            if long {
                println!(
                    "{}{}  {:<36}  {:>10}  {}  {name}{suffix}",
                    kind_char(s),
                    s.permissions,
                    owner_string(s),
                    human_size(s.size),
                    utc(s.modified_ns)
                );
            } else {
                println!("{name}{suffix}");
            }
        }
    }
    Ok(())
}

/// `tree`: everything below `path`, drawn with box characters.
pub(super) fn tree(image: &ImageArgs, path: &str, json: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let stats = img.walk(path)?;
    if json {
        println!(
            "{}",
            serde_json::Value::Array(stats.iter().map(stat_json).collect())
        );
        return Ok(());
    }
    print_tree(&stats);
    Ok(())
}

fn print_tree(stats: &[Stat]) {
    let Some(top) = stats.first() else { return };
    println!("{}", top.path);
    let depth = |s: &Stat| s.path.split('/').filter(|c| !c.is_empty()).count();
    let base = depth(top);
    for (i, s) in stats.iter().enumerate().skip(1) {
        let level = depth(s) - base;
        // The last child of its parent draws a corner: no later sibling at this level before
        // the next shallower entry.
        let last = stats[i + 1..]
            .iter()
            .map(depth)
            .take_while(|d| *d - base >= level)
            .all(|d| d - base != level);
        let mut line = String::new();
        for l in 1..level {
            let continues = stats[i + 1..]
                .iter()
                .map(depth)
                .take_while(|d| *d - base >= l)
                .any(|d| d - base == l);
            line.push_str(if continues { "│   " } else { "    " });
        }
        line.push_str(if last { "└── " } else { "├── " });
        let name = s.path.rsplit('/').next().unwrap_or_default();
        println!("{line}{name}{}", name_suffix(s));
    }
}

/// `cat`: a file to standard output.
pub(super) fn cat(image: &ImageArgs, path: &str) -> Result<(), Failure> {
    let mut img = image.open()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    img.get(path, &mut out, &mut |_| {})?;
    out.flush().map_err(|e| Failure::Io(e.to_string()))
}

/// `get`: a file to a host file (with a progress bar), or to standard output without one or
/// with `-`.
pub(super) fn get(
    image: &ImageArgs,
    path: &str,
    output: Option<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let mut img = image.open()?;
    let size = img.op(path, |v, c| v.stat(c, path, true))?.size;
    match output.filter(|p| p.as_os_str() != "-") {
        None => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            img.get(path, &mut out, &mut |_| {})?;
            out.flush().map_err(|e| Failure::Io(e.to_string()))
        }
        Some(target) => {
            let mut file = File::create(&target)
                .map_err(|e| Failure::Io(format!("{}: {e}", target.display())))?;
            let progress = bar(size, json);
            img.get(path, &mut file, &mut |n| progress.set_position(n))?;
            progress.finish_and_clear();
            file.sync_all().map_err(|e| Failure::Io(e.to_string()))
        }
    }
}

/// `stat`: an entry's metadata (of a symlink itself, not its target).
pub(super) fn stat(image: &ImageArgs, path: &str, json: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let s = img.op(path, |v, c| v.stat(c, path, false))?;
    if json {
        println!("{}", stat_json(&s));
        return Ok(());
    }
    println!("  path: {}", s.path);
    let kind = match &s.kind {
        FileKind::File => "file".to_string(),
        FileKind::Directory => "directory".to_string(),
        FileKind::Symlink(t) => format!("symlink -> {t}"),
    };
    println!("  kind: {kind}");
    println!(" inode: {}", s.inode);
    println!(" owner: {}", owner_string(&s));
    println!(" perms: {} (owner rwx, system rw, world rw)", s.permissions);
    println!("  size: {} ({} bytes)", human_size(s.size), s.size);
    println!("created: {}", utc(s.created_ns));
    println!("modified: {}", utc(s.modified_ns));
    println!("accessed: {}", utc(s.accessed_ns));
    if let Some(h) = s.sha256 {
        println!(
            "sha256: {}{}",
            hex(&h),
            if s.encrypted {
                " (of the sealed content)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
