//! `zvfs`: build and inspect Zero OS disk images; move data in and out as inecontainer and ASU
//! files.
//!
//! Exit codes (stable, for scripts): 0 success; 1 the input failed a check (corrupt, tampered,
//! truncated, wrong key or signature); 2 usage error; 3 I/O error (a file could not be opened,
//! read or written); 4 the named item does not exist, or exists already; 5 the filesystem
//! refused the operation (not empty, not a directory, no space, an entry the target format
//! cannot hold).
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zvfs::asu::{AsuError, AsuReader, EntryKind, Signature};
use zvfs::ine::IneError;

mod image_cmd;
mod ine_cmd;

#[derive(Parser)]
#[command(
    name = "zvfs",
    version,
    about = "Zero OS disk images and interchange files"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Image(image_cmd::ImageCommand),
    /// Check an ASU file: framing, master and section hashes, signature, and (with the key, or
    /// when unencrypted) every chunk and content hash.
    VerifyAsu {
        /// The ASU file.
        file: PathBuf,
        /// The 256-bit key of an encrypted file (32 raw bytes or 64 hex digits).
        #[arg(long)]
        key: Option<PathBuf>,
        /// A trusted Ed25519 public key (32 raw bytes or 64 hex digits): the file must be signed
        /// with its secret key.
        #[arg(long)]
        pubkey: Option<PathBuf>,
    },
    /// Work on a plain inecontainer file, like the reference `ic` tool.
    Ine {
        #[command(subcommand)]
        command: ine_cmd::IneCommand,
    },
    /// List the entries of an ASU file.
    AsuList {
        /// The ASU file.
        file: PathBuf,
        /// The 256-bit key of an encrypted file.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

/// A failure, with the exit code it maps to.
pub(crate) enum Failure {
    Usage(String),
    Check(String),
    Io(String),
    Missing(String),
    Refused(String),
}

impl From<IneError> for Failure {
    fn from(e: IneError) -> Self {
        match e {
            IneError::Io(_) => Failure::Io(e.to_string()),
            IneError::NoSuchStream(_) | IneError::StreamExists(_) => {
                Failure::Missing(e.to_string())
            }
            IneError::BadName(_) => Failure::Usage(e.to_string()),
            _ => Failure::Check(e.to_string()),
        }
    }
}

impl From<AsuError> for Failure {
    fn from(e: AsuError) -> Self {
        match e {
            AsuError::Io(_) => Failure::Io(e.to_string()),
            other => Failure::Check(other.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::VerifyAsu { file, key, pubkey } => verify_asu(&file, key, pubkey, cli.json),
        Command::AsuList { file, key } => asu_list(&file, key, cli.json),
        Command::Ine { command } => ine_cmd::run(command, cli.json),
        Command::Image(command) => image_cmd::run(command, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, message) = match failure {
                Failure::Check(m) => (1, m),
                Failure::Usage(m) => (2, m),
                Failure::Io(m) => (3, m),
                Failure::Missing(m) => (4, m),
                Failure::Refused(m) => (5, m),
            };
            if cli.json {
                println!("{}", serde_json::json!({ "ok": false, "error": message }));
            } else {
                eprintln!("zvfs: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Reads a 32-byte key file: raw bytes, or 64 hex digits (whitespace ignored).
fn read_key(path: &Path) -> Result<[u8; 32], Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Io(format!("{}: {e}", path.display())))?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text: String = String::from_utf8_lossy(&bytes).split_whitespace().collect();
    let bad = || {
        Failure::Usage(format!(
            "{}: not a 32-byte key (raw or 64 hex digits)",
            path.display()
        ))
    };
    if text.len() != 64 {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

fn open_asu(
    file: &Path,
    key: Option<&[u8; 32]>,
    pubkey: Option<&[u8; 32]>,
) -> Result<AsuReader<BufReader<File>>, Failure> {
    let handle = File::open(file).map_err(|e| Failure::Io(format!("{}: {e}", file.display())))?;
    Ok(AsuReader::open(BufReader::new(handle), key, pubkey)?)
}

fn verify_asu(
    file: &Path,
    key: Option<PathBuf>,
    pubkey: Option<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let key = key.map(|k| read_key(&k)).transpose()?;
    let pubkey = pubkey.map(|k| read_key(&k)).transpose()?;
    let mut reader = open_asu(file, key.as_ref(), pubkey.as_ref())?;
    // Without the key of an encrypted file the chunks cannot be opened; say so rather than
    // claim a check that did not happen.
    let chunks_checked = !reader.is_encrypted() || key.is_some();
    let mut entries = 0;
    if chunks_checked {
        reader.verify_chunks()?;
        let list = reader.entries()?;
        let mut sink = std::io::sink();
        for number in 0..list.len() {
            reader.read_content(&list, number, &mut sink)?;
        }
        entries = list.len();
    }
    let signature = match reader.signature() {
        Signature::None => "none".to_string(),
        Signature::Verified => "verified".to_string(),
        Signature::Unchecked { .. } => "present, not checked (no --pubkey)".to_string(),
    };
    if json {
        let value = serde_json::json!({
            "ok": true,
            "chunks": reader.chunk_count(),
            "chunks_checked": chunks_checked,
            "entries": entries,
            "encrypted": reader.is_encrypted(),
            "signature": signature,
        });
        println!("{value}");
    } else {
        println!("{}: ok", file.display());
        println!("  master hash, section hash: ok");
        println!("  signature: {signature}");
        if chunks_checked {
            println!(
                "  {} chunks, {entries} entries: every chunk and content hash ok",
                reader.chunk_count()
            );
        } else {
            println!(
                "  {} chunks: encrypted, not opened (no --key)",
                reader.chunk_count()
            );
        }
    }
    Ok(())
}

fn asu_list(file: &Path, key: Option<PathBuf>, json: bool) -> Result<(), Failure> {
    let key = key.map(|k| read_key(&k)).transpose()?;
    let mut reader = open_asu(file, key.as_ref(), None)?;
    let entries = reader.entries()?;
    if json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "path": e.path,
                    "kind": match &e.kind {
                        EntryKind::File => "file",
                        EntryKind::Directory => "directory",
                        EntryKind::Symlink { .. } => "symlink",
                    },
                    "size": e.size,
                    "permissions": e.permissions,
                    "modified_ns": e.modified_ns,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for e in &entries {
            let kind = match &e.kind {
                EntryKind::File => "-".to_string(),
                EntryKind::Directory => "d".to_string(),
                EntryKind::Symlink { target } => format!("l -> {target}"),
            };
            println!("{:>12}  {}  {}", human_size(e.size), e.path, kind);
        }
    }
    Ok(())
}

/// Sizes as people read them: 1023 B, 1.0 KiB, 12.5 MiB.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
