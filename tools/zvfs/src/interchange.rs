//! Moving a subtree of an image in and out of the specification's interchange formats:
//! inecontainer files (content only, names as relative paths) and ASU backups (content plus
//! kind, owner, permissions and the three timestamps).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::path::Path;

use uuid::Uuid;
use vfs_service::ops::meta::RestoredMetadata;
use vfs_service::permission::FilePermissions;
use vfs_service::protocol::messages::{FileKind, Stat};

use crate::asu::{AsuError, AsuReader, AsuWriter, Entry, EntryKind, WriteOptions};
use crate::image::{Image, ImageError};
use crate::ine::{Container, IneError, MAX_NAME_BYTES};

/// Why a transfer failed.
#[derive(Debug)]
pub enum TransferError {
    /// The image side.
    Image(ImageError),
    /// The ASU side.
    Asu(AsuError),
    /// The inecontainer side.
    Ine(IneError),
    /// An entry the target format or tree cannot take (and why).
    Unsupported(String),
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Image(e) => write!(f, "{e}"),
            Self::Asu(e) => write!(f, "{e}"),
            Self::Ine(e) => write!(f, "{e}"),
            Self::Unsupported(m) => write!(f, "{m}"),
        }
    }
}

impl From<ImageError> for TransferError {
    fn from(e: ImageError) -> Self {
        Self::Image(e)
    }
}
impl From<AsuError> for TransferError {
    fn from(e: AsuError) -> Self {
        Self::Asu(e)
    }
}
impl From<IneError> for TransferError {
    fn from(e: IneError) -> Self {
        Self::Ine(e)
    }
}

/// What a transfer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferReport {
    /// Entries written to the target.
    pub entries: u64,
    /// Content bytes copied.
    pub bytes: u64,
    /// Entries the target format cannot hold (with the reason), skipped.
    pub skipped: Vec<String>,
}

/// `dir`'s path relative to itself as an archive path: `/` for `dir`, `/a/b` below it.
fn relative(dir: &str, path: &str) -> String {
    let base = dir.trim_end_matches('/');
    match path.strip_prefix(base) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => path.to_string(),
    }
}

/// `dir` joined with an archive path (`/` is `dir` itself).
fn absolute(dir: &str, archive_path: &str) -> String {
    let base = dir.trim_end_matches('/');
    match archive_path {
        "/" => {
            if base.is_empty() {
                "/".to_string()
            } else {
                base.to_string()
            }
        }
        rest => format!("{base}{rest}"),
    }
}

/// Files sealed under a client key cannot be read without it, and the image tool holds none.
fn refuse_encrypted(stat: &Stat) -> Result<(), TransferError> {
    if stat.encrypted {
        return Err(TransferError::Unsupported(format!(
            "{}: encrypted under a client key, which the image tool does not hold",
            stat.path
        )));
    }
    Ok(())
}

fn to_entry(dir: &str, stat: &Stat) -> Result<Entry, TransferError> {
    refuse_encrypted(stat)?;
    let kind = match &stat.kind {
        FileKind::File => EntryKind::File,
        FileKind::Directory => EntryKind::Directory,
        FileKind::Symlink(target) => EntryKind::Symlink {
            target: target.clone(),
        },
    };
    Ok(Entry {
        path: relative(dir, &stat.path),
        size: if kind == EntryKind::File {
            stat.size
        } else {
            0
        },
        kind,
        owner: stat.owner.map(|u| *u.as_bytes()),
        permissions: u16::from(stat.permissions.bits()),
        created_ns: stat.created_ns,
        modified_ns: stat.modified_ns,
        accessed_ns: stat.accessed_ns,
        content_sha256: stat.sha256,
    })
}

/// Writes the subtree `dir` of `image` to a new ASU file at `out`.
pub fn export_asu(
    image: &mut Image,
    dir: &str,
    out: &Path,
    options: WriteOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<TransferReport, TransferError> {
    let stats = image.walk(dir)?;
    let entries = stats
        .iter()
        .map(|s| to_entry(dir, s))
        .collect::<Result<Vec<_>, _>>()?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| ImageError::Io(format!("{}: {e}", out.display())))?;
    let mut writer = AsuWriter::create(BufWriterSeek::new(file), options, entries.clone())?;
    let mut report = TransferReport::default();
    let mut done = 0u64;
    for (stat, entry) in stats.iter().zip(&entries) {
        report.entries += 1;
        if entry.kind == EntryKind::File && entry.size > 0 {
            let mut reader = image.reader(&stat.path)?;
            writer.write_content(&mut reader)?;
            done += entry.size;
            progress(done);
        }
    }
    report.bytes = done;
    writer
        .finish()?
        .finish()
        .map_err(|e| ImageError::Io(format!("{}: {e}", out.display())))?;
    Ok(report)
}

/// Restores an ASU file into `dir` of `image` (created if missing): directories, files,
/// symlinks, then owners, permissions and timestamps.
pub fn import_asu(
    image: &mut Image,
    asu: &Path,
    key: Option<&[u8; 32]>,
    public_key: Option<&[u8; 32]>,
    dir: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<TransferReport, TransferError> {
    let file = File::open(asu).map_err(|e| ImageError::Io(format!("{}: {e}", asu.display())))?;
    let mut reader = AsuReader::open(BufReader::new(file), key, public_key)?;
    let entries = reader.entries()?;
    let mut report = TransferReport::default();
    image.op(dir, |v, c| v.mkdir(c, dir, true, None))?;
    for (number, entry) in entries.iter().enumerate() {
        let target = absolute(dir, &entry.path);
        match &entry.kind {
            EntryKind::Directory => {
                if entry.path != "/" {
                    image.op(&target, |v, c| v.mkdir(c, &target, true, None))?;
                }
            }
            EntryKind::Symlink { target: link } => {
                image.op(&target, |v, c| v.symlink(c, link, &target))?;
            }
            EntryKind::File => {
                let mut writer = image.writer(&target)?;
                // The reader checks every chunk and the SHA-256; a failure drops the writer,
                // which discards the file.
                reader.read_content(&entries, number, &mut writer)?;
                report.bytes += writer.finish()?;
                progress(report.bytes);
            }
        }
        report.entries += 1;
    }
    for entry in &entries {
        let target = absolute(dir, &entry.path);
        let meta = RestoredMetadata {
            owner: entry.owner.map(Uuid::from_bytes),
            permissions: FilePermissions::from_bits(entry.permissions as u8),
            created_ns: entry.created_ns,
            modified_ns: entry.modified_ns,
            accessed_ns: entry.accessed_ns,
        };
        image.op(&target, |v, c| v.restore_metadata(c, &target, &meta))?;
    }
    image.sync()?;
    Ok(report)
}

/// Writes every file under `dir` of `image` into a new inecontainer file, named by its path
/// relative to `dir`. Directories are implied by the names; symlinks cannot be held and are
/// skipped (listed in the report).
pub fn export_ine(
    image: &mut Image,
    dir: &str,
    container: &Path,
    identifier: &str,
) -> Result<TransferReport, TransferError> {
    let stats = image.walk(dir)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(container)
        .map_err(|e| ImageError::Io(format!("{}: {e}", container.display())))?;
    let mut ine = Container::create(file, identifier)?;
    let mut report = TransferReport::default();
    for stat in &stats {
        match stat.kind {
            FileKind::File => {
                refuse_encrypted(stat)?;
                let name = relative(dir, &stat.path)
                    .trim_start_matches('/')
                    .to_string();
                if name.len() > MAX_NAME_BYTES {
                    return Err(TransferError::Unsupported(format!(
                        "{}: name longer than the {MAX_NAME_BYTES} bytes a container holds",
                        stat.path
                    )));
                }
                let mut reader = image.reader(&stat.path)?;
                report.bytes += ine.add(&name, &mut reader)?.size;
                report.entries += 1;
            }
            FileKind::Symlink(_) => report.skipped.push(format!("{}: symlink", stat.path)),
            FileKind::Directory => {}
        }
    }
    Ok(report)
}

/// Copies every virtual file of an inecontainer into `dir` of `image`; `/` in names makes
/// directories. Names that are not clean relative paths are refused before anything is written.
pub fn import_ine(
    image: &mut Image,
    container: &Path,
    dir: &str,
) -> Result<TransferReport, TransferError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(container)
        .map_err(|e| ImageError::Io(format!("{}: {e}", container.display())))?;
    let mut ine = Container::open(file, None)?;
    let streams = ine.list();
    for stream in &streams {
        let clean = stream
            .name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
        if !clean {
            return Err(TransferError::Unsupported(format!(
                "virtual file name {:?} is not a relative path inside the target directory",
                stream.name
            )));
        }
    }
    let mut report = TransferReport::default();
    image.op(dir, |v, c| v.mkdir(c, dir, true, None))?;
    for stream in &streams {
        let target = absolute(dir, &format!("/{}", stream.name));
        if let Some((parent, _)) = target.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
            image.op(parent, |v, c| v.mkdir(c, parent, true, None))?;
        }
        let mut writer = image.writer(&target)?;
        ine.extract(&stream.name, &mut writer)?;
        report.bytes += writer.finish()?;
        report.entries += 1;
    }
    image.sync()?;
    Ok(report)
}

/// A buffered file that can also seek and read back (what the ASU writer needs).
pub struct BufWriterSeek {
    inner: BufWriter<File>,
}

impl BufWriterSeek {
    fn new(file: File) -> Self {
        Self {
            inner: BufWriter::with_capacity(1 << 20, file),
        }
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.inner.flush()?;
        self.inner.get_ref().sync_all()
    }
}

impl std::io::Write for BufWriterSeek {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl std::io::Seek for BufWriterSeek {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl std::io::Read for BufWriterSeek {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Write;
        self.inner.flush()?;
        self.inner.get_mut().read(buf)
    }
}
