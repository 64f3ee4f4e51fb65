//! The commands and the read–eval loop.
//!
//! Every command writes its results into an output buffer; the loop prints it, or stores it in
//! a file for `>` / `>>`. A failing command prints one line, `<command>: <path>: <reason>`,
//! and the session carries on. `shutdown` and the end of input end the loop.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use kernel_abi::Kernel;
use uuid::Uuid;
use vfs_api::VfsError;
use vfs_api::client::{Client, ClientError};
use vfs_api::protocol::limits::MAX_IO;
use vfs_api::protocol::messages::{DirEntry, FileKind, OpenFlags};

use crate::console::Console;
use crate::format::{
    date_full, date_minutes, human_size, kind_char, owner_long, owner_short, parse_permissions,
    permission_string,
};
use crate::parse::{Redirect, parse_line};
use crate::path::{absolute, file_name, join};

/// Where a command's output goes: the console, or a buffer for a redirection.
pub enum Out<'c> {
    /// Printed as it is produced.
    Console(&'c mut dyn Console),
    /// Collected (for `>` / `>>`).
    Buffer(String),
}

impl Out<'_> {
    /// Appends text.
    pub fn push_str(&mut self, text: &str) {
        match self {
            Self::Console(c) => c.write_str(text),
            Self::Buffer(b) => b.push_str(text),
        }
    }

    /// Appends a character.
    pub fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }
}

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// The prompt.
pub const PROMPT: &str = "zos> ";

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The user typed `shutdown`: power the machine off with status 0.
    Shutdown,
    /// Console input ended.
    EndOfInput,
    /// The console failed.
    ConsoleFailed(crate::console::ConsoleError),
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// Wrong arguments; carries the usage line.
    Usage(&'static str),
    /// The VFS refused an operation on a path.
    Fs {
        /// The absolute path concerned.
        path: String,
        /// What the VFS (or the IPC) said.
        error: ClientError,
    },
    /// An argument that does not parse (permissions, a user id …).
    BadArgument(String),
    /// No such command.
    Unknown,
}

impl CmdError {
    fn fs(path: &str, error: ClientError) -> Self {
        Self::Fs {
            path: path.to_string(),
            error,
        }
    }
}

/// A client error in words, for people.
pub fn describe(error: &ClientError) -> String {
    match error {
        ClientError::Vfs(v) => String::from(v.message()),
        ClientError::Protocol(p) => format!("protocol error ({p:?})"),
        ClientError::Ipc(e) => format!("VFS unreachable ({e})"),
        ClientError::BadReply => String::from("malformed reply from the VFS"),
    }
}

const HELP: &str = "\
Commands (paths may be relative to the working directory):
  help                      this text
  pwd                       print the working directory
  cd [DIR]                  change the working directory (default /)
  ls [-l] [PATH...]         list directories; -l: kind+permissions, owner, size, modified
  tree [DIR]                draw the tree below DIR
  cat FILE...               print files
  echo [TEXT...]            print text; `echo hi > f` replaces f, `>> f` appends
  mkdir [-p] DIR...         create directories (-p: with parents, no error if present)
  rmdir [-r] DIR...         remove empty directories (-r: and everything below)
  rm [-r] PATH...           remove files and symlinks (-r: directories too)
  mv FROM TO                rename (into TO if TO is a directory)
  cp FROM TO                copy a file (into TO if TO is a directory)
  ln -s TARGET LINK         create a symbolic link
  readlink LINK             print a symlink's target
  stat PATH...              show metadata (of a symlink itself, not its target)
  chmod PERMS PATH...       PERMS: rwxrwrw form (owner rwx, system rw, world rw; - clear),
                            0x.. bits, or user-file|user-dir|system-only|world-readable|
                            system-public|all
  chown OWNER PATH...       OWNER: a user UUID, or `system`
  df                        space and entries used by the whole filesystem
  usage [PATH]              space and entries used below PATH (default .)
  quota [USER]              a user's quota; without USER, every user with a home
  mkhome USER               create a user's home (/home/USER)
  sync                      make sure every change so far is committed
  as NAME COMMAND...        run COMMAND (and its redirection) as identity task NAME: the
                            VFS judges that task's user and class, not the shell's
  shutdown                  power the machine off
Any command's output can be redirected with > FILE or >> FILE.
";

/// A shell session: the VFS client and the working directory.
pub struct Shell<'k, K> {
    client: Client<'k, K>,
    cwd: String,
}

impl<'k, K: Kernel> Shell<'k, K> {
    /// A session over `client`, starting in `/`.
    pub fn new(client: Client<'k, K>) -> Self {
        Self {
            client,
            cwd: String::from("/"),
        }
    }

    /// The working directory.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Reads, runs and prints commands until `shutdown` or the end of input.
    pub fn run(&mut self, console: &mut dyn Console) -> Outcome {
        let mut line = String::new();
        loop {
            console.write_str(PROMPT);
            match console.read_line(&mut line) {
                Ok(true) => {}
                Ok(false) => {
                    console.write_str("\n");
                    return Outcome::EndOfInput;
                }
                Err(e) => return Outcome::ConsoleFailed(e),
            }
            if let Some(outcome) = self.execute(&line, console) {
                return outcome;
            }
        }
    }

    /// Runs one command line, printing to `console`; returns an outcome when the session ends.
    pub fn execute(&mut self, line: &str, console: &mut dyn Console) -> Option<Outcome> {
        let parsed = match parse_line(line) {
            Ok(p) => p,
            Err(e) => {
                console.write_str(&format!("zos: syntax error: {e}\n"));
                return None;
            }
        };
        let cmd = parsed.words.first()?.as_str();
        let args: Vec<&str> = parsed.words.iter().skip(1).map(String::as_str).collect();
        if cmd == "shutdown" {
            console.write_str("shutting down\n");
            return Some(Outcome::Shutdown);
        }
        if cmd == "as" {
            self.run_as(&args, parsed.redirect.as_ref(), console);
        } else {
            self.run_command(cmd, &args, parsed.redirect.as_ref(), console);
        }
        None
    }

    /// `as NAME COMMAND...`: the command and its redirection go through identity task NAME,
    /// found in init's registry; the shell's own client is back in place afterwards.
    fn run_as(&mut self, args: &[&str], redirect: Option<&Redirect>, console: &mut dyn Console) {
        let [name, cmd, rest @ ..] = args else {
            console.write_str("usage: as NAME COMMAND...\n");
            return;
        };
        if matches!(*cmd, "as" | "shutdown") {
            console.write_str(&format!("as: `{cmd}` is not a file command\n"));
            return;
        }
        let kernel = self.client.kernel();
        let endpoint = match kernel_abi::init_proto::lookup(kernel, name) {
            Ok(ep) => ep,
            Err(e) => {
                console.write_str(&format!("as: no identity task `{name}` ({e:?})\n"));
                return;
            }
        };
        let own = core::mem::replace(&mut self.client, Client::new(kernel, endpoint));
        self.run_command(cmd, rest, redirect, console);
        self.client = own;
    }

    /// Runs one parsed command with the current client, printing its output or error.
    fn run_command(
        &mut self,
        cmd: &str,
        args: &[&str],
        redirect: Option<&Redirect>,
        console: &mut dyn Console,
    ) {
        let result = match redirect {
            // Straight to the console, so that long output (`cat` of a large file) streams.
            None => self.command(cmd, args, &mut Out::Console(console)),
            Some(r) => {
                let mut out = Out::Buffer(String::new());
                let result = self.command(cmd, args, &mut out);
                if let Out::Buffer(text) = out
                    && let Err(e) = self.store_output(r, text.as_bytes())
                {
                    console.write_str(&format!("zos: {}\n", self.error_text(&e)));
                }
                result
            }
        };
        if let Err(e) = result {
            match e {
                CmdError::Unknown => {
                    console.write_str(&format!("zos: {cmd}: command not found (try `help`)\n"))
                }
                e => console.write_str(&format!("{cmd}: {}\n", self.error_text(&e))),
            }
        }
    }

    fn error_text(&self, e: &CmdError) -> String {
        match e {
            CmdError::Usage(u) => format!("usage: {u}"),
            CmdError::Fs { path, error } => format!("{path}: {}", describe(error)),
            CmdError::BadArgument(s) => s.clone(),
            CmdError::Unknown => String::from("command not found"),
        }
    }

    fn store_output(&mut self, r: &Redirect, data: &[u8]) -> Result<(), CmdError> {
        match r {
            Redirect::Truncate(f) => {
                let path = self.abs(f);
                self.client
                    .write_file(&path, data)
                    .map_err(|e| CmdError::fs(&path, e))
            }
            Redirect::Append(f) => {
                let path = self.abs(f);
                let flags = OpenFlags {
                    write: true,
                    create: true,
                    append: true,
                    ..OpenFlags::default()
                };
                let opened = self
                    .client
                    .open(&path, flags)
                    .map_err(|e| CmdError::fs(&path, e))?;
                let h = opened.handle;
                for piece in data.chunks(MAX_IO) {
                    if let Err(e) = self.client.write(h, piece) {
                        let _ = self.client.discard(h);
                        return Err(CmdError::fs(&path, e));
                    }
                }
                self.client.close(h).map_err(|e| CmdError::fs(&path, e))
            }
        }
    }

    fn abs(&self, arg: &str) -> String {
        absolute(&self.cwd, arg)
    }

    /// Runs command `cmd`, appending its output to `out`.
    pub fn command(&mut self, cmd: &str, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        match cmd {
            "help" => {
                out.push_str(HELP);
                Ok(())
            }
            "pwd" => {
                out.push_str(&self.cwd);
                out.push('\n');
                Ok(())
            }
            "cd" => self.cd(args),
            "ls" => self.ls(args, out),
            "tree" => self.tree(args, out),
            "cat" => self.cat(args, out),
            "echo" => {
                out.push_str(&args.join(" "));
                out.push('\n');
                Ok(())
            }
            "mkdir" => self.mkdir(args),
            "rmdir" => self.rmdir(args),
            "rm" => self.rm(args),
            "mv" => self.mv_cp(args, true),
            "cp" => self.mv_cp(args, false),
            "ln" => self.ln(args),
            "readlink" => self.readlink(args, out),
            "stat" => self.stat(args, out),
            "chmod" => self.chmod(args),
            "chown" => self.chown(args),
            "df" => self.df(args, out),
            "usage" => self.usage(args, out),
            "quota" => self.quota(args, out),
            "mkhome" => self.mkhome(args),
            "sync" => self.sync(),
            _ => Err(CmdError::Unknown),
        }
    }

    fn cd(&mut self, args: &[&str]) -> Result<(), CmdError> {
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

    fn ls(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn tree(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn cat(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn mkdir(&mut self, args: &[&str]) -> Result<(), CmdError> {
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

    fn rmdir(&mut self, args: &[&str]) -> Result<(), CmdError> {
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

    fn rm(&mut self, args: &[&str]) -> Result<(), CmdError> {
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

    fn mv_cp(&mut self, args: &[&str], is_move: bool) -> Result<(), CmdError> {
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

    fn ln(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let ["-s", target, link] = args else {
            return Err(CmdError::Usage("ln -s TARGET LINK"));
        };
        let link = self.abs(link);
        // The target is stored as typed: a relative one is relative to the link's directory.
        self.client
            .symlink(target, &link)
            .map_err(|e| CmdError::fs(&link, e))
    }

    fn readlink(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn stat(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn chmod(&mut self, args: &[&str]) -> Result<(), CmdError> {
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

    fn chown(&mut self, args: &[&str]) -> Result<(), CmdError> {
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

    fn df(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        if !args.is_empty() {
            return Err(CmdError::Usage("df"));
        }
        let u = self.client.usage("/").map_err(|e| CmdError::fs("/", e))?;
        let _ = writeln!(out, "{:<12} {:>12} {:>10}", "filesystem", "used", "entries");
        let _ = writeln!(
            out,
            "{:<12} {:>12} {:>10}",
            "/",
            human_size(u.bytes),
            u.entries
        );
        Ok(())
    }

    fn usage(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn quota(&mut self, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
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

    fn mkhome(&mut self, args: &[&str]) -> Result<(), CmdError> {
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
    fn sync(&mut self) -> Result<(), CmdError> {
        self.client
            .hello()
            .map(|_| ())
            .map_err(|e| CmdError::fs("/", e))
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

/// Splits a leading `flag` (anywhere among the arguments) from the rest.
fn split_flag<'a>(args: &[&'a str], flag: &str) -> (bool, Vec<&'a str>) {
    let mut found = false;
    let mut rest = Vec::new();
    for a in args {
        if *a == flag {
            found = true;
        } else {
            rest.push(*a);
        }
    }
    (found, rest)
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
