//! Baking a folder of the repository into a new disk image, through the host image tool's
//! library: the same store layout, keys and VFS operations the VFS task uses, so the task
//! mounts the image it finds instead of formatting a blank disk.

use std::fs;
use std::io::BufReader;
use std::path::Path;

use zvfs::image::{Image, read_key};

use crate::machine::write_new_key;

/// Makes a new image of `size` bytes at `disk` holding the tree under `tree` (directories and
/// regular files; anything else is skipped), under the key at `key` (created if missing).
/// Returns the number of files copied. Refuses to touch an existing image.
pub fn bake_disk(disk: &Path, key: &Path, size: u64, tree: &Path) -> Result<u64, String> {
    if !key.exists() {
        write_new_key(key).map_err(|e| format!("{}: {e}", key.display()))?;
    }
    let master = read_key(key)?;
    let mut image =
        Image::create(disk, size, &master).map_err(|e| format!("{}: {e}", disk.display()))?;
    let mut files = 0;
    let result = copy_tree(&mut image, tree, "", &mut files)
        .and_then(|()| image.sync().map_err(|e| e.to_string()));
    if let Err(e) = result {
        // A half-baked image would be mounted as if it were complete: remove it.
        drop(image);
        let _ = fs::remove_file(disk);
        return Err(e);
    }
    Ok(files)
}

fn copy_tree(image: &mut Image, dir: &Path, at: &str, files: &mut u64) -> Result<(), String> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{n:?}: not UTF-8"))?;
        let path = format!("{at}/{name}");
        let kind = entry.file_type().map_err(|e| format!("{path}: {e}"))?;
        if kind.is_dir() {
            image
                .op(&path, |v, c| v.mkdir(c, &path, true, None))
                .map_err(|e| e.to_string())?;
            copy_tree(image, &entry.path(), &path, files)?;
        } else if kind.is_file() {
            let file = fs::File::open(entry.path()).map_err(|e| format!("{path}: {e}"))?;
            image
                .put(&path, &mut BufReader::new(file), &mut |_| {})
                .map_err(|e| e.to_string())?;
            *files += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_tree_bakes_into_an_image_that_reads_back() {
        let dir = std::env::temp_dir().join(format!("zos-bake-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let (disk, key) = (dir.join("disk.img"), dir.join("disk.img.key"));
        let files = bake_disk(&disk, &key, 8 << 20, &crate::paths::rootfs_dir()).expect("bake");
        assert!(files >= 1);
        let mut image = Image::open(&disk, &read_key(&key).expect("key")).expect("open");
        let mut out = Vec::new();
        image
            .get("/system/welcome.txt", &mut out, &mut |_| {})
            .expect("baked file");
        let expected =
            fs::read(crate::paths::rootfs_dir().join("system/welcome.txt")).expect("source");
        assert_eq!(out, expected);
        assert!(
            bake_disk(&disk, &key, 8 << 20, &crate::paths::rootfs_dir()).is_err(),
            "never overwrites"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
