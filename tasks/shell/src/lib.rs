//! The Zero OS shell: a `zos>` prompt on the console for developers and operators.
//!
//! It speaks to the VFS only through [`vfs_api::client`], as any service would, so what it
//! may do is exactly what the kernel-stamped credentials of its task allow.
//!
//! Layers: [`parse`] (one command line → words and an optional `>`/`>>` redirection, with
//! quoting), [`console`] (the [`Console`] seam: a line in, text out; [`KernelConsole`] does
//! echo and line editing over the kernel's raw `ConsoleRead`/`ConsoleWrite`), [`path`]
//! (relative paths against the working directory), [`format`] (`ls -l` columns, human sizes,
//! dates, permission strings) and [`shell`] (the commands and the read–eval loop).
//!
//! `no_std` + `alloc`; the task binary (`src/main.rs`) runs [`Shell::run`] on the kernel's
//! console.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod console;
pub mod format;
pub mod parse;
pub mod path;
pub mod shell;

pub use console::{Console, ConsoleError, KernelConsole};
pub use shell::{Outcome, Shell};
