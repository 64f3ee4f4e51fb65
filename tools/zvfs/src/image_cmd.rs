//! `zvfs` commands on disk images: mkfs, info, ls, tree, cat, get, put, mkdir, rm, mv, stat,
//! fsck, and the transfers to and from inecontainer and ASU files.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use storage_backend::Db;
use vfs_service::VfsError;
use vfs_service::protocol::messages::{FileKind, Stat};

use zvfs::asu::{Compression, WriteOptions};
use zvfs::fsck::fsck;
use zvfs::image::{self, Image, ImageError, create_key, read_key};
use zvfs::ine::DEFAULT_IDENTIFIER;
use zvfs::interchange::{self, TransferError, TransferReport};

use crate::{Failure, human_size};

/// The image and its key file.
#[derive(Args, Clone)]
pub struct ImageArgs {
    /// The disk image.
    image: PathBuf,
    /// The image's device master key (32 raw bytes or 64 hex digits); default `<image>.key`.
    #[arg(long)]
    key: Option<PathBuf>,
}

impl ImageArgs {
    fn key_path(&self) -> PathBuf {
        self.key.clone().unwrap_or_else(|| {
            let mut name = self.image.as_os_str().to_owned();
            name.push(".key");
            PathBuf::from(name)
        })
    }

    fn open(&self) -> Result<Image, Failure> {
        let key = read_key(&self.key_path()).map_err(Failure::Usage)?;
        Ok(Image::open(&self.image, &key)?)
    }
}

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Make a new image (and a new random key file unless --key names an existing one).
    Mkfs {
        #[command(flatten)]
        image: ImageArgs,
        /// Size: bytes, or with K, M or G (binary units).
        #[arg(long, default_value = "64M")]
        size: String,
    },
    /// Show the image's containers: headers, metadata, usage, master hashes, boot count.
    Info {
        #[command(flatten)]
        image: ImageArgs,
    },
    /// List a directory.
    Ls {
        #[command(flatten)]
        image: ImageArgs,
        /// The directory.
        #[arg(default_value = "/")]
        path: String,
        /// Long format: permissions, owner, size, modification time.
        #[arg(short, long)]
        long: bool,
    },
    /// Show a directory tree.
    Tree {
        #[command(flatten)]
        image: ImageArgs,
        /// The top directory.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Print a file.
    Cat {
        #[command(flatten)]
        image: ImageArgs,
        /// The file.
        path: String,
    },
    /// Copy a file out of the image (to standard output when no target or `-`).
    Get {
        #[command(flatten)]
        image: ImageArgs,
        /// The file in the image.
        path: String,
        /// The host file to write.
        output: Option<PathBuf>,
    },
    /// Copy a host file into the image.
    Put {
        #[command(flatten)]
        image: ImageArgs,
        /// The host file.
        input: PathBuf,
        /// The path in the image.
        path: String,
    },
    /// Make a directory.
    Mkdir {
        #[command(flatten)]
        image: ImageArgs,
        /// The directory.
        path: String,
        /// Make missing parents too.
        #[arg(short, long)]
        parents: bool,
    },
    /// Remove a file, symlink or (with -r) a directory and everything in it.
    Rm {
        #[command(flatten)]
        image: ImageArgs,
        /// The entry.
        path: String,
        /// Remove a directory and its contents.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Rename or move an entry.
    Mv {
        #[command(flatten)]
        image: ImageArgs,
        /// The entry.
        from: String,
        /// Its new path.
        to: String,
    },
    /// Show an entry's metadata.
    Stat {
        #[command(flatten)]
        image: ImageArgs,
        /// The entry.
        path: String,
    },
    /// Check everything: chunk CRCs, GCM tags, master hashes, content hashes, tree totals.
    Fsck {
        #[command(flatten)]
        image: ImageArgs,
    },
    /// Copy every virtual file of an inecontainer file into a directory of the image.
    ImportIne {
        /// The inecontainer file.
        container: PathBuf,
        #[command(flatten)]
        image: ImageArgs,
        /// The directory in the image.
        dir: String,
    },
    /// Write every file under a directory of the image into a new inecontainer file.
    ExportIne {
        #[command(flatten)]
        image: ImageArgs,
        /// The directory in the image.
        dir: String,
        /// The inecontainer file to create.
        container: PathBuf,
        /// The identifier string of the new container.
        #[arg(long, default_value = DEFAULT_IDENTIFIER)]
        ident: String,
    },
    /// Back up a directory of the image into a new ASU file.
    ExportAsu {
        #[command(flatten)]
        image: ImageArgs,
        /// The directory in the image.
        dir: String,
        /// The ASU file to create.
        output: PathBuf,
        /// Compression: none, lz4 or zstd.
        #[arg(long, default_value = "zstd")]
        compression: String,
        /// Encrypt with this 256-bit key file.
        #[arg(long)]
        encrypt_key: Option<PathBuf>,
        /// Sign with this Ed25519 secret key file (32-byte seed).
        #[arg(long)]
        sign_key: Option<PathBuf>,
        /// Leave out the name-hash index.
        #[arg(long)]
        no_index: bool,
    },
    /// Restore an ASU file into a directory of the image.
    ImportAsu {
        /// The ASU file.
        input: PathBuf,
        #[command(flatten)]
        image: ImageArgs,
        /// The directory in the image.
        dir: String,
        /// The 256-bit key of an encrypted file.
        #[arg(long)]
        decrypt_key: Option<PathBuf>,
        /// A trusted Ed25519 public key: the file must carry a valid signature by it.
        #[arg(long)]
        pubkey: Option<PathBuf>,
    },
}

impl From<ImageError> for Failure {
    fn from(e: ImageError) -> Self {
        match &e {
            ImageError::Io(_) => Failure::Io(e.to_string()),
            ImageError::BadSize(_) => Failure::Usage(e.to_string()),
            ImageError::Vfs {
                error: VfsError::NotFound | VfsError::AlreadyExists,
                ..
            } => Failure::Missing(e.to_string()),
            ImageError::Vfs {
                error: VfsError::IntegrityError,
                ..
            }
            | ImageError::WrongKey
            | ImageError::UserspaceUnavailable(_) => Failure::Check(e.to_string()),
            ImageError::Store(_) | ImageError::Vfs { .. } => Failure::Refused(e.to_string()),
        }
    }
}

impl From<TransferError> for Failure {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Image(e) => e.into(),
            TransferError::Asu(e) => e.into(),
            TransferError::Ine(e) => e.into(),
            TransferError::Unsupported(m) => Failure::Refused(m),
        }
    }
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

fn bar(total: u64, json: bool) -> ProgressBar {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) from nanoseconds since the epoch.
pub fn utc(ns: u64) -> String {
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

fn kind_char(stat: &Stat) -> char {
    match stat.kind {
        FileKind::File => '-',
        FileKind::Directory => 'd',
        FileKind::Symlink(_) => 'l',
    }
}

fn owner_string(stat: &Stat) -> String {
    stat.owner
        .map_or_else(|| "system".to_string(), |u| u.to_string())
}

fn stat_json(stat: &Stat) -> serde_json::Value {
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

fn report_transfer(report: &TransferReport, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "entries": report.entries, "bytes": report.bytes, "skipped": report.skipped })
        );
    } else {
        println!("{} entries, {}", report.entries, human_size(report.bytes));
        for skipped in &report.skipped {
            eprintln!("zvfs: skipped {skipped}");
        }
    }
}

/// Runs one image command.
pub fn run(command: ImageCommand, json: bool) -> Result<(), Failure> {
    match command {
        ImageCommand::Mkfs { image, size } => {
            let size = parse_size(&size)?;
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
        ImageCommand::Info { image } => info(&mut image.open()?, json),
        ImageCommand::Ls { image, path, long } => {
            let mut img = image.open()?;
            let stat = img.op(&path, |v, c| v.stat(c, &path, true))?;
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
                    let suffix = match &s.kind {
                        FileKind::Symlink(t) => format!(" -> {t}"),
                        FileKind::Directory => "/".to_string(),
                        FileKind::File => String::new(),
                    };
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
        ImageCommand::Tree { image, path } => {
            let mut img = image.open()?;
            let stats = img.walk(&path)?;
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
        ImageCommand::Cat { image, path } => {
            let mut img = image.open()?;
            let stdout = io::stdout();
            let mut out = stdout.lock();
            img.get(&path, &mut out, &mut |_| {})?;
            out.flush().map_err(|e| Failure::Io(e.to_string()))
        }
        ImageCommand::Get {
            image,
            path,
            output,
        } => {
            let mut img = image.open()?;
            let size = img.op(&path, |v, c| v.stat(c, &path, true))?.size;
            match output.filter(|p| p.as_os_str() != "-") {
                None => {
                    let stdout = io::stdout();
                    let mut out = stdout.lock();
                    img.get(&path, &mut out, &mut |_| {})?;
                    out.flush().map_err(|e| Failure::Io(e.to_string()))
                }
                Some(target) => {
                    let mut file = File::create(&target)
                        .map_err(|e| Failure::Io(format!("{}: {e}", target.display())))?;
                    let progress = bar(size, json);
                    img.get(&path, &mut file, &mut |n| progress.set_position(n))?;
                    progress.finish_and_clear();
                    file.sync_all().map_err(|e| Failure::Io(e.to_string()))
                }
            }
        }
        ImageCommand::Put { image, input, path } => {
            let mut img = image.open()?;
            let file = image::open_host_file(&input)?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let progress = bar(size, json);
            img.put(&path, &mut BufReader::new(file), &mut |n| {
                progress.set_position(n)
            })?;
            progress.finish_and_clear();
            img.sync()?;
            Ok(())
        }
        ImageCommand::Mkdir {
            image,
            path,
            parents,
        } => {
            let mut img = image.open()?;
            img.op(&path, |v, c| v.mkdir(c, &path, parents, None))?;
            img.sync()?;
            Ok(())
        }
        ImageCommand::Rm {
            image,
            path,
            recursive,
        } => {
            let mut img = image.open()?;
            let stat = img.op(&path, |v, c| v.stat(c, &path, false))?;
            if stat.kind == FileKind::Directory {
                if !recursive {
                    return Err(Failure::Refused(format!("{path}: is a directory (use -r)")));
                }
                img.op(&path, |v, c| v.rmdir(c, &path, true))?;
            } else {
                img.op(&path, |v, c| v.unlink(c, &path))?;
            }
            img.sync()?;
            Ok(())
        }
        ImageCommand::Mv { image, from, to } => {
            let mut img = image.open()?;
            img.op(&from, |v, c| v.rename(c, &from, &to))?;
            img.sync()?;
            Ok(())
        }
        ImageCommand::Stat { image, path } => {
            let mut img = image.open()?;
            let s = img.op(&path, |v, c| v.stat(c, &path, false))?;
            if json {
                println!("{}", stat_json(&s));
            } else {
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
            }
            Ok(())
        }
        ImageCommand::Fsck { image } => {
            let mut img = image.open()?;
            let report = fsck(&mut img);
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": report.is_clean(),
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
        ImageCommand::ImportIne {
            container,
            image,
            dir,
        } => {
            let mut img = image.open()?;
            let report = interchange::import_ine(&mut img, &container, &dir)?;
            report_transfer(&report, json);
            Ok(())
        }
        ImageCommand::ExportIne {
            image,
            dir,
            container,
            ident,
        } => {
            let mut img = image.open()?;
            let report = interchange::export_ine(&mut img, &dir, &container, &ident)?;
            report_transfer(&report, json);
            Ok(())
        }
        ImageCommand::ExportAsu {
            image,
            dir,
            output,
            compression,
            encrypt_key,
            sign_key,
            no_index,
        } => {
            let compression = match compression.as_str() {
                "none" => Compression::None,
                "lz4" => Compression::Lz4,
                "zstd" => Compression::Zstd,
                other => {
                    return Err(Failure::Usage(format!(
                        "compression {other:?}: none, lz4 or zstd"
                    )));
                }
            };
            let key = encrypt_key
                .map(|p| read_key(&p))
                .transpose()
                .map_err(Failure::Usage)?;
            let signing_key = sign_key
                .map(|p| read_key(&p))
                .transpose()
                .map_err(Failure::Usage)?;
            let mut img = image.open()?;
            let total = img.op(&dir, |v, c| v.usage(c, &dir))?.bytes;
            let options = WriteOptions {
                compression,
                compression_level: 3,
                key,
                index: !no_index,
                signing_key,
                created_ns: zvfs::image::now_ns(),
                source_name: format!("{}:{dir}", image.image.display()),
                creator: format!("zvfs {}", env!("CARGO_PKG_VERSION")),
            };
            let progress = bar(total, json);
            let report = interchange::export_asu(&mut img, &dir, &output, options, &mut |n| {
                progress.set_position(n)
            })?;
            progress.finish_and_clear();
            report_transfer(&report, json);
            Ok(())
        }
        ImageCommand::ImportAsu {
            input,
            image,
            dir,
            decrypt_key,
            pubkey,
        } => {
            let key = decrypt_key
                .map(|p| read_key(&p))
                .transpose()
                .map_err(Failure::Usage)?;
            let pubkey = pubkey
                .map(|p| read_key(&p))
                .transpose()
                .map_err(Failure::Usage)?;
            let mut img = image.open()?;
            let progress = bar(
                std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0),
                json,
            );
            let report = interchange::import_asu(
                &mut img,
                &input,
                key.as_ref(),
                pubkey.as_ref(),
                &dir,
                &mut |n| progress.set_position(n),
            )?;
            progress.finish_and_clear();
            report_transfer(&report, json);
            Ok(())
        }
    }
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
        let suffix = match &s.kind {
            FileKind::Symlink(t) => format!(" -> {t}"),
            FileKind::Directory => "/".to_string(),
            FileKind::File => String::new(),
        };
        println!("{line}{name}{suffix}");
    }
}

fn info(img: &mut Image, json: bool) -> Result<(), Failure> {
    let machine = {
        let mut buf = Vec::new();
        img.get("/system/config/machine.json", &mut buf, &mut |_| {})
            .ok()
            .map(|_| String::from_utf8_lossy(&buf).into_owned())
    };
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
                    "master_hash": hex(master),
                    "encryption": "AES-256-GCM",
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "databases": list, "machine": machine })
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
        println!(
            "  space           {} of {} free",
            human_size(usage.device_bytes_free),
            human_size(usage.device_bytes_total)
        );
        println!("  master hash     {}", hex(master));
    }
    if let Some(machine) = machine {
        println!("machine.json      {machine}");
    }
    Ok(())
}
