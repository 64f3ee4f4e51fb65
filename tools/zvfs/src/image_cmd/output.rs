//! The text and JSON shapes the image commands share: progress bars, hex, UTC dates, the
//! `ls -l` columns of an entry and its JSON form.

use std::io::{self, IsTerminal};

use indicatif::{ProgressBar, ProgressStyle};
use vfs_service::protocol::messages::{FileKind, Stat};

/// A progress bar for a copy of `total` bytes: hidden for `--json`, when stderr is not a
/// terminal, and for copies under 4 MiB.
pub(super) fn bar(total: u64, json: bool) -> ProgressBar {
    if json || !io::stderr().is_terminal() || total < (4 << 20) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Lower-case hex digits.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) from nanoseconds since the epoch.
pub(super) fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `-`, `d` or `l`, as in `ls -l`.
pub(super) fn kind_char(stat: &Stat) -> char {
    match stat.kind {
        FileKind::File => '-',
        FileKind::Directory => 'd',
        FileKind::Symlink(_) => 'l',
    }
}

/// The owner's UUID, or `system`.
pub(super) fn owner_string(stat: &Stat) -> String {
    stat.owner
        .map_or_else(|| "system".to_string(), |u| u.to_string())
}

/// `/` after a directory's name, ` -> target` after a symlink's.
pub(super) fn name_suffix(stat: &Stat) -> String {
    match &stat.kind {
        FileKind::Symlink(t) => format!(" -> {t}"),
        FileKind::Directory => "/".to_string(),
        FileKind::File => String::new(),
    }
}

/// An entry's metadata as JSON (`ls`, `tree` and `stat` with `--json`).
pub(super) fn stat_json(stat: &Stat) -> serde_json::Value {
    serde_json::json!({
        "path": stat.path,
        "kind": match &stat.kind { FileKind::File => "file", FileKind::Directory => "directory", FileKind::Symlink(_) => "symlink" },
        "target": match &stat.kind { FileKind::Symlink(t) => Some(t.clone()), _ => None },
        "owner": stat.owner.map(|u| u.to_string()),
        "permissions": stat.permissions.bits(),
        "size": stat.size,
        "created_ns": stat.created_ns,
        "modified_ns": stat.modified_ns,
        "accessed_ns": stat.accessed_ns,
        "encrypted": stat.encrypted,
        "sha256": stat.sha256.map(|h| hex(&h)),
        "inode": stat.inode,
    })
}
