//! Commands that look at the tree and change nothing but the working directory: `cd`, `ls`,
//! `tree`, `cat`, `readlink`, `stat`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use kernel_abi::Kernel;
use vfs_api::VfsError;
use vfs_api::client::ClientError;
use vfs_api::protocol::limits::MAX_IO;
use vfs_api::protocol::messages::{DirEntry, FileKind, OpenFlags};

use super::{CmdError, Out, Shell, split_flag};
use crate::format::{
    date_full, date_minutes, human_size, kind_char, owner_long, owner_short, permission_string,
};
use crate::path::file_name;

impl<K: Kernel> Shell<'_, K> {
    pub(super) fn cd(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let target = match args {
            [] => String::from("/"),
            [dir] => self.abs(dir),
            _ => return Err(CmdError::Usage("cd [DIR]")),
        };
        let stat = self
            .client
            .stat(&target)
            .map_err(|e| CmdError::fs(&target, e))?;
        if stat.kind != FileKind::Directory {
            return Err(CmdError::fs(
                &target,
                ClientError::Vfs(VfsError::NotADirectory),
            ));
        }
        // The canonical path: symlinks on the way are followed, as the VFS resolves them.
        self.cwd = if stat.path.is_empty() {
            target
        } else {
            stat.path
        };
        Ok(())
    }

    pub(super) fn ls(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        let (long, paths) = split_flag(args, "-l");
        let paths: Vec<String> = if paths.is_empty() {
            alloc::vec![self.cwd.clone()]
        } else {
            paths.iter().map(|p| self.abs(p)).collect()
        };
        let many = paths.len() > 1;
        let mut first_error = None;
        for (i, path) in paths.iter().enumerate() {
            let stat = match self.client.stat(path) {
                Ok(s) => s,
                Err(e) => {
                    first_error.get_or_insert(CmdError::fs(path, e));
                    continue;
                }
            };
            if stat.kind != FileKind::Directory {
                if long {
                    self.long_line(path, file_name(path), out)?;
                } else {
                    out.push_str(path);
                    out.push('\n');
                }
                continue;
            }
            if many {
                if i > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "{path}:");
            }
            let entries = match self.client.readdir(path) {
                Ok(e) => e,
                Err(e) => {
                    first_error.get_or_insert(CmdError::fs(path, e));
                    continue;
                }
            };
            for entry in &entries {
                if long {
                    self.long_line(&entry.path, &entry.name, out)?;
                } else {
                    out.push_str(&entry.name);
                    out.push('\n');
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One `ls -l` line: `drwxr--- system      0 2026-11-21 20:41 name[ -> target]`.
    fn long_line(&mut self, path: &str, name: &str, out: &mut Out<'_>) -> Result<(), CmdError> {
        let s = self.client.lstat(path).map_err(|e| CmdError::fs(path, e))?;
        let _ = write!(
            out,
            "{}{} {:<8} {:>10} {} {}",
            kind_char(&s.kind),
            permission_string(s.permissions),
            owner_short(s.owner),
            s.size,
            date_minutes(s.modified_ns),
            name
        );
        if let FileKind::Symlink(target) = &s.kind {
            let _ = write!(out, " -> {target}");
        }
        out.push('\n');
        Ok(())
    }

    pub(super) fn tree(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        let root = match args {
            [] => self.cwd.clone(),
            [dir] => self.abs(dir),
            _ => return Err(CmdError::Usage("tree [DIR]")),
        };
        let stat = self
            .client
            .stat(&root)
            .map_err(|e| CmdError::fs(&root, e))?;
        if stat.kind != FileKind::Directory {
            return Err(CmdError::fs(
                &root,
                ClientError::Vfs(VfsError::NotADirectory),
            ));
        }
        out.push_str(&root);
        out.push('\n');
        let mut counts = (0u64, 0u64);
        self.tree_below(&root, &mut String::new(), out, &mut counts, 0)?;
        let _ = writeln!(
            out,
            "\n{} director{}, {} file{}",
            counts.0,
            if counts.0 == 1 { "y" } else { "ies" },
            counts.1,
            if counts.1 == 1 { "" } else { "s" }
        );
        Ok(())
    }

    fn tree_below(
        &mut self,
        dir: &str,
        prefix: &mut String,
        out: &mut Out<'_>,
        counts: &mut (u64, u64),
        depth: usize,
    ) -> Result<(), CmdError> {
        /// Deeper trees are cut (paths are bounded, but the output should stay readable).
        const MAX_DEPTH: usize = 64;
        let entries: Vec<DirEntry> = self.client.readdir(dir).map_err(|e| CmdError::fs(dir, e))?;
        let n = entries.len();
        for (i, e) in entries.iter().enumerate() {
            let last = i + 1 == n;
            let _ = write!(
                out,
                "{prefix}{}{}",
                if last { "└── " } else { "├── " },
                e.name
            );
            if e.is_symlink {
                match self.client.readlink(&e.path) {
                    Ok(t) => {
                        let _ = write!(out, " -> {t}");
                    }
                    Err(_) => out.push_str(" -> ?"),
                }
                counts.1 += 1;
            } else if e.is_directory {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
            out.push('\n');
            if e.is_directory && !e.is_symlink && depth < MAX_DEPTH {
                let len = prefix.len();
                prefix.push_str(if last { "    " } else { "│   " });
                let r = self.tree_below(&e.path, prefix, out, counts, depth + 1);
                prefix.truncate(len);
                if let Err(err) = r {
                    // An unreadable subdirectory is marked, and the rest is still drawn.
                    let _ = writeln!(out, "{prefix}    [{}]", self.error_text(&err));
                }
            }
        }
        Ok(())
    }

    pub(super) fn cat(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        if args.is_empty() {
            return Err(CmdError::Usage("cat FILE..."));
        }
        for a in args {
            let path = self.abs(a);
            self.cat_one(&path, out)
                .map_err(|e| CmdError::fs(&path, e))?;
        }
        Ok(())
    }

    /// Streams one file through a read handle (a consistent snapshot), one message's worth
    /// at a time, so that files larger than the task's heap print too.
    fn cat_one(&mut self, path: &str, out: &mut Out<'_>) -> Result<(), ClientError> {
        let flags = OpenFlags {
            read: true,
            ..OpenFlags::default()
        };
        let h = self.client.open(path, flags)?.handle;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let piece = match self.client.read(h, MAX_IO as u32) {
                Ok(p) => p,
                Err(e) => {
                    let _ = self.client.discard(h);
                    return Err(e);
                }
            };
            if piece.is_empty() {
                break;
            }
            carry.extend_from_slice(&piece);
            let keep = incomplete_utf8_tail(&carry);
            let tail = carry.split_off(carry.len() - keep);
            out.push_str(&String::from_utf8_lossy(&carry));
            carry = tail;
        }
        if !carry.is_empty() {
            out.push_str(&String::from_utf8_lossy(&carry));
        }
        self.client.close(h)
    }

    pub(super) fn readlink(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        let [link] = args else {
            return Err(CmdError::Usage("readlink LINK"));
        };
        let link = self.abs(link);
        let target = self
            .client
            .readlink(&link)
            .map_err(|e| CmdError::fs(&link, e))?;
        out.push_str(&target);
        out.push('\n');
        Ok(())
    }

    pub(super) fn stat(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        if args.is_empty() {
            return Err(CmdError::Usage("stat PATH..."));
        }
        for a in args {
            let path = self.abs(a);
            let s = self
                .client
                .lstat(&path)
                .map_err(|e| CmdError::fs(&path, e))?;
            let kind = match &s.kind {
                FileKind::File => String::from("file"),
                FileKind::Directory => String::from("directory"),
                FileKind::Symlink(t) => format!("symlink -> {t}"),
            };
            let _ = writeln!(out, "    path: {}", s.path);
            let _ = writeln!(out, "    kind: {kind}");
            let _ = writeln!(out, "   inode: {}", s.inode);
            let _ = writeln!(out, "   owner: {}", owner_long(s.owner));
            let _ = writeln!(
                out,
                "   perms: {}{} (0x{:02x}; owner rwx, system rw, world rw)",
                kind_char(&s.kind),
                permission_string(s.permissions),
                s.permissions.bits()
            );
            let _ = writeln!(out, "    size: {} ({})", s.size, human_size(s.size));
            let _ = writeln!(out, " created: {}", date_full(s.created_ns));
            let _ = writeln!(out, "modified: {}", date_full(s.modified_ns));
            let _ = writeln!(out, "accessed: {}", date_full(s.accessed_ns));
            let _ = writeln!(
                out,
                "  cipher: {}",
                if s.encrypted {
                    "encrypted under a client key"
                } else {
                    "store encryption only"
                }
            );
            if let Some(h) = s.sha256 {
                out.push_str("  sha256: ");
                for b in h {
                    let _ = write!(out, "{b:02x}");
                }
                out.push('\n');
            }
        }
        Ok(())
    }
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is not complete yet
/// (0 when the text ends on a character boundary or in invalid bytes).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    match core::str::from_utf8(bytes) {
        Ok(_) => 0,
        // `error_len() == None`: the input ended in the middle of a character.
        Err(e) if e.error_len().is_none() => bytes.len() - e.valid_up_to(),
        Err(_) => {
            // An invalid sequence somewhere; still keep a cut character at the very end whole.
            let start = bytes.len().saturating_sub(3);
            match bytes
                .get(start..)
                .and_then(|t| t.iter().rposition(|b| b & 0xC0 != 0x80).map(|i| start + i))
            {
                Some(lead) => match core::str::from_utf8(bytes.get(lead..).unwrap_or(&[])) {
                    Err(e) if e.error_len().is_none() => bytes.len() - lead,
                    _ => 0,
                },
                None => 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::incomplete_utf8_tail;

    #[test]
    fn cut_characters_are_carried() {
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
        assert_eq!(incomplete_utf8_tail("aé".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(&"aé".as_bytes()[..2]), 1);
        assert_eq!(incomplete_utf8_tail(&"a€".as_bytes()[..3]), 2);
        assert_eq!(incomplete_utf8_tail(b"\xff\xe2\x82"), 2);
        assert_eq!(incomplete_utf8_tail(b"\xe2\x82\xff"), 0);
    }
}
