//! The session: the read–eval loop, redirections, `as`, and the types every command shares.
//!
//! Every command writes its results into an output buffer; the loop prints it, or stores it in
//! a file for `>` / `>>`. A failing command prints one line, `<command>: <path>: <reason>`,
//! and the session carries on. `shutdown` and the end of input end the loop.
//!
//! The commands are split by what they do: `table` (the `help` text and the dispatch by name),
//! `browse` (`cd`, `ls`, `tree`, `cat`, `readlink`, `stat`), `files` (`mkdir`, `rmdir`, `rm`,
//! `mv`, `cp`, `ln`) and `admin` (`chmod`, `chown`, `df`, `usage`, `quota`, `mkhome`, `sync`).

mod admin;
mod browse;
mod files;
mod table;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use kernel_abi::Kernel;
use vfs_api::client::{Client, ClientError};
use vfs_api::protocol::limits::MAX_IO;
use vfs_api::protocol::messages::OpenFlags;

use crate::console::Console;
use crate::parse::{Redirect, parse_line};
use crate::path::absolute;

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
            // The footer proves at the next mount that nothing was cut off; a failure is
            // reported and does not stop the power-off (every commit is durable already).
            if let Err(e) = self.client.sync() {
                console.write_str(&format!("shutdown: sync failed: {}\n", describe(&e)));
            }
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
                // A CLOSE that cannot commit keeps the handle: release it, nothing was added.
                if let Err(e) = self.client.close(h) {
                    let _ = self.client.discard(h);
                    return Err(CmdError::fs(&path, e));
                }
                Ok(())
            }
        }
    }

    fn abs(&self, arg: &str) -> String {
        absolute(&self.cwd, arg)
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
