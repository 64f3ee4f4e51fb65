//! The full check of an image: both databases record by record (chunk CRC, GCM tag, index,
//! master hash), the filesystem schema version, then the tree: every entry reachable and stat-able, every file's content read
//! back through the VFS (which checks its SHA-256), every directory's running totals equal to a
//! recount of its subtree.

use std::collections::BTreeMap;

use storage_backend::{CheckReport, Db};
use vfs_service::inode::SCHEMA_VERSION;
use vfs_service::protocol::messages::FileKind;

use crate::image::Image;

/// What the check found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// The kernel database's check, or why it failed.
    pub kernel: Option<CheckReport>,
    /// The userspace database's check.
    pub userspace: Option<CheckReport>,
    /// The filesystem schema version recorded on the image (`None`: no record, an image made
    /// before the record existed, read as version 1; not a problem).
    pub schema: Option<u32>,
    /// Entries in the tree.
    pub entries: u64,
    /// Files whose content was read back and matched its hash.
    pub files_checked: u64,
    /// Bytes of content read back.
    pub bytes_checked: u64,
    /// Files encrypted under a client key: their content needs that key to be read.
    pub encrypted_unchecked: u64,
    /// Every problem found, precisely.
    pub problems: Vec<String>,
}

impl FsckReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks `image` completely.
pub fn fsck(image: &mut Image) -> FsckReport {
    let mut report = FsckReport::default();
    for db in [Db::Kernel, Db::Userspace] {
        match image.check_database(db) {
            Ok(check) => match db {
                Db::Kernel => report.kernel = Some(check),
                Db::Userspace => report.userspace = Some(check),
            },
            Err(e) => report.problems.push(format!("{db:?} database: {e:?}")),
        }
    }
    match image.schema_version() {
        Ok(Some(v)) if v == SCHEMA_VERSION => report.schema = Some(v),
        Ok(Some(v)) => {
            report.schema = Some(v);
            report.problems.push(format!(
                "schema version {v} is not the version this tool reads ({SCHEMA_VERSION})"
            ));
        }
        // An image from before the record: version 1, and its next boot writes the record.
        Ok(None) => {}
        Err(e) => report.problems.push(format!("schema version: {e}")),
    }
    let stats = match image.walk("/") {
        Ok(stats) => stats,
        Err(e) => {
            report.problems.push(format!("tree walk: {e}"));
            return report;
        }
    };
    report.entries = stats.len() as u64;
    // Recount every directory's subtree: each entry adds to all its ancestors.
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for stat in stats.iter().filter(|s| s.path != "/") {
        let bytes = if stat.kind == FileKind::File {
            stat.size
        } else {
            0
        };
        let mut path = stat.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            let parent = if parent.is_empty() { "/" } else { parent };
            let entry = totals.entry(parent.to_string()).or_default();
            entry.0 += bytes;
            entry.1 += 1;
            if parent == "/" {
                break;
            }
            path = parent;
        }
    }
    for stat in &stats {
        match stat.kind {
            FileKind::File if stat.encrypted => report.encrypted_unchecked += 1,
            FileKind::File => match image.get(&stat.path, &mut std::io::sink(), &mut |_| {}) {
                Ok(n) if n == stat.size => {
                    report.files_checked += 1;
                    report.bytes_checked += n;
                }
                Ok(n) => report.problems.push(format!(
                    "{}: read {n} bytes, size says {}",
                    stat.path, stat.size
                )),
                Err(e) => report.problems.push(format!("{}: content: {e}", stat.path)),
            },
            FileKind::Directory => {
                let (bytes, entries) = totals.get(&stat.path).copied().unwrap_or_default();
                match image.op(&stat.path, |v, c| v.usage(c, &stat.path)) {
                    Ok(usage) if usage.bytes == bytes && usage.entries == entries => {}
                    Ok(usage) => report.problems.push(format!(
                        "{}: directory totals say {} bytes in {} entries, the subtree holds {bytes} in {entries}",
                        stat.path, usage.bytes, usage.entries
                    )),
                    Err(e) => report.problems.push(format!("{}: usage: {e}", stat.path)),
                }
            }
            FileKind::Symlink(_) => {}
        }
    }
    report
}
