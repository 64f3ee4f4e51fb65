//! The console seam: [`Console`] reads a line and writes text. [`KernelConsole`] implements it
//! over the kernel's raw console (`ConsoleRead` / `ConsoleWrite`): the kernel delivers bytes
//! as typed, without echo or editing, and this type does the line discipline itself.
//!
//! # Line discipline
//!
//! - Printable characters are appended to the line and echoed.
//! - `\r` (Enter on a terminal) or `\n` (a pipe) ends the line and echoes `\n`; a `\n` right
//!   after a `\r` is ignored, so `\r\n` is one line end.
//! - Backspace (0x7F or 0x08) removes the last character and echoes `\b \b`.
//! - Ctrl-C (0x03) abandons the line (echo `^C`) and returns an empty line.
//! - Ctrl-D (0x04) on an empty line is the end of input; elsewhere it is ignored.
//! - Escape sequences (arrow keys: `ESC [ …`) are skipped; other control bytes are ignored.
//! - A read of 0 bytes (input ended for good, only on a host console) ends the input; a line
//!   in progress is returned first.
//! - Bytes that are not UTF-8 are kept as U+FFFD per invalid sequence.

use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::{Errno, Kernel};

/// Why the console failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleError {
    /// The kernel refused the console operation.
    Kernel(Errno),
}

impl core::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Kernel(e) => write!(f, "console: {e}"),
        }
    }
}

/// Where the shell reads commands and writes results.
pub trait Console {
    /// Reads one line into `line` (cleared first, without the line end). Returns `Ok(false)` at
    /// the end of input (nothing was read).
    fn read_line(&mut self, line: &mut String) -> Result<bool, ConsoleError>;

    /// Writes text (`\n` for line breaks).
    fn write_str(&mut self, text: &str);
}

/// Longest line kept; further characters are dropped (and not echoed).
pub const MAX_LINE: usize = 1024;

/// A [`Console`] over a [`Kernel`]'s raw console, with echo and line editing.
pub struct KernelConsole<'k, K> {
    kernel: &'k K,
    /// Received but not yet consumed.
    pending: Vec<u8>,
    /// Position in `pending`.
    at: usize,
    /// The previous byte ended a line with `\r`.
    after_cr: bool,
    /// Whether typed characters are echoed.
    echo: bool,
    /// Input has ended.
    ended: bool,
}

impl<'k, K: Kernel> KernelConsole<'k, K> {
    /// A console on `kernel` that echoes what is typed.
    pub fn new(kernel: &'k K) -> Self {
        Self {
            kernel,
            pending: Vec::new(),
            at: 0,
            after_cr: false,
            echo: true,
            ended: false,
        }
    }

    /// Turns echo on or off.
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    fn next_byte(&mut self) -> Result<Option<u8>, ConsoleError> {
        if self.at < self.pending.len() {
            let b = self.pending.get(self.at).copied();
            self.at += 1;
            return Ok(b);
        }
        if self.ended {
            return Ok(None);
        }
        let mut buf = [0u8; 64];
        let n = self
            .kernel
            .console_read(&mut buf, true)
            .map_err(ConsoleError::Kernel)?;
        if n == 0 {
            self.ended = true;
            return Ok(None);
        }
        self.pending.clear();
        self.pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
        self.at = 1;
        Ok(self.pending.first().copied())
    }

    fn echo(&self, bytes: &[u8]) {
        if self.echo {
            // Echo is best effort: a console that cannot write still reads.
            let _ = self.kernel.console_write(bytes);
        }
    }
}

impl<K: Kernel> Console for KernelConsole<'_, K> {
    fn read_line(&mut self, line: &mut String) -> Result<bool, ConsoleError> {
        line.clear();
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.next_byte()? else {
                if bytes.is_empty() {
                    return Ok(false);
                }
                self.echo(b"\n");
                break;
            };
            let after_cr = core::mem::replace(&mut self.after_cr, false);
            match b {
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    self.echo(b"\n");
                    break;
                }
                0x7F | 0x08 => {
                    if pop_char(&mut bytes) {
                        self.echo(b"\x08 \x08");
                    }
                }
                0x03 => {
                    self.echo(b"^C\n");
                    bytes.clear();
                    break;
                }
                0x04 => {
                    if bytes.is_empty() {
                        self.ended = true;
                        return Ok(false);
                    }
                }
                0x1B => self.skip_escape()?,
                b if b < 0x20 => {}
                b => {
                    if bytes.len() < MAX_LINE {
                        bytes.push(b);
                        self.echo(&[b]);
                    }
                }
            }
        }
        line.push_str(&String::from_utf8_lossy(&bytes));
        Ok(true)
    }

    fn write_str(&mut self, text: &str) {
        // Output is best effort: there is nowhere else to report a failing console.
        let _ = self.kernel.console_write(text.as_bytes());
    }
}

impl<K: Kernel> KernelConsole<'_, K> {
    /// Skips the rest of an escape sequence: `ESC [` parameters up to a final byte in
    /// 0x40..=0x7E, or `ESC` and one more byte.
    fn skip_escape(&mut self) -> Result<(), ConsoleError> {
        match self.next_byte()? {
            Some(b'[') | Some(b'O') => {
                while let Some(b) = self.next_byte()? {
                    if (0x40..=0x7E).contains(&b) {
                        break;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Removes the last UTF-8 character of `bytes`; returns whether there was one.
fn pop_char(bytes: &mut Vec<u8>) -> bool {
    let Some(mut last) = bytes.pop() else {
        return false;
    };
    // Continuation bytes (0b10xx_xxxx) belong to the character being removed.
    while last & 0xC0 == 0x80 {
        match bytes.pop() {
            Some(b) => last = b,
            None => break,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::pop_char;

    #[test]
    fn backspace_removes_whole_characters() {
        let mut b = "aé".as_bytes().to_vec();
        assert!(pop_char(&mut b));
        assert_eq!(b, b"a");
        assert!(pop_char(&mut b));
        assert!(!pop_char(&mut b));
    }
}
