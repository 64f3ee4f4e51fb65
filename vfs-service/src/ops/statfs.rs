//! STATFS and SYNC: the filesystem as a whole.
//!
//! STATFS reports counters the store and the accounts already keep, so it costs O(1) reads
//! whatever the size of the filesystem and any caller may ask; the kernel database's figures
//! are shown only to System-class callers, as the rest of that database is. SYNC writes the
//! store's integrity footer (master hash, time) for every database changed since the last one
//! and flushes the device: commits are durable without it, the footer lets a later mount (and
//! `zvfs`) prove that the last commit before it was not cut off. The shell sends it before it
//! powers the machine off.

use alloc::string::String;

use crate::error::VfsError;
use crate::permission::is_system;
use crate::protocol::{DbStat, EngineClass, FsStat, Security, TreeStat};
use crate::vfs::{Ctx, Vfs, store_err};
use storage_backend::{BlockDevice, CryptoEngine, Db};

/// The record cipher of every database (storage-backend FORMAT.md).
const CIPHER: &str = "AES-256-GCM";
/// The integrity root of every database (storage-backend FORMAT.md, "Hash chain").
const INTEGRITY: &str = "SHA-256 hash chain";

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Capacity, usage and limits of the filesystem and its databases, and the engine that
    /// protects them.
    pub fn statfs(&mut self, ctx: &Ctx<'_>) -> Result<FsStat, VfsError> {
        let userspace = self.db_stat(Db::Userspace)?;
        let kernel = match is_system(&ctx.caller) {
            true => Some(self.db_stat(Db::Kernel)?),
            false => None,
        };
        let r = self.fs_report();
        let tree = TreeStat {
            files: r.files,
            max_files: r.limits.max_files,
            directories: r.directories,
            max_directories: r.limits.max_directories,
            bytes: r.bytes,
            staged_bytes: r.staged_bytes,
            max_bytes: r.limits.max_bytes,
            reserved_bytes: r.reserve.max_bytes,
            max_file_size: self.limits.max_file_size,
        };
        let info = self.store.engine_mut().info();
        let security = Security {
            engine: match info.hardware {
                true => EngineClass::Hardware,
                false => EngineClass::Software,
            },
            engine_name: String::from(info.name),
            cipher: String::from(CIPHER),
            integrity: String::from(INTEGRITY),
        };
        Ok(FsStat {
            userspace,
            kernel,
            tree,
            security,
        })
    }

    fn db_stat(&self, db: Db) -> Result<DbStat, VfsError> {
        let u = self.store.usage(db).map_err(store_err)?;
        Ok(DbStat {
            capacity_bytes: u.device_bytes_total,
            live_bytes: u.device_bytes_live,
            free_bytes: u.device_bytes_free,
            objects: u.objects,
            max_objects: u.limits.max_objects,
            logical_bytes: u.bytes,
            max_logical_bytes: u.limits.max_bytes,
        })
    }

    /// Writes the footer of every database changed since the last sync (stamped with the
    /// caller's clock) and flushes.
    pub fn sync(&mut self, ctx: &Ctx<'_>) -> Result<(), VfsError> {
        self.store.set_time(ctx.env.now_ns());
        self.store.sync().map_err(store_err)
    }
}
