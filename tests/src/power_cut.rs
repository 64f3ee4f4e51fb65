//! Power cuts for a QEMU disk with a volatile write cache.
//!
//! Killing QEMU alone is a gentle crash: every write QEMU issued is already in the host's page
//! cache, so nothing the guest wrote is lost, flushed or not. A power cut also loses what the
//! disk's cache held since the last FLUSH. To model it, the disk is attached through QEMU's
//! `blklogwrites` driver, which records every write and flush the guest issues, in order, in a
//! log file (the dm-log-writes format: a superblock, then per request a 512-byte header
//! `{sector, sector count, flags, data length}` followed by the data). After the kill the disk
//! is rebuilt from its copy taken at boot: every write up to the last completed flush, then as
//! many sectors of the later writes as the test chooses (in order; the write in progress torn
//! at a sector boundary, sectors being what a disk writes atomically).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use xtask::machine::Machine;

/// The log's sector size (QEMU's default `log-sector-size`), also the unit of positions.
const SECTOR: u64 = 512;
/// `WRITE_LOG_MAGIC` of the dm-log-writes format.
const MAGIC: u64 = 0x6a_7366_7773_6872;
/// Entry flags of the format.
const FLUSH: u64 = 1 << 0;
const FUA: u64 = 1 << 1;
const DISCARD: u64 = 1 << 2;
const MARK: u64 = 1 << 3;

/// `machine`'s QEMU command line with its disk behind `blklogwrites`, logging to `log` (which
/// must exist; an empty file starts a new log).
pub fn logged_command(machine: &Machine, log: &Path) -> Command {
    let plain = machine.command();
    let (disk, log) = (machine.disk.display(), log.display());
    // QEMU's option syntax has no escape for a comma in a file name.
    assert!(
        !disk.to_string().contains(',') && !log.to_string().contains(','),
        "a comma in the disk or log path"
    );
    let mut logged = Command::new(plain.get_program());
    let mut replaced = false;
    for arg in plain.get_args() {
        if arg.to_string_lossy().starts_with("if=none,id=disk0,") {
            logged.arg(format!(
                "if=none,id=disk0,driver=blklogwrites,file.driver=file,file.filename={disk},\
                 log.driver=file,log.filename={log}"
            ));
            replaced = true;
        } else {
            logged.arg(arg);
        }
    }
    assert!(replaced, "no disk0 drive in the machine's command line");
    logged
}

/// One logged request.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// First disk sector written.
    sector: u64,
    /// Sectors written (0 for a flush).
    sectors: u64,
    flags: u64,
    /// Where the data starts in the log.
    data_at: u64,
}

/// Where the power fails, in sectors of the log's writes taken in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// At the kill, the disk cache having written everything back (QEMU died, not the host).
    Kill,
    /// At the kill, losing all but `roll % (n + 1)` of the `n` sectors written since the
    /// last flush.
    KillLosingUnflushed(u64),
    /// Earlier: after `roll % (n + 1)` of the `n` sectors written after the log held `from`
    /// bytes, whatever was flushed (the disk at some moment of the run after that point).
    Anywhere {
        /// The log's length at the start of the interesting part of the run.
        from: u64,
        /// Chooses the sector.
        roll: u64,
    },
}

/// What a power cut did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Requests in the log.
    pub requests: usize,
    /// Flushes in the log.
    pub flushes: usize,
    /// Sectors written in all.
    pub written: u64,
    /// Sectors written up to the last flush.
    pub flushed: u64,
    /// Sectors that reached the disk.
    pub kept: u64,
}

impl Cut {
    /// The cut kept everything the last flush made durable.
    pub fn keeps_flushed(&self) -> bool {
        self.kept >= self.flushed
    }
}

fn entries(log: &[u8]) -> Vec<Entry> {
    let word = |at: u64| -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        Some(u64::from_le_bytes(log.get(at..at + 8)?.try_into().ok()?))
    };
    // QEMU writes the superblock when the guest first flushes (and at close), so a log cut
    // short before any flush has a blank one.
    match word(0) {
        Some(MAGIC) => {
            let sector_size = log
                .get(24..28)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
            assert_eq!(
                sector_size,
                Some(SECTOR as u32),
                "unexpected log sector size"
            );
        }
        Some(0) | None => {}
        Some(other) => panic!("not a blklogwrites log (magic {other:#x})"),
    }
    let mut out = Vec::new();
    let mut at = SECTOR;
    // The superblock's entry count is only brought up to date now and then (and not at a
    // kill), so the log is read to its end. A request whose data did not all reach the log
    // was never completed to the guest and counts as not issued.
    while let (Some(sector), Some(sectors), Some(flags)) = (word(at), word(at + 8), word(at + 16)) {
        let data_at = at + SECTOR;
        let end = data_at + sectors * SECTOR;
        if end > log.len() as u64 {
            break;
        }
        assert_eq!(
            flags & (DISCARD | MARK),
            0,
            "the guest issued a request this model does not know (flags {flags:#x})"
        );
        out.push(Entry {
            sector,
            sectors,
            flags,
            data_at,
        });
        at = end;
    }
    out
}

/// How many leading requests a flush made durable.
fn durable_prefix(entries: &[Entry]) -> usize {
    entries
        .iter()
        .rposition(|e| e.flags & (FLUSH | FUA) != 0)
        .map_or(0, |i| i + 1)
}

/// Rewrites `disk` as a power cut at `moment` leaves it: `base` (the disk when the log began)
/// plus the first sectors of `log`'s writes, in order, the write in progress torn at a sector.
pub fn rebuild(disk: &Path, base: &Path, log: &Path, moment: Moment) -> Cut {
    let log_bytes = std::fs::read(log).expect("read the write log");
    let entries = entries(&log_bytes);
    let durable = durable_prefix(&entries);
    let written: u64 = entries.iter().map(|e| e.sectors).sum();
    let flushed: u64 = entries[..durable].iter().map(|e| e.sectors).sum();
    let kept = match moment {
        Moment::Kill => written,
        Moment::KillLosingUnflushed(roll) => flushed + roll % (written - flushed + 1),
        Moment::Anywhere { from, roll } => {
            let before: u64 = entries
                .iter()
                .filter(|e| e.data_at <= from)
                .map(|e| e.sectors)
                .sum();
            before + roll % (written - before + 1)
        }
    };
    std::fs::copy(base, disk).expect("restore the disk from its copy at boot");
    let file = OpenOptions::new()
        .write(true)
        .open(disk)
        .expect("open the disk image");
    let mut left = kept;
    for entry in &entries {
        let sectors = entry.sectors.min(left);
        if sectors == 0 {
            continue;
        }
        left -= sectors;
        let from = entry.data_at as usize;
        let data = &log_bytes[from..from + (sectors * SECTOR) as usize];
        file.write_all_at(data, entry.sector * SECTOR)
            .expect("write the disk image");
    }
    file.sync_all().expect("sync the disk image");
    Cut {
        requests: entries.len(),
        flushes: entries.iter().filter(|e| e.flags & FLUSH != 0).count(),
        written,
        flushed,
        kept,
    }
}
