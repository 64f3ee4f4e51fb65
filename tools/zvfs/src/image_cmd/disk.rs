//! Commands on the image as a whole: `mkfs` makes one, `info` shows its containers, `fsck`
//! checks every chunk, tag, hash and tree total.

use storage_backend::Db;
use vfs_service::inode::SCHEMA_VERSION;
use zvfs::fsck::fsck;
use zvfs::image::{Image, create_key, read_key};

use super::ImageArgs;
use super::output::{hex, utc};
use crate::{Failure, human_size};

/// `mkfs`: a new image of `size`, with a new random key file unless the key file exists.
pub(super) fn mkfs(image: &ImageArgs, size: &str, json: bool) -> Result<(), Failure> {
    let size = parse_size(size)?;
    let key_path = image.key_path();
    let key = if key_path.exists() {
        read_key(&key_path).map_err(Failure::Usage)?
    } else {
        create_key(&key_path).map_err(Failure::Io)?
    };
    Image::create(&image.image, size, &key)?;
    if !json {
        println!(
            "{}: {} image, key in {}",
            image.image.display(),
            human_size(size),
            key_path.display()
        );
    }
    Ok(())
}

/// Parses `64M`, `1G`, `4096`.
fn parse_size(text: &str) -> Result<u64, Failure> {
    let (digits, shift) = match text.chars().last() {
        Some('K' | 'k') => (&text[..text.len() - 1], 10),
        Some('M' | 'm') => (&text[..text.len() - 1], 20),
        Some('G' | 'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "size {text:?}: a number of bytes, or with K, M or G"
            ))
        })
}

/// `info`: each database's container header and metadata, usage and master hash, and the
/// machine file.
pub(super) fn info(image: &ImageArgs, json: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let machine = {
        let mut buf = Vec::new();
        img.get("/system/config/machine.json", &mut buf, &mut |_| {})
            .ok()
            .map(|_| String::from_utf8_lossy(&buf).into_owned())
    };
    let schema = img
        .schema_version()
        .map_err(|e| Failure::Check(e.to_string()))?;
    // The tree's own totals (what the files hold) and what a collection would give back:
    // the store's figures count both, and garbage is not space in use.
    let live = img.op("/", |v, c| v.usage(c, "/"))?;
    let garbage = img.reclaimable()?;
    let mut dbs = Vec::new();
    for db in [Db::Kernel, Db::Userspace] {
        let store = img.store();
        let meta = store
            .metadata(db)
            .map_err(|e| Failure::Check(format!("{db:?}: {e:?}")))?
            .clone();
        let usage = store
            .usage(db)
            .map_err(|e| Failure::Check(format!("{db:?}: {e:?}")))?;
        let master = store
            .master_hash(db)
            .map_err(|e| Failure::Check(format!("{db:?}: {e:?}")))?;
        dbs.push((db, meta, usage, master));
    }
    if json {
        let list: Vec<_> = dbs
            .iter()
            .map(|(db, meta, usage, master)| {
                serde_json::json!({
                    "database": format!("{db:?}").to_lowercase(),
                    "uuid": uuid::Uuid::from_bytes(meta.uuid).to_string(),
                    "creator": String::from_utf8_lossy(&meta.creator),
                    "created_ns": meta.created_ns,
                    "block_size": meta.block_size,
                    "segments": meta.seg_count,
                    "objects": usage.objects,
                    "bytes": usage.bytes,
                    "device_bytes_total": usage.device_bytes_total,
                    "device_bytes_free": usage.device_bytes_free,
                    "device_bytes_live": usage.device_bytes_live,
                    "master_hash": hex(master),
                    "encryption": "AES-256-GCM",
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "databases": list,
                "machine": machine,
                "schema_version": schema,
                "schema_version_supported": SCHEMA_VERSION,
                "files": {
                    "entries": live.entries,
                    "bytes": live.bytes,
                },
                "reclaimable": {
                    "objects": garbage.objects,
                    "pieces": garbage.pieces,
                    "bytes": garbage.bytes,
                    "detached_subtrees": garbage.detached,
                },
            })
        );
        return Ok(());
    }
    for (db, meta, usage, master) in &dbs {
        println!("{} database", format!("{db:?}").to_lowercase());
        println!("  container uuid  {}", uuid::Uuid::from_bytes(meta.uuid));
        println!(
            "  creator         {}",
            String::from_utf8_lossy(&meta.creator)
        );
        println!("  created         {}", utc(meta.created_ns));
        println!(
            "  layout          {} segments, block {} B",
            meta.seg_count, meta.block_size
        );
        println!("  encryption      AES-256-GCM, keys from the device master key (HKDF-SHA256)");
        println!(
            "  objects         {} ({})",
            usage.objects,
            human_size(usage.bytes)
        );
        // Dead records (removed or replaced) still occupy the log until the store cleans
        // their segments, which it does as it needs room: they are not space in use.
        let dead = usage
            .device_bytes_total
            .saturating_sub(usage.device_bytes_live)
            .saturating_sub(usage.device_bytes_free);
        println!(
            "  space           {} of {} free, {} of dead records (cleaned as room is needed)",
            human_size(usage.device_bytes_free),
            human_size(usage.device_bytes_total),
            human_size(dead)
        );
        println!("  master hash     {}", hex(master));
    }
    println!(
        "files             {} in {} entries (live)",
        human_size(live.bytes),
        live.entries
    );
    println!(
        "reclaimable       {} in {} pieces of {} removed or abandoned files{}",
        human_size(garbage.bytes),
        garbage.pieces,
        garbage.objects,
        if garbage.detached > 0 {
            format!(", {} removed directory trees", garbage.detached)
        } else {
            String::new()
        }
    );
    match schema {
        Some(v) => println!("filesystem schema version {v} (this tool: {SCHEMA_VERSION})"),
        None => {
            println!("filesystem schema no version record (read as 1; this tool: {SCHEMA_VERSION})")
        }
    }
    if let Some(machine) = machine {
        println!("machine.json      {machine}");
    }
    Ok(())
}

/// `fsck`: the integrity check; any problem is a check failure (exit code 1).
pub(super) fn check(image: &ImageArgs, json: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let report = fsck(&mut img);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": report.is_clean(),
                "schema_version": report.schema,
                "kernel_objects": report.kernel.map(|r| r.objects),
                "userspace_objects": report.userspace.map(|r| r.objects),
                "entries": report.entries,
                "files_checked": report.files_checked,
                "bytes_checked": report.bytes_checked,
                "encrypted_unchecked": report.encrypted_unchecked,
                "problems": report.problems,
            })
        );
    } else {
        match report.schema {
            Some(v) => println!("filesystem schema version {v}: supported"),
            None => println!("filesystem schema: no version record (read as version 1)"),
        }
        if let Some(k) = report.kernel {
            println!(
                "kernel database: {} records, {} verified",
                k.objects,
                human_size(k.bytes)
            );
        }
        if let Some(u) = report.userspace {
            println!(
                "userspace database: {} records, {} verified",
                u.objects,
                human_size(u.bytes)
            );
        }
        println!(
            "tree: {} entries, {} files ({}) read back and hash-checked",
            report.entries,
            report.files_checked,
            human_size(report.bytes_checked)
        );
        if report.encrypted_unchecked > 0 {
            println!(
                "{} files encrypted under client keys: content not read",
                report.encrypted_unchecked
            );
        }
        for problem in &report.problems {
            println!("PROBLEM: {problem}");
        }
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Failure::Check(format!(
            "{} problems found",
            report.problems.len()
        )))
    }
}
