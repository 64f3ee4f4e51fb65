//! A Zero OS disk image opened on the host: the same store and the same VFS operations the VFS
//! task runs, over a file instead of virtio-blk, acting as the system (the image's owner holds
//! its key). The image layout, key derivation and region split come from
//! `vfs_service::image`, so an image made here boots in QEMU and the other way round.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use storage_backend::block::FileDevice;
use storage_backend::{CryptoEngine, Db, SoftwareEngine, StoreError};
use vfs_service::image::{
    self, BLOCK_SIZE, BLOCKS_PER_ERASE_UNIT, ERASE_UNIT_BYTES, ImageIdentity,
};
use vfs_service::protocol::limits::MAX_IO;
use vfs_service::protocol::messages::{OpenFlags, Stat};
use vfs_service::{Ctx, Env, Limits, Vfs, VfsError};

/// The VFS over an image file.
pub type ImageVfs = Vfs<FileDevice, SoftwareEngine>;

/// The smallest image: room for both databases.
pub const MIN_IMAGE_BYTES: u64 = 4 << 20;

/// The host's wall clock, nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Time and randomness from the host.
pub struct HostEnv;

impl Env for HostEnv {
    fn now_ns(&self) -> u64 {
        now_ns()
    }

    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        getrandom::getrandom(out).map_err(|_| VfsError::StorageError)
    }
}

/// Why an image operation failed.
#[derive(Debug)]
pub enum ImageError {
    /// The image file could not be created, opened, read or written.
    Io(String),
    /// The image's size is not a whole number of erase units, or is too small.
    BadSize(u64),
    /// The key does not open the image's kernel database (or its metadata is corrupt).
    WrongKey,
    /// The store refused: corruption, a full device, a limit.
    Store(StoreError),
    /// The userspace database did not mount; the kernel one did.
    UserspaceUnavailable(StoreError),
    /// The image's filesystem schema version is not one this tool knows (written by a newer
    /// release); nothing was changed.
    UnsupportedSchema {
        /// The version recorded on the image.
        found: Option<u32>,
        /// The version this tool reads and writes.
        supported: u32,
    },
    /// A VFS operation on `path` failed.
    Vfs {
        /// The path operated on.
        path: String,
        /// The VFS's error.
        error: VfsError,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(m) => write!(f, "{m}"),
            Self::BadSize(n) => write!(
                f,
                "image size {n} is not a multiple of {ERASE_UNIT_BYTES} bytes of at least {MIN_IMAGE_BYTES}"
            ),
            Self::WrongKey => write!(
                f,
                "the key does not open this image (wrong key, or the kernel database's metadata is damaged)"
            ),
            Self::Store(e) => write!(f, "store: {e:?}"),
            Self::UserspaceUnavailable(e) => {
                write!(f, "the userspace database does not mount: {e:?}")
            }
            Self::UnsupportedSchema { found, supported } => write!(
                f,
                "the image's filesystem schema is version {}, this tool reads version {supported}; refusing to open it",
                found.map_or_else(|| "unreadable".to_string(), |v| v.to_string())
            ),
            Self::Vfs { path, error } => write!(f, "{path}: {error}"),
        }
    }
}

impl std::error::Error for ImageError {}

fn store_error(e: StoreError) -> ImageError {
    match e {
        StoreError::Integrity(_) => ImageError::WrongKey,
        other => ImageError::Store(other),
    }
}

/// An opened image.
pub struct Image {
    vfs: ImageVfs,
    env: HostEnv,
}

/// Reads a 32-byte key file (raw bytes, or 64 hex digits).
pub fn read_key(path: &Path) -> Result<[u8; 32], String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text: String = String::from_utf8_lossy(&bytes).split_whitespace().collect();
    let bad = || {
        format!(
            "{}: not a 32-byte key (raw or 64 hex digits)",
            path.display()
        )
    };
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// Writes a new random key file (mode 0600 on Unix); refuses to overwrite one.
pub fn create_key(path: &Path) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| format!("no randomness for a key: {e}"))?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&key)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key)
}

impl Image {
    /// Makes a new image of `size` bytes at `path` (which must not exist), formatted under
    /// `key` and initialised as a first boot would (the canonical hierarchy, `machine.json`
    /// with boot count 1, `registry.json`).
    pub fn create(path: &Path, size: u64, key: &[u8; 32]) -> Result<Self, ImageError> {
        if size < MIN_IMAGE_BYTES || !size.is_multiple_of(ERASE_UNIT_BYTES) {
            return Err(ImageError::BadSize(size));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| ImageError::Io(format!("{}: {e}", path.display())))?;
        let device = FileDevice::new(
            file,
            BLOCK_SIZE,
            BLOCKS_PER_ERASE_UNIT,
            size / ERASE_UNIT_BYTES,
        )
        .map_err(|e| ImageError::Io(format!("{}: {e:?}", path.display())))?;
        let mut engine = SoftwareEngine::new();
        let master = engine
            .import_key(key)
            .map_err(|e| ImageError::Store(StoreError::Crypto(e)))?;
        let env = HostEnv;
        let mut uuids = [[0u8; 16]; 2];
        for uuid in &mut uuids {
            *uuid = *uuid::Builder::from_random_bytes(random16()?)
                .into_uuid()
                .as_bytes();
        }
        let identity = ImageIdentity {
            uuids,
            creator: b"zvfs",
            created_ns: env.now_ns(),
        };
        let store = image::format(device, engine, master, &identity).map_err(ImageError::Store)?;
        let mut vfs = Vfs::new(store, Limits::default());
        vfs.boot(&env).map_err(|error| ImageError::Vfs {
            path: "/".into(),
            error,
        })?;
        Ok(Self { vfs, env })
    }

    /// Opens the image at `path` under `key`, without booting it.
    pub fn open(path: &Path, key: &[u8; 32]) -> Result<Self, ImageError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| ImageError::Io(format!("{}: {e}", path.display())))?;
        let len = file
            .metadata()
            .map_err(|e| ImageError::Io(e.to_string()))?
            .len();
        if len < MIN_IMAGE_BYTES || !len.is_multiple_of(ERASE_UNIT_BYTES) {
            return Err(ImageError::BadSize(len));
        }
        let device = FileDevice::new(
            file,
            BLOCK_SIZE,
            BLOCKS_PER_ERASE_UNIT,
            len / ERASE_UNIT_BYTES,
        )
        .map_err(|e| ImageError::Io(format!("{}: {e:?}", path.display())))?;
        let mut engine = SoftwareEngine::new();
        let master = engine
            .import_key(key)
            .map_err(|e| ImageError::Store(StoreError::Crypto(e)))?;
        let store = image::mount(device, engine, master).map_err(store_error)?;
        if let Some(e) = store.mount_error(Db::Userspace) {
            return Err(ImageError::UserspaceUnavailable(e));
        }
        let mut vfs = Vfs::new(store, Limits::default());
        match vfs.attach() {
            Ok(()) => {}
            Err(VfsError::UnsupportedSchema) => {
                return Err(ImageError::UnsupportedSchema {
                    found: vfs.stored_schema().ok().flatten(),
                    supported: vfs_service::inode::SCHEMA_VERSION,
                });
            }
            Err(error) => {
                return Err(ImageError::Vfs {
                    path: "/".into(),
                    error,
                });
            }
        }
        Ok(Self { vfs, env: HostEnv })
    }

    /// The VFS and the system context to call it with.
    pub fn parts(&mut self) -> (&mut ImageVfs, Ctx<'_>) {
        (&mut self.vfs, Ctx::service(&self.env))
    }

    /// Runs one VFS operation on `path` as the system.
    pub fn op<T>(
        &mut self,
        path: &str,
        f: impl FnOnce(&mut ImageVfs, &Ctx<'_>) -> Result<T, VfsError>,
    ) -> Result<T, ImageError> {
        let (vfs, ctx) = self.parts();
        f(vfs, &ctx).map_err(|error| ImageError::Vfs {
            path: path.to_string(),
            error,
        })
    }

    /// Copies `content` into the file at `path` (created or replaced), in message-sized pieces
    /// through one handle as a client would; nothing is visible unless the copy completes.
    pub fn put(
        &mut self,
        path: &str,
        content: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, ImageError> {
        let mut writer = self.writer(path)?;
        if let Err(e) = copy(content, &mut writer, progress) {
            // The filesystem's refusal (a full image, a limit) as such, not as an I/O error.
            return Err(writer.refused.take().unwrap_or(e));
        }
        writer.finish()
    }

    /// Streams the file at `path` to `out`; the VFS checks its integrity as it reads.
    pub fn get(
        &mut self,
        path: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, ImageError> {
        let mut reader = self.reader(path)?;
        copy(&mut reader, out, progress)
    }

    /// Every entry under `root` (itself included), parents before children, names in order.
    pub fn walk(&mut self, root: &str) -> Result<Vec<Stat>, ImageError> {
        let top = self.op(root, |v, c| v.stat(c, root, false))?;
        let mut out = vec![top];
        let mut next = 0;
        while next < out.len() {
            if out[next].kind == vfs_service::protocol::messages::FileKind::Directory {
                let dir = out[next].path.clone();
                let mut children = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let page = self.op(&dir, |v, c| v.readdir(c, &dir, cursor.as_deref()))?;
                    for entry in page.entries {
                        children.push(self.op(&entry.path, |v, c| v.stat(c, &entry.path, false))?);
                    }
                    match page.next {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                // Depth-first: a directory's children right after it.
                out.splice(next + 1..next + 1, children);
            }
            next += 1;
        }
        Ok(out)
    }

    /// The filesystem schema version recorded on the image (`None`: no record, an image made
    /// before the record existed, read as version 1).
    pub fn schema_version(&mut self) -> Result<Option<u32>, ImageError> {
        self.vfs.stored_schema().map_err(|error| ImageError::Vfs {
            path: "/".into(),
            error,
        })
    }

    /// Checks one database record by record.
    pub fn check_database(&mut self, db: Db) -> Result<storage_backend::CheckReport, StoreError> {
        self.vfs.store_mut().check(db)
    }

    /// The store, for inspection (metadata, usage, master hashes).
    pub fn store(&mut self) -> &mut storage_backend::Store<FileDevice, SoftwareEngine> {
        self.vfs.store_mut()
    }

    /// Collects what the command left unreferenced (the pieces of removed or replaced files,
    /// abandoned staging areas, detached subtrees: the running VFS does this between requests,
    /// the tool before it returns), then makes everything written durable.
    ///
    /// A collection the store refuses for want of room does not fail the command (its own
    /// change is committed): what is left stays reclaimable (`zvfs info`) for the next one.
    pub fn sync(&mut self) -> Result<(), ImageError> {
        match self.vfs.collect_all() {
            Ok(()) | Err(VfsError::NoSpace | VfsError::ResourceLimitExceeded) => {}
            Err(error) => {
                return Err(ImageError::Vfs {
                    path: "/".into(),
                    error,
                });
            }
        }
        self.vfs.store_mut().sync().map_err(ImageError::Store)
    }

    /// What collection would give back now (`zvfs info`).
    pub fn reclaimable(&mut self) -> Result<vfs_service::ops::gc::Reclaimable, ImageError> {
        self.vfs.reclaimable().map_err(|error| ImageError::Vfs {
            path: "/".into(),
            error,
        })
    }
}

/// Copies until `from` ends, reporting the running total.
fn copy(
    from: &mut dyn Read,
    to: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, ImageError> {
    let mut buf = vec![0u8; MAX_IO];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ImageError::Io(e.to_string())),
        };
        to.write_all(&buf[..n])
            .map_err(|e| ImageError::Io(e.to_string()))?;
        total += n as u64;
        progress(total);
    }
}

fn random16() -> Result<[u8; 16], ImageError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| ImageError::Io(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// Opens a file for reading, with the path in the error.
pub fn open_host_file(path: &Path) -> Result<File, ImageError> {
    File::open(path).map_err(|e| ImageError::Io(format!("{}: {e}", path.display())))
}

/// A file of the image being written through a handle: `Write` it, then [`FileWriter::finish`]
/// to make it visible; dropped unfinished, nothing of it becomes visible.
pub struct FileWriter<'a> {
    image: &'a mut Image,
    path: String,
    handle: Option<vfs_service::protocol::messages::Handle>,
    written: u64,
    /// Why the VFS refused the last write, if it did.
    refused: Option<ImageError>,
    /// The file did not exist before: OPEN created it empty, so an unfinished writer removes it.
    created: bool,
}

impl Image {
    /// Starts writing the file at `path` (created or replaced).
    pub fn writer(&mut self, path: &str) -> Result<FileWriter<'_>, ImageError> {
        let flags = OpenFlags {
            read: false,
            write: true,
            create: true,
            exclusive: false,
            truncate: true,
            append: false,
            // A replacement, like WRITE: the last writer wins.
            overwrite: true,
        };
        let created = !self.op(path, |v, c| v.exists(c, path))?;
        let handle = self
            .op(path, |v, c| v.open(c, path, flags, None, None))?
            .handle;
        Ok(FileWriter {
            image: self,
            path: path.to_string(),
            handle: Some(handle),
            written: 0,
            refused: None,
            created,
        })
    }

    /// Opens the file at `path` for reading as a `Read`.
    pub fn reader(&mut self, path: &str) -> Result<FileReader<'_>, ImageError> {
        let flags = OpenFlags {
            read: true,
            write: false,
            create: false,
            exclusive: false,
            truncate: false,
            append: false,
            overwrite: false,
        };
        let handle = self
            .op(path, |v, c| v.open(c, path, flags, None, None))?
            .handle;
        Ok(FileReader {
            image: self,
            path: path.to_string(),
            handle,
            pending: Vec::new(),
            at: 0,
        })
    }
}

impl FileWriter<'_> {
    /// Commits the file; returns its length.
    pub fn finish(mut self) -> Result<u64, ImageError> {
        let Some(handle) = self.handle.take() else {
            return Ok(self.written);
        };
        let path = self.path.clone();
        if let Err(e) = self.image.op(&path, |v, c| v.handle_close(c, handle)) {
            // A CLOSE that cannot commit keeps its handle: dropping discards it.
            self.handle = Some(handle);
            return Err(e);
        }
        self.created = false;
        Ok(self.written)
    }
}

impl Write for FileWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let Some(handle) = self.handle else {
            return Err(std::io::Error::other("writer finished"));
        };
        let piece = &data[..data.len().min(MAX_IO)];
        let path = self.path.clone();
        if let Err(e) = self
            .image
            .op(&path, |v, c| v.handle_write(c, handle, piece))
        {
            let io = std::io::Error::other(e.to_string());
            self.refused = Some(e);
            return Err(io);
        }
        self.written += piece.len() as u64;
        Ok(piece.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for FileWriter<'_> {
    fn drop(&mut self) {
        let path = self.path.clone();
        if let Some(handle) = self.handle.take() {
            let _ = self.image.op(&path, |v, c| v.handle_discard(c, handle));
        }
        if self.created {
            // OPEN with `create` committed the empty file; nothing of an unfinished write may
            // stay visible. A removal is admitted on a full store.
            let _ = self.image.op(&path, |v, c| v.unlink(c, &path));
        }
    }
}

/// A file of the image being read through a handle.
pub struct FileReader<'a> {
    image: &'a mut Image,
    path: String,
    handle: vfs_service::protocol::messages::Handle,
    pending: Vec<u8>,
    at: usize,
}

impl Read for FileReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            let (path, handle) = (self.path.clone(), self.handle);
            self.pending = self
                .image
                .op(&path, |v, c| v.handle_read(c, handle, MAX_IO as u32))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.at = 0;
        }
        let n = out.len().min(self.pending.len() - self.at);
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Drop for FileReader<'_> {
    fn drop(&mut self) {
        let (path, handle) = (self.path.clone(), self.handle);
        let _ = self.image.op(&path, |v, c| v.handle_close(c, handle));
    }
}
