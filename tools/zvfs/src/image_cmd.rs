//! `zvfs` commands on disk images: mkfs, info, ls, tree, cat, get, put, mkdir, rm, mv, stat,
//! fsck, and the transfers to and from inecontainer and ASU files.
//!
//! This module is the command line (the subcommands and their options) and hands each command
//! to the module of its group: `disk` (the image as a whole: mkfs, info, fsck), `browse`
//! (reading the tree: ls, tree, cat, get, stat), `edit` (changing it: put, mkdir, rm, mv) and
//! `transfer` (inecontainer and ASU files); `output` has the text and JSON shapes they share.

mod browse;
mod disk;
mod edit;
mod output;
mod transfer;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use vfs_service::VfsError;

use zvfs::image::{Image, ImageError, read_key};
use zvfs::ine::DEFAULT_IDENTIFIER;
use zvfs::interchange::TransferError;

use crate::Failure;

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

/// How `export-asu` writes the file.
#[derive(Args, Clone)]
pub struct AsuExportArgs {
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
        #[command(flatten)]
        options: AsuExportArgs,
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
            | ImageError::UserspaceUnavailable(_)
            | ImageError::UnsupportedSchema { .. } => Failure::Check(e.to_string()),
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

/// Runs one image command.
pub fn run(command: ImageCommand, json: bool) -> Result<(), Failure> {
    match command {
        ImageCommand::Mkfs { image, size } => disk::mkfs(&image, &size, json),
        ImageCommand::Info { image } => disk::info(&image, json),
        ImageCommand::Ls { image, path, long } => browse::ls(&image, &path, long, json),
        ImageCommand::Tree { image, path } => browse::tree(&image, &path, json),
        ImageCommand::Cat { image, path } => browse::cat(&image, &path),
        ImageCommand::Get {
            image,
            path,
            output,
        } => browse::get(&image, &path, output, json),
        ImageCommand::Put { image, input, path } => edit::put(&image, &input, &path, json),
        ImageCommand::Mkdir {
            image,
            path,
            parents,
        } => edit::mkdir(&image, &path, parents),
        ImageCommand::Rm {
            image,
            path,
            recursive,
        } => edit::rm(&image, &path, recursive),
        ImageCommand::Mv { image, from, to } => edit::mv(&image, &from, &to),
        ImageCommand::Stat { image, path } => browse::stat(&image, &path, json),
        ImageCommand::Fsck { image } => disk::check(&image, json),
        ImageCommand::ImportIne {
            container,
            image,
            dir,
        } => transfer::import_ine(&container, &image, &dir, json),
        ImageCommand::ExportIne {
            image,
            dir,
            container,
            ident,
        } => transfer::export_ine(&image, &dir, &container, &ident, json),
        ImageCommand::ExportAsu {
            image,
            dir,
            output,
            options,
        } => transfer::export_asu(&image, &dir, &output, options, json),
        ImageCommand::ImportAsu {
            input,
            image,
            dir,
            decrypt_key,
            pubkey,
        } => transfer::import_asu(&input, &image, &dir, decrypt_key, pubkey, json),
    }
}
