//! Commands that create, remove and move entries: `mkdir`, `rmdir`, `rm`, `mv`, `cp`, `ln`.

use alloc::format;
use kernel_abi::Kernel;
use vfs_api::VfsError;
use vfs_api::client::ClientError;
use vfs_api::protocol::messages::FileKind;

use super::{CmdError, Shell, describe, split_flag};
use crate::path::{file_name, join};

impl<K: Kernel> Shell<'_, K> {
    pub(super) fn mkdir(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let (parents, dirs) = split_flag(args, "-p");
        if dirs.is_empty() {
            return Err(CmdError::Usage("mkdir [-p] DIR..."));
        }
        for d in dirs {
            let path = self.abs(d);
            let r = if parents {
                self.client.mkdir_all(&path)
            } else {
                self.client.mkdir(&path)
            };
            r.map_err(|e| CmdError::fs(&path, e))?;
        }
        Ok(())
    }

    pub(super) fn rmdir(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let (recursive, dirs) = split_flag(args, "-r");
        if dirs.is_empty() {
            return Err(CmdError::Usage("rmdir [-r] DIR..."));
        }
        for d in dirs {
            let path = self.abs(d);
            let r = if recursive {
                self.client.rmdir_all(&path)
            } else {
                self.client.rmdir(&path)
            };
            r.map_err(|e| CmdError::fs(&path, e))?;
        }
        Ok(())
    }

    pub(super) fn rm(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let (recursive, paths) = split_flag(args, "-r");
        if paths.is_empty() {
            return Err(CmdError::Usage("rm [-r] PATH..."));
        }
        for p in paths {
            let path = self.abs(p);
            let stat = self
                .client
                .lstat(&path)
                .map_err(|e| CmdError::fs(&path, e))?;
            let r = match stat.kind {
                FileKind::Directory if recursive => self.client.rmdir_all(&path),
                FileKind::Directory => Err(ClientError::Vfs(VfsError::NotAFile)),
                _ => self.client.unlink(&path),
            };
            r.map_err(|e| match e {
                ClientError::Vfs(VfsError::NotAFile) => {
                    CmdError::BadArgument(format!("{path}: is a directory (use rm -r or rmdir)"))
                }
                e => CmdError::fs(&path, e),
            })?;
        }
        Ok(())
    }

    pub(super) fn mv_cp(&mut self, args: &[&str], is_move: bool) -> Result<(), CmdError> {
        let [from, to] = args else {
            return Err(CmdError::Usage(if is_move {
                "mv FROM TO"
            } else {
                "cp FROM TO"
            }));
        };
        let from = self.abs(from);
        let mut to = self.abs(to);
        if let Ok(s) = self.client.stat(&to)
            && s.kind == FileKind::Directory
        {
            to = join(&to, file_name(&from));
        }
        let r = if is_move {
            self.client.rename(&from, &to)
        } else {
            self.client.copy(&from, &to)
        };
        r.map_err(|e| match e {
            ClientError::Vfs(VfsError::AlreadyExists) => CmdError::fs(&to, e),
            e => CmdError::BadArgument(format!("{from} -> {to}: {}", describe(&e))),
        })
    }

    pub(super) fn ln(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let ["-s", target, link] = args else {
            return Err(CmdError::Usage("ln -s TARGET LINK"));
        };
        let link = self.abs(link);
        // The target is stored as typed: a relative one is relative to the link's directory.
        self.client
            .symlink(target, &link)
            .map_err(|e| CmdError::fs(&link, e))
    }
}
