//! Quotas and filesystem limits that hold wherever data lives.
//!
//! Every entry is charged to an [`Account`]: its owner user, or — for an entry without an
//! owner — the applications without a user (a world-writable entry: what such an application
//! creates) or System (everything else). An account *holds* the content bytes of its files
//! (a symlink: its target's length) plus [`ENTRY_COST`] bytes per entry, so empty files,
//! directories and symlinks are not free; `/tmp` is charged like any other place. On top of
//! that, a handle's staged new version is charged to the file's account in full while it is
//! staged (the old version stays until the commit: copy-on-write), so no number of handles can
//! stage past a quota.
//!
//! Users are limited by their quota (`Q` records, SET_QUOTA); the applications without a user
//! share a quota of their own, kept under the nil UUID (GET_QUOTA / SET_QUOTA of
//! `00000000-0000-0000-0000-000000000000`); System has none. The filesystem as a whole is
//! limited by [`FsLimits`] (`max_files`, `max_directories`, `max_bytes`), configurable in the
//! kernel database; the last [`RESERVE_DIVISOR`]th of each is a reserve only System and
//! Runtime callers may use, so System keeps working when users and applications are full.
//!
//! The holdings are kept in RAM: rebuilt from the inodes at boot and attach (one scan of the
//! `I` records, detached subtrees included until reaped), and updated by every commit from the
//! inodes it writes or deletes (`Vfs::commit` compares each with its stored version), so they
//! never drift from the tree whatever operation changed it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use kernel_abi::Credentials;
use uuid::Uuid;

use crate::error::VfsError;
use crate::inode::{Inode, Kind, be_u64, keys};
use crate::permission::is_system;
use crate::protocol::limits::DEFAULT_QUOTA;
use crate::vfs::{Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db};

/// Bytes every entry (file, directory, symlink) is charged on top of its content: about what
/// its inode and directory-entry records take in the store.
pub const ENTRY_COST: u64 = 256;

/// The reserve for System is the last 1/`RESERVE_DIVISOR` of each filesystem limit.
pub const RESERVE_DIVISOR: u64 = 32;

/// Kernel-database keys of the configured limits (BE64 each; absent: `Limits`' value).
pub mod limit_keys {
    /// `max_files`.
    pub const MAX_FILES: &[u8] = b"sys/limits/max_files";
    /// `max_directories`.
    pub const MAX_DIRECTORIES: &[u8] = b"sys/limits/max_directories";
    /// `max_bytes`.
    pub const MAX_BYTES: &[u8] = b"sys/limits/max_bytes";
}

/// Whom an entry is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Account {
    /// Entries without an owner that are not world-writable.
    System,
    /// Entries without an owner that are world-writable: the applications without a user.
    Apps,
    /// A user's entries.
    User(Uuid),
}

impl Account {
    /// The account an inode is charged to.
    pub fn of(inode: &Inode) -> Self {
        match inode.owner {
            Some(u) => Self::User(u),
            None if inode.permissions().world_write => Self::Apps,
            None => Self::System,
        }
    }

    /// The account GET_QUOTA / SET_QUOTA name with `user` (nil: the applications).
    pub fn named(user: Uuid) -> Self {
        if user.is_nil() {
            Self::Apps
        } else {
            Self::User(user)
        }
    }

    fn quota_key(self) -> Option<Uuid> {
        match self {
            Self::System => None,
            Self::Apps => Some(Uuid::nil()),
            Self::User(u) => Some(u),
        }
    }
}

/// What an account (or the filesystem) holds, or a change of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holding {
    /// Content bytes (files' sizes, symlinks' target lengths).
    pub bytes: i128,
    /// Files and symlinks.
    pub files: i128,
    /// Directories.
    pub directories: i128,
}

impl Holding {
    /// What one inode holds (itself only: a directory's subtree is its entries' own).
    pub fn of(inode: &Inode) -> Self {
        match &inode.kind {
            Kind::File { .. } => Self {
                bytes: inode.size as i128,
                files: 1,
                directories: 0,
            },
            Kind::Symlink { target } => Self {
                bytes: target.len() as i128,
                files: 1,
                directories: 0,
            },
            Kind::Dir { .. } => Self {
                bytes: 0,
                files: 0,
                directories: 1,
            },
        }
    }

    /// Content bytes only.
    pub fn bytes(bytes: i128) -> Self {
        Self {
            bytes,
            ..Self::default()
        }
    }

    /// The bytes charged against a quota: content plus [`ENTRY_COST`] per entry.
    pub fn charged(&self) -> i128 {
        self.bytes + (self.files + self.directories) * ENTRY_COST as i128
    }

    fn add(&mut self, d: Holding) {
        self.bytes += d.bytes;
        self.files += d.files;
        self.directories += d.directories;
    }

    fn sub(self, d: Holding) -> Holding {
        Holding {
            bytes: self.bytes - d.bytes,
            files: self.files - d.files,
            directories: self.directories - d.directories,
        }
    }
}

/// Limits of the filesystem as a whole, with System's reserve inside each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsLimits {
    /// Most files and symlinks.
    pub max_files: u64,
    /// Most directories.
    pub max_directories: u64,
    /// Most content bytes (files' sizes plus staged versions).
    pub max_bytes: u64,
}

impl FsLimits {
    /// The part of each limit only System and Runtime callers may use.
    pub fn reserve(&self) -> FsLimits {
        FsLimits {
            max_files: self.max_files / RESERVE_DIVISOR,
            max_directories: self.max_directories / RESERVE_DIVISOR,
            max_bytes: self.max_bytes / RESERVE_DIVISOR,
        }
    }
}

/// The filesystem's limits and what it holds now, for statfs-like reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsReport {
    /// The limits in force.
    pub limits: FsLimits,
    /// System's reserve inside them.
    pub reserve: FsLimits,
    /// Files and symlinks held.
    pub files: u64,
    /// Directories held.
    pub directories: u64,
    /// Content bytes held (committed).
    pub bytes: u64,
    /// Bytes of handles' staged versions.
    pub staged_bytes: u64,
}

/// The accounts' holdings, staged charges and a deferred creation's pending charge.
#[derive(Default)]
pub(crate) struct Accounting {
    held: BTreeMap<Account, Holding>,
    total: Holding,
    staged: BTreeMap<Account, u64>,
    staged_total: u64,
    /// A deferred creation's charge, counted until its commit (or its drop).
    pub pending: Option<(Account, Holding)>,
    /// The filesystem limits in force (configured, then the kernel database's).
    pub limits: Option<FsLimits>,
}

impl Accounting {
    /// Applies the change of one inode (`old` → `new`) after a commit.
    pub fn apply(&mut self, old: Option<&Inode>, new: Option<&Inode>) {
        if let Some(o) = old {
            let h = Holding::of(o);
            let e = self.held.entry(Account::of(o)).or_default();
            *e = e.sub(h);
            self.total = self.total.sub(h);
        }
        if let Some(n) = new {
            let h = Holding::of(n);
            self.held.entry(Account::of(n)).or_default().add(h);
            self.total.add(h);
        }
    }

    /// What `account` holds, its staged versions and a pending creation included.
    pub fn charged(&self, account: Account) -> i128 {
        let mut h = self.held.get(&account).copied().unwrap_or_default();
        if let Some((a, p)) = self.pending
            && a == account
        {
            h.add(p);
        }
        h.charged() + i128::from(self.staged.get(&account).copied().unwrap_or(0))
    }

    /// Changes the staged charge of `account` by `delta` bytes.
    pub fn stage(&mut self, account: Account, delta: i128) {
        let e = self.staged.entry(account).or_insert(0);
        *e = (*e as i128 + delta).max(0) as u64;
        self.staged_total = (self.staged_total as i128 + delta).max(0) as u64;
    }

    fn total_with_pending(&self) -> Holding {
        let mut t = self.total;
        if let Some((_, p)) = self.pending {
            t.add(p);
        }
        t
    }
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Rebuilds the holdings from every inode in the store (boot and attach), and loads the
    /// configured limits from the kernel database.
    pub(crate) fn rebuild_accounts(&mut self) -> Result<(), VfsError> {
        let mut acct = Accounting {
            limits: None,
            ..Accounting::default()
        };
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .store
                .scan(Db::Userspace, &[keys::INODE], after.as_deref(), 256)
                .map_err(store_err)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            for (_, v) in page {
                let inode: Inode =
                    postcard::from_bytes(&v).map_err(|_| VfsError::IntegrityError)?;
                acct.apply(None, Some(&inode));
            }
        }
        let mut limits = FsLimits {
            max_files: self.limits.max_files,
            max_directories: self.limits.max_directories,
            max_bytes: self.limits.max_bytes,
        };
        for (key, field) in [
            (limit_keys::MAX_FILES, &mut limits.max_files),
            (limit_keys::MAX_DIRECTORIES, &mut limits.max_directories),
            (limit_keys::MAX_BYTES, &mut limits.max_bytes),
        ] {
            if let Some(v) = self.store.get(Db::Kernel, key).map_err(store_err)? {
                *field = be_u64(&v).ok_or(VfsError::IntegrityError)?;
            }
        }
        acct.limits = Some(limits);
        // Staged charges belong to open handles, which a rebuild at boot does not have; at an
        // attach of a running VFS (tests) they are kept.
        acct.staged = core::mem::take(&mut self.acct.staged);
        acct.staged_total = self.acct.staged_total;
        acct.pending = self.acct.pending.take();
        self.acct = acct;
        Ok(())
    }

    /// The filesystem limits in force: the configured ones (`Limits`), overridden by the
    /// kernel database's (see [`Vfs::set_fs_limits`]).
    pub fn fs_limits(&self) -> FsLimits {
        self.acct.limits.unwrap_or(FsLimits {
            max_files: self.limits.max_files,
            max_directories: self.limits.max_directories,
            max_bytes: self.limits.max_bytes,
        })
    }

    /// The filesystem's limits, reserve and holdings: what a statfs reports.
    pub fn fs_report(&self) -> FsReport {
        let limits = self.fs_limits();
        let t = self.acct.total;
        FsReport {
            limits,
            reserve: limits.reserve(),
            files: t.files.max(0) as u64,
            directories: t.directories.max(0) as u64,
            bytes: t.bytes.max(0) as u64,
            staged_bytes: self.acct.staged_total,
        }
    }

    /// Sets the filesystem limits (System only): written to the kernel database, in force at
    /// once and at every later boot. Limits below what is held refuse further growth only.
    pub fn set_fs_limits(
        &mut self,
        ctx: &crate::vfs::Ctx<'_>,
        limits: FsLimits,
    ) -> Result<(), VfsError> {
        if !matches!(ctx.caller.class, kernel_abi::ProcessClass::System) {
            return Err(VfsError::PermissionDenied);
        }
        self.tx(|_, tx| {
            for (key, v) in [
                (limit_keys::MAX_FILES, limits.max_files),
                (limit_keys::MAX_DIRECTORIES, limits.max_directories),
                (limit_keys::MAX_BYTES, limits.max_bytes),
            ] {
                tx.put(Db::Kernel, key.to_vec(), v.to_be_bytes().to_vec());
            }
            Ok(())
        })?;
        self.rebuild_accounts()
    }

    /// The quota limit of an account (`None`: System, unlimited).
    pub(crate) fn account_limit(&mut self, account: Account) -> Result<Option<u64>, VfsError> {
        match account.quota_key() {
            None => Ok(None),
            Some(u) => Ok(Some(match self.sget(Db::Userspace, &keys::quota(&u))? {
                Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
                None => DEFAULT_QUOTA,
            })),
        }
    }

    /// What `account` is charged now (held, staged and pending), for GET_QUOTA.
    pub(crate) fn account_used(&self, account: Account) -> u64 {
        self.acct.charged(account).max(0) as u64
    }

    /// Checks that `caller` may make `account` hold `delta` more (committed) and `staged` more
    /// bytes of staged versions: the account's quota (not for System and Runtime callers), then
    /// the filesystem limits minus System's reserve (the whole limits for System and Runtime).
    /// `QuotaExceeded` or `ResourceLimitExceeded`; nothing is changed either way.
    pub(crate) fn check_charge(
        &mut self,
        caller: &Credentials,
        account: Account,
        delta: Holding,
        staged: i128,
    ) -> Result<(), VfsError> {
        let grow = delta.charged() + staged;
        let privileged = is_system(caller);
        // Refused when the account would end above its limit *and* this change adds to what it
        // holds or stages (a commit turns staged bytes into held ones: it is checked by its
        // held growth, so a quota lowered under it refuses it). A pure shrink always passes.
        if (delta.charged() > 0 || staged > 0)
            && !privileged
            && let Some(limit) = self.account_limit(account)?
            && self.acct.charged(account) + grow > limit as i128
        {
            return Err(VfsError::QuotaExceeded);
        }
        let limits = self.fs_limits();
        let reserve = if privileged {
            FsLimits {
                max_files: 0,
                max_directories: 0,
                max_bytes: 0,
            }
        } else {
            limits.reserve()
        };
        let t = self.acct.total_with_pending();
        let over = |held: i128, d: i128, max: u64, keep: u64| {
            d > 0 && held + d > max.saturating_sub(keep) as i128
        };
        if over(
            t.bytes + self.acct.staged_total as i128,
            delta.bytes + staged,
            limits.max_bytes,
            reserve.max_bytes,
        ) || over(t.files, delta.files, limits.max_files, reserve.max_files)
            || over(
                t.directories,
                delta.directories,
                limits.max_directories,
                reserve.max_directories,
            )
        {
            return Err(VfsError::ResourceLimitExceeded);
        }
        Ok(())
    }
}
