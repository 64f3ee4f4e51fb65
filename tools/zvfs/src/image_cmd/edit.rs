//! Commands that change the image's tree: `put`, `mkdir`, `rm`, `mv`. Each syncs the image
//! before it returns, so a finished command is on disk.

use std::io::BufReader;
use std::path::Path;

use vfs_service::protocol::messages::FileKind;
use zvfs::image;

use super::ImageArgs;
use super::output::bar;
use crate::Failure;

/// `put`: a host file into the image at `path`.
pub(super) fn put(image: &ImageArgs, input: &Path, path: &str, json: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let file = image::open_host_file(input)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = bar(size, json);
    img.put(path, &mut BufReader::new(file), &mut |n| {
        progress.set_position(n)
    })?;
    progress.finish_and_clear();
    img.sync()?;
    Ok(())
}

/// `mkdir`: a directory (with its missing parents when `parents`).
pub(super) fn mkdir(image: &ImageArgs, path: &str, parents: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    img.op(path, |v, c| v.mkdir(c, path, parents, None))?;
    img.sync()?;
    Ok(())
}

/// `rm`: a file or symlink; a directory and everything in it only when `recursive`.
pub(super) fn rm(image: &ImageArgs, path: &str, recursive: bool) -> Result<(), Failure> {
    let mut img = image.open()?;
    let stat = img.op(path, |v, c| v.stat(c, path, false))?;
    if stat.kind == FileKind::Directory {
        if !recursive {
            return Err(Failure::Refused(format!("{path}: is a directory (use -r)")));
        }
        img.op(path, |v, c| v.rmdir(c, path, true))?;
    } else {
        img.op(path, |v, c| v.unlink(c, path))?;
    }
    img.sync()?;
    Ok(())
}

/// `mv`: renames or moves an entry.
pub(super) fn mv(image: &ImageArgs, from: &str, to: &str) -> Result<(), Failure> {
    let mut img = image.open()?;
    img.op(from, |v, c| v.rename(c, from, to))?;
    img.sync()?;
    Ok(())
}
