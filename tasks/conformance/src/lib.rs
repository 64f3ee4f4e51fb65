//! The VFS conformance suite: named cases written against the VFS client library only, in
//! `core` and `alloc`, so that the same suite runs on the host backend (`kernel-host`,
//! `tests/tests/conformance.rs`) and as a task in QEMU against the real disk and crypto engine
//! (the `conformance` binary of this package, booted by `tests/tests/qemu_conformance.rs`).
//!
//! A [`World`] gives the suite four callers with kernel-stamped identities: two users (Alice and
//! Bob, each with a home), a system task and an application without a user.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use uuid::Uuid;
use vfs_api::client::{Client, ClientError};
use vfs_api::error::VfsError;

mod basics;
mod files;
mod handles;
mod protocol;
mod security;
mod semantics;

/// Alice's user id wherever the suite runs (the host runner and `qemu/conformance.toml`).
pub const ALICE: Uuid = Uuid::from_u128(0x0a11ce00_0000_4000_8000_000000000001);
/// Bob's user id wherever the suite runs.
pub const BOB: Uuid = Uuid::from_u128(0x0b0b0000_0000_4000_8000_000000000002);

/// The callers a case can act as.
pub struct World<'k, K> {
    /// Alice: an application running for user [`World::alice_id`].
    pub alice: Client<'k, K>,
    /// Bob: an application running for user [`World::bob_id`].
    pub bob: Client<'k, K>,
    /// A System-class task without a user.
    pub system: Client<'k, K>,
    /// An application without a user.
    pub anon: Client<'k, K>,
    /// Alice's user id.
    pub alice_id: Uuid,
    /// Bob's user id.
    pub bob_id: Uuid,
    /// Whether to run the cases that move 64 MiB.
    pub large: bool,
}

impl<K> World<'_, K> {
    /// Alice's home.
    pub fn alice_home(&self) -> String {
        format!("/home/{}", self.alice_id)
    }

    /// Bob's home.
    pub fn bob_home(&self) -> String {
        format!("/home/{}", self.bob_id)
    }
}

/// A case's verdict: `Err` carries what went wrong.
pub type Outcome = Result<(), String>;

/// One named case.
pub struct Case<K: 'static> {
    /// Its name.
    pub name: &'static str,
    /// Its body.
    pub run: fn(&mut World<'_, K>) -> Outcome,
}

/// The result of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed, with their messages.
    pub failed: Vec<(&'static str, String)>,
}

/// Every case, in order. The first creates the homes the others use.
pub fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    let mut all = Vec::new();
    all.extend(basics::cases());
    all.extend(files::cases());
    all.extend(handles::cases());
    all.extend(security::cases());
    all.extend(semantics::cases());
    all.extend(protocol::cases());
    all
}

/// Runs every case whose name contains `filter` (all with `""`), printing one line per case
/// and a final `N passed, N failed` through `out`.
pub fn run<K: Kernel + 'static>(
    world: &mut World<'_, K>,
    filter: &str,
    out: &mut dyn FnMut(&str),
) -> Summary {
    let mut summary = Summary::default();
    for case in cases::<K>() {
        // The home cases set up what the others use: they always run.
        if !case.name.contains(filter) && !case.name.starts_with("home.") {
            continue;
        }
        match (case.run)(world) {
            Ok(()) => {
                summary.passed += 1;
                out(&format!("ok   {}", case.name));
            }
            Err(msg) => {
                out(&format!("FAIL {}: {}", case.name, msg));
                summary.failed.push((case.name, msg));
            }
        }
    }
    out(&format!(
        "{} passed, {} failed",
        summary.passed,
        summary.failed.len()
    ));
    summary
}

/// Fails with `msg` unless `cond`.
pub(crate) fn ensure(cond: bool, msg: impl Into<String>) -> Outcome {
    if cond { Ok(()) } else { Err(msg.into()) }
}

/// Turns a client result into an outcome, naming the step.
pub(crate) fn step<T>(what: &str, r: Result<T, ClientError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// Expects a specific VFS error.
pub(crate) fn expect_err<T: core::fmt::Debug>(
    what: &str,
    r: Result<T, ClientError>,
    want: VfsError,
) -> Outcome {
    match r {
        Err(ClientError::Vfs(e)) if e == want => Ok(()),
        other => Err(format!("{what}: expected {want:?}, got {other:?}")),
    }
}

/// Deterministic test data.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 ^ seed)
        .collect()
}
