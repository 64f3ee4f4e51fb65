//! Commands for operators: ownership and permissions (`chmod`, `chown`), space (`df`,
//! `usage`, `quota`), homes (`mkhome`) and `sync`.

use alloc::format;
use alloc::vec::Vec;
use core::fmt::Write;
use kernel_abi::Kernel;
use uuid::Uuid;
use vfs_api::protocol::EngineClass;

use super::{CmdError, Out, Shell, describe};
use crate::format::{human_size, parse_permissions};

impl<K: Kernel> Shell<'_, K> {
    pub(super) fn chmod(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let [perms, paths @ ..] = args else {
            return Err(CmdError::Usage("chmod PERMS PATH..."));
        };
        if paths.is_empty() {
            return Err(CmdError::Usage("chmod PERMS PATH..."));
        }
        let p = parse_permissions(perms).map_err(|_| {
            CmdError::BadArgument(format!(
                "{perms}: not a permission set (rwxrwrw form, 0x.. bits or a preset; see help)"
            ))
        })?;
        for a in paths {
            let path = self.abs(a);
            self.client
                .chmod(&path, p)
                .map_err(|e| CmdError::fs(&path, e))?;
        }
        Ok(())
    }

    pub(super) fn chown(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let [owner, paths @ ..] = args else {
            return Err(CmdError::Usage("chown OWNER PATH..."));
        };
        if paths.is_empty() {
            return Err(CmdError::Usage("chown OWNER PATH..."));
        }
        let owner = parse_owner(owner)?;
        for a in paths {
            let path = self.abs(a);
            self.client
                .chown(&path, owner)
                .map_err(|e| CmdError::fs(&path, e))?;
        }
        Ok(())
    }

    /// `df`: the filesystem's tree against its limits, each database's medium (the kernel
    /// database only for System callers) and what protects the data, from one STATFS.
    pub(super) fn df(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        if !args.is_empty() {
            return Err(CmdError::Usage("df"));
        }
        let s = self.client.statfs().map_err(|e| CmdError::fs("/", e))?;
        let t = &s.tree;
        let _ = writeln!(
            out,
            "files:   {} of {} used ({} staged), {} of {} files, {} of {} directories",
            human_size(t.bytes),
            limit_size(t.max_bytes),
            human_size(t.staged_bytes),
            t.files,
            limit_count(t.max_files),
            t.directories,
            limit_count(t.max_directories),
        );
        let _ = writeln!(
            out,
            "limits:  largest file {}, {} kept for the system",
            limit_size(t.max_file_size),
            human_size(t.reserved_bytes),
        );
        let _ = writeln!(
            out,
            "{:<10} {:>11} {:>11} {:>11} {:>11} {:>9}",
            "database", "size", "live", "dead", "free", "records"
        );
        let dbs = [
            ("userspace", Some(&s.userspace)),
            ("kernel", s.kernel.as_ref()),
        ];
        for (name, db) in dbs {
            let Some(d) = db else { continue };
            let dead = d
                .capacity_bytes
                .saturating_sub(d.live_bytes)
                .saturating_sub(d.free_bytes);
            let _ = writeln!(
                out,
                "{:<10} {:>11} {:>11} {:>11} {:>11} {:>9}",
                name,
                human_size(d.capacity_bytes),
                human_size(d.live_bytes),
                human_size(dead),
                human_size(d.free_bytes),
                d.objects,
            );
        }
        let engine = match s.security.engine {
            EngineClass::Hardware => "hardware",
            EngineClass::Software => "software",
        };
        let _ = writeln!(
            out,
            "security: {} ({engine} engine), integrity: {}",
            s.security.cipher, s.security.integrity,
        );
        let _ = writeln!(out, "engine:   {}", s.security.engine_name);
        Ok(())
    }

    pub(super) fn usage(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        let path = match args {
            [] => self.cwd.clone(),
            [p] => self.abs(p),
            _ => return Err(CmdError::Usage("usage [PATH]")),
        };
        let u = self
            .client
            .usage(&path)
            .map_err(|e| CmdError::fs(&path, e))?;
        let _ = writeln!(
            out,
            "{path}: {} ({} bytes) in {} entr{}",
            human_size(u.bytes),
            u.bytes,
            u.entries,
            if u.entries == 1 { "y" } else { "ies" }
        );
        Ok(())
    }

    pub(super) fn quota(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        let users: Vec<Uuid> = match args {
            [] => {
                let homes = self
                    .client
                    .readdir("/home")
                    .map_err(|e| CmdError::fs("/home", e))?;
                homes
                    .iter()
                    .filter(|e| e.is_directory)
                    .filter_map(|e| Uuid::try_parse(&e.name).ok())
                    .collect()
            }
            [user] => alloc::vec![parse_user(user)?],
            _ => return Err(CmdError::Usage("quota [USER]")),
        };
        if users.is_empty() {
            out.push_str("no user homes\n");
            return Ok(());
        }
        let _ = writeln!(
            out,
            "{:<36} {:>11} {:>11} {:>11}",
            "user", "used", "soft", "limit"
        );
        for user in users {
            let q = self.client.quota(user).map_err(|e| {
                CmdError::BadArgument(format!("{}: {}", user.hyphenated(), describe(&e)))
            })?;
            let _ = writeln!(
                out,
                "{:<36} {:>11} {:>11} {:>11}{}",
                format!("{}", q.user.hyphenated()),
                human_size(q.used),
                human_size(q.soft_limit),
                human_size(q.limit),
                if q.over_soft_limit {
                    "  over the soft limit"
                } else {
                    ""
                }
            );
        }
        Ok(())
    }

    pub(super) fn mkhome(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let [user] = args else {
            return Err(CmdError::Usage("mkhome USER"));
        };
        let user = parse_user(user)?;
        let home = format!("/home/{}", user.hyphenated());
        self.client
            .create_home(user)
            .map_err(|e| CmdError::fs(&home, e))
    }

    /// The VFS commits every request before it replies, so all acknowledged changes are
    /// already durable; `sync` checks that the VFS answers (a round trip behind every earlier
    /// request).
    /// `sync`: the VFS writes the integrity footer of every changed database and flushes.
    pub(super) fn sync(&mut self) -> Result<(), CmdError> {
        self.client.sync().map_err(|e| CmdError::fs("/", e))
    }
}

/// A byte limit, or `no limit` when the service sets none.
fn limit_size(bytes: u64) -> alloc::string::String {
    match bytes {
        u64::MAX => "no limit".into(),
        b => human_size(b),
    }
}

/// A count limit, or `no limit` when the service sets none.
fn limit_count(n: u64) -> alloc::string::String {
    match n {
        u64::MAX => "no limit".into(),
        n => format!("{n}"),
    }
}

fn parse_user(arg: &str) -> Result<Uuid, CmdError> {
    Uuid::try_parse(arg).map_err(|_| CmdError::BadArgument(format!("{arg}: not a user UUID")))
}

fn parse_owner(arg: &str) -> Result<Option<Uuid>, CmdError> {
    if arg == "system" {
        Ok(None)
    } else {
        parse_user(arg).map(Some)
    }
}
