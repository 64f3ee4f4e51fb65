//! Commands that move whole directories between the image and interchange files:
//! `import-ine` / `export-ine` (inecontainer files) and `export-asu` / `import-asu` (ASU
//! backups, optionally compressed, encrypted and signed).

use std::path::{Path, PathBuf};

use zvfs::asu::{Compression, WriteOptions};
use zvfs::image::read_key;
use zvfs::interchange::{self, TransferReport};

use super::output::bar;
use super::{AsuExportArgs, ImageArgs};
use crate::{Failure, human_size};

/// `import-ine`: every virtual file of `container` into `dir` of the image.
pub(super) fn import_ine(
    container: &Path,
    image: &ImageArgs,
    dir: &str,
    json: bool,
) -> Result<(), Failure> {
    let mut img = image.open()?;
    let report = interchange::import_ine(&mut img, container, dir)?;
    report_transfer(&report, json);
    Ok(())
}

/// `export-ine`: every file under `dir` of the image into a new inecontainer file.
pub(super) fn export_ine(
    image: &ImageArgs,
    dir: &str,
    container: &Path,
    ident: &str,
    json: bool,
) -> Result<(), Failure> {
    let mut img = image.open()?;
    let report = interchange::export_ine(&mut img, dir, container, ident)?;
    report_transfer(&report, json);
    Ok(())
}

/// `export-asu`: `dir` of the image into a new ASU file.
pub(super) fn export_asu(
    image: &ImageArgs,
    dir: &str,
    output: &Path,
    options: AsuExportArgs,
    json: bool,
) -> Result<(), Failure> {
    let compression = match options.compression.as_str() {
        "none" => Compression::None,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => {
            return Err(Failure::Usage(format!(
                "compression {other:?}: none, lz4 or zstd"
            )));
        }
    };
    let key = options
        .encrypt_key
        .map(|p| read_key(&p))
        .transpose()
        .map_err(Failure::Usage)?;
    let signing_key = options
        .sign_key
        .map(|p| read_key(&p))
        .transpose()
        .map_err(Failure::Usage)?;
    let mut img = image.open()?;
    let total = img.op(dir, |v, c| v.usage(c, dir))?.bytes;
    let options = WriteOptions {
        compression,
        compression_level: 3,
        key,
        index: !options.no_index,
        signing_key,
        created_ns: zvfs::image::now_ns(),
        source_name: format!("{}:{dir}", image.image.display()),
        creator: format!("zvfs {}", env!("CARGO_PKG_VERSION")),
    };
    let progress = bar(total, json);
    let report = interchange::export_asu(&mut img, dir, output, options, &mut |n| {
        progress.set_position(n)
    })?;
    progress.finish_and_clear();
    report_transfer(&report, json);
    Ok(())
}

/// `import-asu`: an ASU file into `dir` of the image, checking its signature against `pubkey`
/// when given.
pub(super) fn import_asu(
    input: &Path,
    image: &ImageArgs,
    dir: &str,
    decrypt_key: Option<PathBuf>,
    pubkey: Option<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let key = decrypt_key
        .map(|p| read_key(&p))
        .transpose()
        .map_err(Failure::Usage)?;
    let pubkey = pubkey
        .map(|p| read_key(&p))
        .transpose()
        .map_err(Failure::Usage)?;
    let mut img = image.open()?;
    let progress = bar(std::fs::metadata(input).map(|m| m.len()).unwrap_or(0), json);
    let report = interchange::import_asu(
        &mut img,
        input,
        key.as_ref(),
        pubkey.as_ref(),
        dir,
        &mut |n| progress.set_position(n),
    )?;
    progress.finish_and_clear();
    report_transfer(&report, json);
    Ok(())
}

/// The summary of a transfer: entries and bytes, and what was skipped.
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
