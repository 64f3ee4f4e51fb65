//! Boot initialisation, home creation, the audit log and the user registry: the operations
//! that touch the kernel database.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kernel_abi::ProcessClass;
use uuid::Uuid;

use crate::error::VfsError;
use crate::handles::HandleTable;
use crate::inode::{Inode, Kind, ROOT_ID, SCHEMA_VERSION, be_u64, keys};
use crate::path::CanonPath;
use crate::permission::{FilePermissions, is_system};
use crate::protocol::limits::{
    AUDIT_PAGE_ENTRIES, AUDIT_PAGE_OVERHEAD, MAX_PAYLOAD, PIECE_SIZE, PROTOCOL_VERSION,
};
use crate::protocol::messages::{AuditEntry, AuditPage, bound_audit_action};
use crate::vfs::{Ctx, Env, Tx, Vfs, store_err};
use storage_backend::Sha256Hasher as _;
use storage_backend::{BlockDevice, CryptoEngine, Db};

/// The canonical directories and their permissions. `/system`, `/users` and `/home` are
/// readable (and so traversable) by everyone: users must reach their homes and read the
/// registry; writes there stay system-only by the permission bits and by the
/// `/system/**` rule.
const HIERARCHY: &[(&str, FilePermissions)] = &[
    ("/system", FilePermissions::SYSTEM_PUBLIC),
    ("/system/config", FilePermissions::SYSTEM_PUBLIC),
    ("/system/services", FilePermissions::SYSTEM_PUBLIC),
    ("/users", FilePermissions::SYSTEM_PUBLIC),
    ("/tmp", FilePermissions::ALL),
    ("/home", FilePermissions::SYSTEM_PUBLIC),
];

/// The directories of a new home, in creation order.
pub const HOME_LAYOUT: &[&str] = &[
    ".zos",
    ".zos/identity",
    ".zos/sessions",
    ".zos/credentials",
    ".zos/tokens",
    ".zos/config",
    "Documents",
    "Downloads",
    "Desktop",
    "Pictures",
    "Music",
    "Apps",
];

/// The user registry file, derived from the kernel database's user records.
const REGISTRY_PATH: &str = "/users/registry.json";

/// What boot found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// This boot's number, from 1.
    pub boot_count: u64,
    /// The machine's id.
    pub machine_id: Uuid,
    /// Whether the filesystem was created by this boot.
    pub first_boot: bool,
    /// Entries removed from `/tmp`.
    pub tmp_cleaned: u64,
    /// Steps boot skipped because the store refused them for want of room: emptying `/tmp`
    /// or collecting garbage (left for later), writing `machine.json` or a missing
    /// `registry.json` (left as they were). Boot completed without them.
    pub skipped_writes: u32,
    /// Whether boot took back the kernel part of an operation on both databases that a power
    /// cut stopped half-way ([`crate::crossdb`]).
    pub cross_db_rolled_back: bool,
}

/// `Ok(1)` for an error of a full store (the write is skipped), `Ok(0)` for success, the
/// error otherwise.
fn tolerate_full(result: Result<(), VfsError>) -> Result<u32, VfsError> {
    match result {
        Ok(()) => Ok(0),
        Err(VfsError::NoSpace | VfsError::ResourceLimitExceeded) => Ok(1),
        Err(e) => Err(e),
    }
}

impl<D: BlockDevice, E: CryptoEngine> Vfs<D, E> {
    /// Boot initialisation: the canonical hierarchy on first boot (and repair of a partial one),
    /// the boot count, `machine.json`, `registry.json`, a clean `/tmp`, the collection of
    /// content left over by a crash.
    pub fn boot(&mut self, env: &dyn Env) -> Result<BootReport, VfsError> {
        let ctx = Ctx::service(env);
        let first_boot = self.sget(Db::Userspace, &keys::inode(ROOT_ID))?.is_none();
        // Before anything is read or written: is this a layout this code knows?
        let stored_schema = self.schema_version()?;
        self.load_next_id()?;
        let now = env.now_ns();
        // Before anything builds on it: an operation on both databases cut half-way is taken
        // back. A store too full even for that keeps it pending, and every commit retries it.
        let mut skipped_writes = 0;
        let cross_db_rolled_back = match self.repair_cross_db() {
            Err(VfsError::NoSpace | VfsError::ResourceLimitExceeded) => {
                skipped_writes += 1;
                false
            }
            other => other?,
        };

        // Free before writing: /tmp's entries, detached subtrees, abandoned staging areas and
        // garbage go first, in transactions that delete more than they write, so that a store
        // filled to the last byte (through /tmp, say) boots and comes back with room.
        // A store that refuses even these (its reserve used up) does not stop boot: what is
        // left is retried between requests and at the next boot.
        let tmp_cleaned = match self.resolve(&ctx, &CanonPath::parse("/tmp")?, false) {
            Ok(tmp) if tmp.inode.is_dir() => match self.empty_dir(&ctx, &tmp.inode) {
                Err(VfsError::NoSpace | VfsError::ResourceLimitExceeded) => {
                    skipped_writes += 1;
                    0
                }
                other => other?,
            },
            _ => 0,
        };
        skipped_writes += tolerate_full(self.collect_all())?;

        if stored_schema.is_none() {
            // First boot, or a filesystem from before the version record (version 1).
            self.tx(|_, tx| {
                tx.put(
                    Db::Userspace,
                    keys::SCHEMA.to_vec(),
                    SCHEMA_VERSION.to_be_bytes().to_vec(),
                );
                Ok(())
            })?;
        }
        if first_boot {
            self.tx(|_, tx| {
                tx.put_inode(Inode {
                    id: ROOT_ID,
                    parent: ROOT_ID,
                    name: String::new(),
                    kind: Kind::Dir {
                        tree_bytes: 0,
                        tree_entries: 0,
                    },
                    owner: None,
                    perms: FilePermissions::SYSTEM_PUBLIC.bits(),
                    created_ns: now,
                    modified_ns: now,
                    accessed_ns: now,
                    size: 0,
                    enc: None,
                    sha256: crate::crypto::empty_hash(),
                });
                Ok(())
            })?;
        }
        for (path, perms) in HIERARCHY {
            let p = CanonPath::parse(path)?;
            if matches!(self.resolve(&ctx, &p, false), Err(VfsError::NotFound)) {
                self.mkdir_one(&ctx, &p, Some(*perms))?;
            }
        }
        self.home_id = self.child(ROOT_ID, "home")?.unwrap_or(0);

        // Kernel database: boot count, machine id, creation time, service record.
        let boot_count = match self.sget(Db::Kernel, keys::BOOT_COUNT)? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)? + 1,
            None => 1,
        };
        let machine_id = match self.sget(Db::Kernel, keys::MACHINE_ID)? {
            Some(v) => Uuid::from_slice(&v).map_err(|_| VfsError::IntegrityError)?,
            None => {
                let mut bytes = [0u8; 16];
                env.random(&mut bytes)?;
                uuid::Builder::from_random_bytes(bytes).into_uuid()
            }
        };
        let created_at = match self.sget(Db::Kernel, keys::CREATED_AT)? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
            None => now,
        };
        self.tx(|_, tx| {
            let k = Db::Kernel;
            tx.put(
                k,
                keys::BOOT_COUNT.to_vec(),
                boot_count.to_be_bytes().to_vec(),
            );
            tx.put(k, keys::MACHINE_ID.to_vec(), machine_id.as_bytes().to_vec());
            tx.put(
                k,
                keys::CREATED_AT.to_vec(),
                created_at.to_be_bytes().to_vec(),
            );
            let record = format!("vfs protocol={PROTOCOL_VERSION} boot={boot_count}");
            tx.put(k, keys::SERVICE_VFS.to_vec(), record.into_bytes());
            Ok(())
        })?;
        self.boot_count = boot_count;
        self.handles = HandleTable::new(boot_count as u16);

        // The derived files: machine.json rewritten in place (the same records, so it fits
        // where its old version was), registry.json when it differs from the registered
        // users. On a store still full after the clean-up boot goes on without them (the
        // kernel database keeps the truth) and says so in the report.
        let machine = format!(
            "{{\"machine_id\":\"{machine_id}\",\"created_at\":{created_at},\"boot_count\":{boot_count}}}"
        );
        let machine_path = "/system/config/machine.json";
        let written = self.rewrite_boot_file(&ctx, machine_path, machine.as_bytes());
        skipped_writes += tolerate_full(written)?;
        skipped_writes += tolerate_full(self.refresh_registry(&ctx))?;
        Ok(BootReport {
            boot_count,
            machine_id,
            first_boot,
            tmp_cleaned,
            skipped_writes,
            cross_db_rolled_back,
        })
    }

    /// Replaces the small plain file at `path` with `data` in place when it has one piece
    /// (its piece record and inode rewritten in one transaction, nothing added), otherwise
    /// through [`Vfs::write_file`]. Only at boot: no handle can be reading the old piece.
    fn rewrite_boot_file(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        data: &[u8],
    ) -> Result<(), VfsError> {
        let found = match self.resolve(ctx, &CanonPath::parse(path)?, false) {
            Ok(found) => Some(found),
            Err(VfsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let in_place = found.filter(|f| {
            matches!(f.inode.kind, Kind::File { content } if content != 0)
                && f.inode.enc.is_none()
                && f.inode.size as usize <= PIECE_SIZE
                && !data.is_empty()
                && data.len() <= PIECE_SIZE
        });
        let Some(found) = in_place else {
            return self.write_file(ctx, path, data, None, Some(FilePermissions::SYSTEM_PUBLIC));
        };
        let mut inode = found.inode;
        let Kind::File { content } = inode.kind else {
            return Err(VfsError::NotAFile);
        };
        self.tx(|fs, tx| {
            let mut hasher = crate::crypto::Hasher::default();
            hasher.update(data);
            let delta = data.len() as i128 - inode.size as i128;
            fs.grow(tx, inode.parent, delta, 0)?;
            tx.put(Db::Userspace, keys::piece(content, 0), data.to_vec());
            inode.size = data.len() as u64;
            inode.sha256 = hasher.finalize();
            inode.modified_ns = ctx.env.now_ns();
            tx.put_inode(inode);
            Ok(())
        })
    }

    /// Opens an initialised filesystem for offline work (the host image tool) without the
    /// effects of a boot: no boot count, no `/tmp` cleaning, no `machine.json` rewrite. Fails
    /// with `NotFound` on a store that was never booted.
    pub fn attach(&mut self) -> Result<(), VfsError> {
        if self.sget(Db::Userspace, &keys::inode(ROOT_ID))?.is_none() {
            return Err(VfsError::NotFound);
        }
        self.schema_version()?;
        self.load_next_id()?;
        self.load_cross_db()?;
        self.home_id = self.child(ROOT_ID, "home")?.unwrap_or(0);
        self.boot_count = match self.sget(Db::Kernel, keys::BOOT_COUNT)? {
            Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
            None => 0,
        };
        Ok(())
    }

    /// The schema version recorded on the store (`None`: no record, a new filesystem or one
    /// made before the record existed, both version 1).
    ///
    /// Errors: `UnsupportedSchema` when the record names a version this code does not know
    /// (newer than [`SCHEMA_VERSION`], or 0); `IntegrityError` when it is not 4 bytes.
    pub fn schema_version(&mut self) -> Result<Option<u32>, VfsError> {
        match self.stored_schema()? {
            None => Ok(None),
            Some(SCHEMA_VERSION) => Ok(Some(SCHEMA_VERSION)),
            Some(_) => Err(VfsError::UnsupportedSchema),
        }
    }

    /// The schema version record as stored, unchecked (to report what was found).
    ///
    /// Errors: the store's; `IntegrityError` when the record is not 4 bytes.
    pub fn stored_schema(&mut self) -> Result<Option<u32>, VfsError> {
        let Some(v) = self.sget(Db::Userspace, keys::SCHEMA)? else {
            return Ok(None);
        };
        let bytes: [u8; 4] = v
            .as_slice()
            .try_into()
            .map_err(|_| VfsError::IntegrityError)?;
        Ok(Some(u32::from_be_bytes(bytes)))
    }

    /// Appends an audit entry to `tx` (kernel database).
    pub(crate) fn audit(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        action: String,
    ) -> Result<(), VfsError> {
        let last = match tx.pending(Db::Kernel, keys::AUDIT_SEQ) {
            Some(v) => v.and_then(be_u64).unwrap_or(0),
            None => match self.sget(Db::Kernel, keys::AUDIT_SEQ)? {
                Some(v) => be_u64(&v).ok_or(VfsError::IntegrityError)?,
                None => 0,
            },
        };
        let seq = last + 1;
        let entry = AuditEntry {
            seq,
            time_ns: ctx.env.now_ns(),
            task: ctx.caller.task.to_raw(),
            user: ctx.caller.user,
            action: bound_audit_action(&action).into_owned(),
        };
        let bytes = postcard::to_allocvec(&entry).map_err(|_| VfsError::StorageError)?;
        tx.put(
            Db::Kernel,
            keys::AUDIT_SEQ.to_vec(),
            seq.to_be_bytes().to_vec(),
        );
        tx.put(Db::Kernel, keys::audit(seq), bytes);
        Ok(())
    }

    /// A page of the audit log: System-class callers only.
    ///
    /// Always makes progress: a page holds at least one entry whenever `more` is set, since an
    /// entry's action is bounded again here (an entry written by an older version may be of
    /// any length) and one bounded entry always fits a reply
    /// ([`crate::protocol::limits::MAX_AUDIT_ENTRY`]).
    pub fn audit_log(&mut self, ctx: &Ctx<'_>, after: u64) -> Result<AuditPage, VfsError> {
        if ctx.caller.class != ProcessClass::System {
            return Err(VfsError::PermissionDenied);
        }
        let start = keys::audit(after);
        let rows = self
            .store
            .scan(
                Db::Kernel,
                keys::AUDIT_PREFIX,
                Some(&start),
                AUDIT_PAGE_ENTRIES,
            )
            .map_err(store_err)?;
        let mut budget = MAX_PAYLOAD - AUDIT_PAGE_OVERHEAD;
        let mut entries = Vec::new();
        let total = rows.len();
        for (_, v) in rows {
            let mut entry: AuditEntry =
                postcard::from_bytes(&v).map_err(|_| VfsError::IntegrityError)?;
            if let Cow::Owned(bounded) = bound_audit_action(&entry.action) {
                entry.action = bounded;
            }
            let len = postcard::to_allocvec(&entry)
                .map_err(|_| VfsError::StorageError)?
                .len();
            if len > budget {
                break;
            }
            budget -= len;
            entries.push(entry);
        }
        let more = entries.len() < total || total == AUDIT_PAGE_ENTRIES;
        Ok(AuditPage { entries, more })
    }

    /// Creates `/home/{user}` with the canonical layout, owned by the user, in one transaction;
    /// registers the user and records the operation in the audit log. System callers only.
    pub fn create_home(&mut self, ctx: &Ctx<'_>, user: Uuid) -> Result<(), VfsError> {
        if !is_system(&ctx.caller) {
            return Err(VfsError::PermissionDenied);
        }
        if self.home_id == 0 {
            return Err(VfsError::NotFound);
        }
        let name = format!("{user}");
        if self.child(self.home_id, &name)?.is_some() {
            return Err(VfsError::AlreadyExists);
        }
        self.tx(|fs, tx| {
            let now = ctx.env.now_ns();
            let mut dirs: Vec<(String, u64)> = Vec::new();
            let make = |vfs: &mut Self, tx: &mut Tx, parent: u64, name: &str| {
                let id = vfs.alloc_id(tx);
                Inode {
                    id,
                    parent,
                    name: String::from(name),
                    kind: Kind::Dir {
                        tree_bytes: 0,
                        tree_entries: 0,
                    },
                    owner: Some(user),
                    perms: FilePermissions::USER_DIR.bits(),
                    created_ns: now,
                    modified_ns: now,
                    accessed_ns: now,
                    size: 0,
                    enc: None,
                    sha256: crate::crypto::empty_hash(),
                }
            };
            let home = make(fs, tx, fs.home_id, &name);
            let home_id = home.id;
            fs.link_new(ctx, tx, home)?;
            for rel in HOME_LAYOUT {
                let (parent, leaf) = match rel.rsplit_once('/') {
                    Some((p, l)) => {
                        let pid = dirs
                            .iter()
                            .find(|(n, _)| n == p)
                            .map(|(_, id)| *id)
                            .ok_or(VfsError::StorageError)?;
                        (pid, l)
                    }
                    None => (home_id, *rel),
                };
                let node = make(fs, tx, parent, leaf);
                dirs.push((String::from(*rel), node.id));
                fs.link_new(ctx, tx, node)?;
            }
            tx.put(Db::Kernel, keys::user(&user), now.to_be_bytes().to_vec());
            fs.audit(ctx, tx, format!("create_home {user}"))?;
            // The registry changes with the home, in the same (two-database) operation.
            let json = fs.registry_json(Some((user, now)))?;
            fs.write_registry_in(&Ctx::service(ctx.env), tx, &json)
        })
    }

    /// Writes `/users/registry.json` in `tx`.
    fn write_registry_in(
        &mut self,
        ctx: &Ctx<'_>,
        tx: &mut Tx,
        json: &str,
    ) -> Result<(), VfsError> {
        self.write_file_in(
            ctx,
            tx,
            REGISTRY_PATH,
            json.as_bytes(),
            None,
            Some(FilePermissions::SYSTEM_PUBLIC),
        )
    }

    /// Boot's check of `/users/registry.json` against the registered users: rewritten when
    /// missing or different (a filesystem from before the registry changed with its home).
    fn refresh_registry(&mut self, ctx: &Ctx<'_>) -> Result<(), VfsError> {
        let json = self.registry_json(None)?;
        let path = CanonPath::parse(REGISTRY_PATH)?;
        let current = match self.resolve(ctx, &path, false) {
            Ok(found) => Some((found.inode.size, found.inode.sha256)),
            Err(VfsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let expected = (
            json.len() as u64,
            self.store.engine_mut().sha256(json.as_bytes()),
        );
        if current == Some(expected) {
            return Ok(());
        }
        self.tx(|fs, tx| fs.write_registry_in(ctx, tx, &json))
    }

    /// The registry's JSON: the users registered in the kernel database, plus `added` (a user
    /// the current transaction registers), in the order of their ids.
    fn registry_json(&mut self, added: Option<(Uuid, u64)>) -> Result<String, VfsError> {
        let mut users: Vec<(Uuid, u64)> = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self
                .store
                .scan(Db::Kernel, keys::USER_PREFIX, after.as_deref(), 64)
                .map_err(store_err)?;
            if rows.is_empty() {
                break;
            }
            for (k, v) in rows {
                let raw = k
                    .get(keys::USER_PREFIX.len()..)
                    .ok_or(VfsError::IntegrityError)?;
                let id = Uuid::from_slice(raw).map_err(|_| VfsError::IntegrityError)?;
                let created = be_u64(&v).unwrap_or(0);
                users.push((id, created));
                after = Some(k);
            }
        }
        if let Some((id, created)) = added {
            users.retain(|(u, _)| *u != id);
            users.push((id, created));
            users.sort_unstable_by_key(|(u, _)| *u.as_bytes());
        }
        let mut json = String::from("{\"users\":[");
        for (i, (id, created)) in users.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!(
                "{{\"id\":\"{id}\",\"home\":\"/home/{id}\",\"created_at\":{created}}}"
            ));
        }
        json.push_str("]}");
        Ok(json)
    }
}
