//! Output formatting: permission strings, owners, human sizes, dates.

use alloc::format;
use alloc::string::String;
use alloc::string::ToString;
use uuid::Uuid;
use vfs_api::protocol::messages::{FileKind, FilePermissions};

/// The kind letter of `ls -l`: `d` directory, `l` symlink, `-` file.
pub fn kind_char(kind: &FileKind) -> char {
    match kind {
        FileKind::Directory => 'd',
        FileKind::Symlink(_) => 'l',
        FileKind::File => '-',
    }
}

/// The seven permission bits as `rwx` (owner) `rw` (system) `rw` (world), `-` for a clear
/// bit: `rw-r---` is a user's file (owner rw, system r).
pub fn permission_string(p: FilePermissions) -> String {
    p.to_string()
}

/// Why a permission argument does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPermissions;

/// Parses a permission argument: the seven-character form of [`permission_string`]
/// (`rwxr-rw`), a preset name (`user-file`, `user-dir`, `system-only`, `world-readable`,
/// `system-public`, `all`), or the bit form as a number (`0x2b`, `43`).
pub fn parse_permissions(arg: &str) -> Result<FilePermissions, BadPermissions> {
    let preset = match arg {
        "user-file" => Some(FilePermissions::USER_FILE),
        "user-dir" => Some(FilePermissions::USER_DIR),
        "system-only" => Some(FilePermissions::SYSTEM_ONLY),
        "world-readable" => Some(FilePermissions::WORLD_READABLE),
        "system-public" => Some(FilePermissions::SYSTEM_PUBLIC),
        "all" => Some(FilePermissions::ALL),
        _ => None,
    };
    if let Some(p) = preset {
        return Ok(p);
    }
    let number = match arg.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => arg.parse::<u8>().ok(),
    };
    if let Some(n) = number {
        return if n < 0x80 {
            Ok(FilePermissions::from_bits(n))
        } else {
            Err(BadPermissions)
        };
    }
    let pattern = "rwxrwrw";
    if arg.len() != pattern.len() {
        return Err(BadPermissions);
    }
    let mut bits = 0u8;
    for (i, (c, want)) in arg.chars().zip(pattern.chars()).enumerate() {
        if c == want {
            bits |= 1 << i;
        } else if c != '-' {
            return Err(BadPermissions);
        }
    }
    Ok(FilePermissions::from_bits(bits))
}

/// An owner as `ls -l` shows it: `system`, or the first 8 hex digits of the user's UUID.
pub fn owner_short(owner: Option<Uuid>) -> String {
    match owner {
        None => String::from("system"),
        Some(u) => {
            let mut s = format!("{}", u.simple());
            s.truncate(8);
            s
        }
    }
}

/// An owner in full: `system` or the UUID.
pub fn owner_long(owner: Option<Uuid>) -> String {
    match owner {
        None => String::from("system"),
        Some(u) => format!("{}", u.hyphenated()),
    }
}

/// A size for people: bytes below 1 KiB, then one decimal in KiB, MiB, GiB, TiB.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut scale: u64 = 1024;
    while unit + 1 < UNITS.len() && bytes >= scale.saturating_mul(1024) {
        scale = scale.saturating_mul(1024);
        unit += 1;
    }
    // One decimal, rounded down: tenths of the unit.
    let tenths = u128::from(bytes) * 10 / u128::from(scale);
    format!(
        "{}.{} {}",
        tenths / 10,
        tenths % 10,
        UNITS.get(unit).copied().unwrap_or("TiB")
    )
}

/// A timestamp (nanoseconds since the Unix epoch) as `YYYY-MM-DD HH:MM` in UTC.
pub fn date_minutes(ns: u64) -> String {
    let (y, mo, d, h, mi, _) = civil(ns);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS.nnnnnnnnn UTC`.
pub fn date_full(ns: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ns);
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:09} UTC",
        ns % 1_000_000_000
    )
}

/// (year, month, day, hour, minute, second) of a Unix time in nanoseconds (proleptic
/// Gregorian calendar, UTC; Howard Hinnant's days-from-civil inverse).
fn civil(ns: u64) -> (u64, u64, u64, u64, u64, u64) {
    let secs = ns / 1_000_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip() {
        assert_eq!(permission_string(FilePermissions::USER_FILE), "rw-r---");
        assert_eq!(permission_string(FilePermissions::ALL), "rwxrwrw");
        assert_eq!(permission_string(FilePermissions::SYSTEM_ONLY), "---rw--");
        for b in 0..0x80u8 {
            let p = FilePermissions::from_bits(b);
            assert_eq!(parse_permissions(&permission_string(p)), Ok(p));
        }
        assert_eq!(
            parse_permissions("0x2b"),
            Ok(FilePermissions::WORLD_READABLE)
        );
        assert_eq!(parse_permissions("all"), Ok(FilePermissions::ALL));
        assert_eq!(parse_permissions("rwxrwr"), Err(BadPermissions));
        assert_eq!(parse_permissions("200"), Err(BadPermissions));
    }

    #[test]
    fn sizes_and_dates() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(date_minutes(0), "1970-01-01 00:00");
        // 2024-02-29 12:34:56 UTC.
        assert_eq!(
            date_full(1_709_210_096_000_000_007),
            "2024-02-29 12:34:56.000000007 UTC"
        );
    }
}
