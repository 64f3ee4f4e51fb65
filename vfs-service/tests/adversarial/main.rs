//! The adversarial suite of "never locked out" (issue 15, item 2): each attack of the issue
//! played against the VFS on a real store (RAM device, software engine), each asserting the
//! safe outcome.
//!
//! - [`full_store`]: `/tmp` filled until the store refuses; boot, unlink, READ, `rmdir -r` and
//!   a user's small save must still work.
//! - [`depth`]: trees deeper than the limit through `mkdir -p`, symlinks and RENAME are
//!   refused; a tree deeper than the limit left by an older version is still removable.
//! - [`dead_tasks`]: handles of tasks that stopped are released on init's notice.
//! - [`removal`]: RMDIR follows the sticky rule of `/tmp`, recursively too.
//! - [`staging`]: DISCARD after a failed FLUSH, and stages abandoned otherwise, give their
//!   space back.

#[path = "../common/mod.rs"]
mod common;

mod dead_tasks;
mod depth;
mod env;
mod full_store;
mod removal;
mod staging;
