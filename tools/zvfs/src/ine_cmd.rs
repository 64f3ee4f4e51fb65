//! `zvfs ine …`: the reference `ic` tool's operations on a plain inecontainer file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use clap::Subcommand;
use zvfs::ine::{Container, DEFAULT_IDENTIFIER, IneError};

use crate::{Failure, human_size};

#[derive(Subcommand)]
pub enum IneCommand {
    /// Create an empty container.
    Init {
        /// The container file (must not exist).
        container: PathBuf,
        /// The identifier string of the file header.
        #[arg(long, default_value = DEFAULT_IDENTIFIER)]
        ident: String,
    },
    /// List the virtual files.
    List {
        /// The container file.
        container: PathBuf,
        /// Refuse a container with another identifier.
        #[arg(long)]
        ident: Option<String>,
    },
    /// Add host files as virtual files (named after the file, or --name for one file).
    Import {
        /// The container file.
        container: PathBuf,
        /// Host files to add.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The virtual file's name (only with a single file).
        #[arg(long)]
        name: Option<String>,
    },
    /// Write one virtual file to a host file, or to standard output.
    Extract {
        /// The container file.
        container: PathBuf,
        /// The virtual file.
        name: String,
        /// Where to write it (standard output when absent or `-`).
        output: Option<PathBuf>,
    },
    /// Write every virtual file into a host directory.
    ExportAll {
        /// The container file.
        container: PathBuf,
        /// The directory (created if missing).
        directory: PathBuf,
    },
    /// Remove virtual files; their chunks become fill chunks, reused by later imports.
    Remove {
        /// The container file.
        container: PathBuf,
        /// The virtual files to remove.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Rename a virtual file (the new name must not exist).
    Rename {
        /// The container file.
        container: PathBuf,
        /// The virtual file.
        old: String,
        /// Its new name.
        new: String,
    },
    /// Append a host file (or standard input, `-`) to a virtual file.
    Append {
        /// The container file.
        container: PathBuf,
        /// The virtual file.
        name: String,
        /// The data to append: a host file, or `-` for standard input.
        input: PathBuf,
    },
    /// Set a virtual file's size: shrinking frees chunks as fill, growing appends zeros.
    Truncate {
        /// The container file.
        container: PathBuf,
        /// The virtual file.
        name: String,
        /// The new size in bytes.
        size: u64,
    },
    /// Overwrite a virtual file from a byte offset on with a host file (or `-`), in place;
    /// what goes past the end is appended.
    WriteAt {
        /// The container file.
        container: PathBuf,
        /// The virtual file.
        name: String,
        /// The byte offset (past the end: the gap is filled with zeros).
        offset: u64,
        /// The data: a host file, or `-` for standard input.
        input: PathBuf,
    },
    /// Stream a virtual file to standard output in byte order, in constant memory.
    Cat {
        /// The container file.
        container: PathBuf,
        /// The virtual file.
        name: String,
    },
}

fn io_failure(path: &Path, e: io::Error) -> Failure {
    Failure::Io(format!("{}: {e}", path.display()))
}

fn open(path: &Path, ident: Option<&str>) -> Result<Container<File>, Failure> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_failure(path, e))?;
    Container::open(file, ident).map_err(step(path, "open"))
}

/// Maps a container error to a failure (keeping its exit code) whose message names the
/// container file and the step that failed.
fn step(path: &Path, what: &str) -> impl FnOnce(IneError) -> Failure {
    let prefix = format!("{}: {what}", path.display());
    move |e| match Failure::from(e) {
        Failure::Usage(m) => Failure::Usage(format!("{prefix}: {m}")),
        Failure::Check(m) => Failure::Check(format!("{prefix}: {m}")),
        Failure::Io(m) => Failure::Io(format!("{prefix}: {m}")),
        Failure::Missing(m) => Failure::Missing(format!("{prefix}: {m}")),
        Failure::Refused(m) => Failure::Refused(format!("{prefix}: {m}")),
    }
}

/// The data of `append`/`write-at`: a host file, opened before the container is touched so a
/// missing input changes nothing, or standard input for `-`.
fn input(path: &Path) -> Result<Box<dyn Read>, Failure> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    let file = File::open(path)
        .map_err(|e| Failure::Io(format!("{}: open the input: {e}", path.display())))?;
    Ok(Box::new(BufReader::new(file)))
}

/// Runs one `ine` subcommand.
pub fn run(command: IneCommand, json: bool) -> Result<(), Failure> {
    match command {
        IneCommand::Init { container, ident } => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&container)
                .map_err(|e| io_failure(&container, e))?;
            Container::create(file, &ident)?;
            Ok(())
        }
        IneCommand::List { container, ident } => {
            let c = open(&container, ident.as_deref())?;
            let list = c.list();
            if json {
                let items: Vec<_> = list
                    .iter()
                    .map(|s| serde_json::json!({ "name": s.name, "size": s.size, "stream_id": s.id }))
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else {
                for s in &list {
                    println!("{:>12}  {}", human_size(s.size), s.name);
                }
            }
            Ok(())
        }
        IneCommand::Import {
            container,
            files,
            name,
        } => {
            if name.is_some() && files.len() != 1 {
                return Err(Failure::Usage("--name takes a single file".into()));
            }
            let mut c = open(&container, None)?;
            for path in &files {
                let stream_name = match &name {
                    Some(n) => n.clone(),
                    None => path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .ok_or_else(|| {
                            Failure::Usage(format!("{}: no file name", path.display()))
                        })?,
                };
                let mut reader = BufReader::new(File::open(path).map_err(|e| io_failure(path, e))?);
                let info = c.add(&stream_name, &mut reader).map_err(step(
                    &container,
                    &format!("import {} as {stream_name:?}", path.display()),
                ))?;
                if !json {
                    println!("added {} ({})", info.name, human_size(info.size));
                }
            }
            Ok(())
        }
        IneCommand::Extract {
            container,
            name,
            output,
        } => {
            let mut c = open(&container, None)?;
            match output.filter(|p| p.as_os_str() != "-") {
                None => {
                    let stdout = io::stdout();
                    let mut lock = stdout.lock();
                    c.extract(&name, &mut lock)
                        .map_err(step(&container, &format!("extract {name:?}")))?;
                    lock.flush().map_err(|e| Failure::Io(e.to_string()))?;
                }
                Some(path) => {
                    let mut out = File::create(&path).map_err(|e| io_failure(&path, e))?;
                    c.extract(&name, &mut out).map_err(step(
                        &container,
                        &format!("extract {name:?} to {}", path.display()),
                    ))?;
                }
            }
            Ok(())
        }
        IneCommand::ExportAll {
            container,
            directory,
        } => {
            let mut c = open(&container, None)?;
            std::fs::create_dir_all(&directory).map_err(|e| io_failure(&directory, e))?;
            for stream in c.list() {
                let target = safe_join(&directory, &stream.name)?;
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_failure(parent, e))?;
                }
                let mut out = File::create(&target).map_err(|e| io_failure(&target, e))?;
                c.extract(&stream.name, &mut out).map_err(step(
                    &container,
                    &format!("export {:?} to {}", stream.name, target.display()),
                ))?;
            }
            Ok(())
        }
        IneCommand::Remove { container, names } => {
            let mut c = open(&container, None)?;
            for name in &names {
                c.remove(name)
                    .map_err(step(&container, &format!("remove {name:?}")))?;
            }
            Ok(())
        }
        IneCommand::Rename {
            container,
            old,
            new,
        } => {
            let mut c = open(&container, None)?;
            c.rename(&old, &new)
                .map_err(step(&container, &format!("rename {old:?} to {new:?}")))
        }
        IneCommand::Append {
            container,
            name,
            input: from,
        } => {
            let mut data = input(&from)?;
            let mut c = open(&container, None)?;
            let what = format!("append {} to {name:?}", from.display());
            let size = c
                .append(&name, &mut data)
                .map_err(step(&container, &what))?;
            if !json {
                println!("{name}: {}", human_size(size));
            }
            Ok(())
        }
        IneCommand::Truncate {
            container,
            name,
            size,
        } => {
            let mut c = open(&container, None)?;
            c.truncate(&name, size)
                .map_err(step(&container, &format!("truncate {name:?} to {size}")))
        }
        IneCommand::WriteAt {
            container,
            name,
            offset,
            input: from,
        } => {
            let mut data = input(&from)?;
            let mut c = open(&container, None)?;
            let what = format!("write {} into {name:?} at {offset}", from.display());
            let written = c
                .write_at(&name, offset, &mut data)
                .map_err(step(&container, &what))?;
            if !json {
                println!("{name}: wrote {} at {offset}", human_size(written));
            }
            Ok(())
        }
        IneCommand::Cat { container, name } => {
            let mut c = open(&container, None)?;
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let result = c.extract(&name, &mut out).and_then(|_| Ok(out.flush()?));
            match result {
                // A reader that stopped early (`| head`) is not an error of ours.
                Err(IneError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(step(&container, &format!("cat {name:?}"))),
            }
        }
    }
}

/// `directory/name` for a virtual file name, refusing names that would land outside the
/// directory (absolute paths, `..`), since a container's names are not trusted.
fn safe_join(directory: &Path, name: &str) -> Result<PathBuf, Failure> {
    let relative = Path::new(name);
    let escapes = relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes || name.is_empty() {
        return Err(Failure::Check(format!(
            "virtual file name {name:?} would leave the target directory"
        )));
    }
    Ok(directory.join(relative))
}
