//! The server loop: receive → decode → check → act → reply, over any [`Kernel`].
//!
//! [`dispatch`] is the whole request path minus the IPC, so it is tested directly; [`serve`]
//! wraps it in the receive/reply loop. A request that does not decode gets a
//! [`tags::PROTOCOL_ERROR`] reply and the loop carries on; nothing a client sends can make the
//! service panic. Besides the VFS requests it accepts one message of init's protocol,
//! `TASK_STOPPED`, which releases a stopped task's handles (believed from System tasks only).
//! Between requests it collects garbage in bounded batches; after a request that only read,
//! with nothing left to collect, it answers and waits for the next request in one trap
//! (`Kernel::reply_receive`, the kernel's `ReplyRecv`).

use alloc::vec;
use alloc::vec::Vec;
use kernel_abi::init_proto::{TASK_STOPPED, TaskStopped};
use kernel_abi::{Credentials, EndpointId, Errno, Kernel, LogLevel, ProcessClass, Tag};

use alloc::string::String;

use crate::error::VfsError;
use crate::protocol::codec::{decode_request, encode_protocol_error};
use crate::protocol::limits::{
    MAX_DEPTH, MAX_HANDLES_PER_TASK, MAX_IO, MAX_NAME, MAX_PATH, MAX_PAYLOAD, PROTOCOL_VERSION,
    SYMLINK_DEPTH,
};
use crate::protocol::messages::*;
use crate::protocol::{FsStat, Handler, handle, tags};
use crate::vfs::{Ctx, Env, Vfs};
use storage_backend::{BlockDevice, CryptoEngine};

pub use vfs_api::SERVICE_NAME;

/// Registers `endpoint` (which the calling task serves) as [`SERVICE_NAME`] with init, so that
/// clients find it with `lookup_service("vfs")` (`vfs_api::client::Client::connect`).
pub fn register<K: Kernel>(
    kernel: &K,
    endpoint: EndpointId,
) -> Result<(), kernel_abi::init_proto::InitCallError> {
    kernel_abi::init_proto::register(kernel, SERVICE_NAME, endpoint)
}

/// Garbage pieces collected after each request.
const GC_BUDGET: usize = 64;

/// Time and entropy from a [`Kernel`].
pub struct KernelEnv<'k, K>(pub &'k K);

impl<K: Kernel> Env for KernelEnv<'_, K> {
    fn now_ns(&self) -> u64 {
        match self.0.wall_clock_ns() {
            0 => self.0.monotonic_ns(),
            t => t,
        }
    }

    fn random(&self, out: &mut [u8]) -> Result<(), VfsError> {
        self.0.random_bytes(out).map_err(|_| VfsError::StorageError)
    }
}

fn hello() -> HelloResponse {
    HelloResponse {
        version: PROTOCOL_VERSION,
        max_payload: MAX_PAYLOAD as u32,
        max_io: MAX_IO as u32,
        max_path: MAX_PATH as u32,
        max_name: MAX_NAME as u32,
        max_handles: MAX_HANDLES_PER_TASK as u32,
        symlink_depth: SYMLINK_DEPTH,
        max_depth: MAX_DEPTH as u32,
    }
}

/// Handles one request from `caller`; returns the reply's tag and payload.
pub fn dispatch<D: BlockDevice, E: CryptoEngine>(
    vfs: &mut Vfs<D, E>,
    env: &dyn Env,
    caller: Credentials,
    tag: u32,
    payload: &[u8],
) -> (u32, Vec<u8>) {
    if tag == TASK_STOPPED.0 {
        return task_stopped(vfs, caller, payload);
    }
    let request = match decode_request(tag, payload) {
        Ok(r) => r,
        Err(e) => return (tags::PROTOCOL_ERROR, encode_protocol_error(e)),
    };
    let ctx = Ctx { caller, env };
    vfs.reap_task(caller.task);
    handle(&mut Session { vfs, ctx: &ctx }, request)
}

/// Init's notice that a task stopped (kernel-abi's `init_proto::TASK_STOPPED`, outside the VFS
/// range: it is init's message, not a VFS request): the task's handles are released. Believed
/// only from a System-class sender (init, or another part of the operating system); anyone
/// else's is ignored, so no application can release another task's handles. The notice is
/// sent without waiting, so the reply (an empty payload, the tag's response) is dropped.
fn task_stopped<D: BlockDevice, E: CryptoEngine>(
    vfs: &mut Vfs<D, E>,
    caller: Credentials,
    payload: &[u8],
) -> (u32, Vec<u8>) {
    if caller.class == ProcessClass::System
        && let Ok(notice) = TaskStopped::decode(payload)
    {
        vfs.task_stopped(notice.task);
    }
    (TASK_STOPPED.response().0, Vec::new())
}

/// One request's view of the service: the VFS and the caller. Implements the request table's
/// [`Handler`], one method per request.
struct Session<'v, 'c, D: BlockDevice, E: CryptoEngine> {
    vfs: &'v mut Vfs<D, E>,
    ctx: &'c Ctx<'c>,
}

impl<D: BlockDevice, E: CryptoEngine> Handler for Session<'_, '_, D, E> {
    fn mkdir(&mut self, r: MkdirRequest) -> Result<(), VfsError> {
        self.vfs
            .mkdir(self.ctx, &r.path, r.recursive, r.permissions)
    }
    fn rmdir(&mut self, r: RmdirRequest) -> Result<(), VfsError> {
        self.vfs.rmdir(self.ctx, &r.path, r.recursive)
    }
    fn readdir(&mut self, r: ReaddirRequest) -> Result<ReaddirResponse, VfsError> {
        self.vfs.readdir(self.ctx, &r.path, r.cursor.as_deref())
    }
    fn hello(&mut self, r: HelloRequest) -> Result<HelloResponse, VfsError> {
        // A client of another version would misread handles (version 1 had 32-bit generations):
        // refuse it with an error every version can decode.
        if r.version != PROTOCOL_VERSION {
            return Err(VfsError::UnsupportedSchema);
        }
        Ok(hello())
    }
    fn write(&mut self, r: WriteRequest) -> Result<(), VfsError> {
        self.vfs
            .write_file(self.ctx, &r.path, &r.data, r.key, r.permissions)
    }
    fn read(&mut self, r: ReadRequest) -> Result<ReadResponse, VfsError> {
        self.vfs
            .read_file(self.ctx, &r.path, r.offset, r.length, r.key)
    }
    fn unlink(&mut self, r: PathRequest) -> Result<(), VfsError> {
        self.vfs.unlink(self.ctx, &r.path)
    }
    fn rename(&mut self, r: FromToRequest) -> Result<(), VfsError> {
        self.vfs.rename(self.ctx, &r.from, &r.to)
    }
    fn copy(&mut self, r: FromToRequest) -> Result<(), VfsError> {
        self.vfs.copy(self.ctx, &r.from, &r.to)
    }
    fn symlink(&mut self, r: SymlinkRequest) -> Result<(), VfsError> {
        self.vfs.symlink(self.ctx, &r.target, &r.link)
    }
    fn readlink(&mut self, r: PathRequest) -> Result<String, VfsError> {
        self.vfs.readlink(self.ctx, &r.path)
    }
    fn resolve_path(&mut self, r: PathRequest) -> Result<String, VfsError> {
        self.vfs.resolve_path(self.ctx, &r.path)
    }
    fn stat(&mut self, r: StatRequest) -> Result<Stat, VfsError> {
        self.vfs.stat(self.ctx, &r.path, r.follow_symlinks)
    }
    fn exists(&mut self, r: PathRequest) -> Result<bool, VfsError> {
        self.vfs.exists(self.ctx, &r.path)
    }
    fn chmod(&mut self, r: ChmodRequest) -> Result<(), VfsError> {
        self.vfs.chmod(self.ctx, &r.path, r.permissions)
    }
    fn chown(&mut self, r: ChownRequest) -> Result<(), VfsError> {
        self.vfs.chown(self.ctx, &r.path, r.owner)
    }
    fn get_usage(&mut self, r: PathRequest) -> Result<Usage, VfsError> {
        self.vfs.usage(self.ctx, &r.path)
    }
    fn get_quota(&mut self, r: UserRequest) -> Result<Quota, VfsError> {
        self.vfs.quota(self.ctx, r.user)
    }
    fn set_quota(&mut self, r: SetQuotaRequest) -> Result<(), VfsError> {
        self.vfs.set_quota(self.ctx, r.user, r.limit)
    }
    fn create_home(&mut self, r: UserRequest) -> Result<(), VfsError> {
        self.vfs.create_home(self.ctx, r.user)
    }
    fn audit_log(&mut self, r: AuditRequest) -> Result<AuditPage, VfsError> {
        self.vfs.audit_log(self.ctx, r.after)
    }
    fn statfs(&mut self, _: ()) -> Result<FsStat, VfsError> {
        self.vfs.statfs(self.ctx)
    }
    fn sync(&mut self, _: ()) -> Result<(), VfsError> {
        self.vfs.sync(self.ctx)
    }
    fn open(&mut self, r: OpenRequest) -> Result<OpenResponse, VfsError> {
        self.vfs
            .open(self.ctx, &r.path, r.flags, r.key, r.permissions)
    }
    fn handle_read(&mut self, r: HandleReadRequest) -> Result<HandleReadResponse, VfsError> {
        self.vfs
            .handle_read(self.ctx, r.handle, r.length)
            .map(HandleReadResponse)
    }
    fn handle_write(&mut self, r: HandleWriteRequest) -> Result<u32, VfsError> {
        self.vfs.handle_write(self.ctx, r.handle, &r.data)
    }
    fn seek(&mut self, r: SeekRequest) -> Result<u64, VfsError> {
        self.vfs.handle_seek(self.ctx, r.handle, r.from)
    }
    fn truncate(&mut self, r: TruncateRequest) -> Result<(), VfsError> {
        self.vfs.handle_truncate(self.ctx, r.handle, r.size)
    }
    fn flush(&mut self, r: HandleRequest) -> Result<(), VfsError> {
        self.vfs.handle_flush(self.ctx, r.handle)
    }
    fn close(&mut self, r: HandleRequest) -> Result<(), VfsError> {
        self.vfs.handle_close(self.ctx, r.handle)
    }
    fn handle_stat(&mut self, r: HandleRequest) -> Result<Stat, VfsError> {
        self.vfs.handle_stat(self.ctx, r.handle)
    }
    fn discard(&mut self, r: HandleRequest) -> Result<(), VfsError> {
        self.vfs.handle_discard(self.ctx, r.handle)
    }
}

/// Whether request `tag` only reads: it creates no garbage for the collector (content
/// versions and staged pieces come only from requests that write). A READ may rewrite the
/// file's access time, which replaces an inode record and leaves no content behind.
fn changes_nothing(tag: tags::RawTag) -> bool {
    matches!(
        tag,
        tags::READDIR
            | tags::HELLO
            | tags::READ
            | tags::READLINK
            | tags::RESOLVE_PATH
            | tags::STAT
            | tags::EXISTS
            | tags::GET_USAGE
            | tags::GET_QUOTA
            | tags::AUDIT_LOG
            | tags::HANDLE_READ
            | tags::SEEK
            | tags::HANDLE_STAT
    )
}

/// Serves `endpoint` forever (returns only if receiving fails for good).
pub fn serve<K: Kernel, D: BlockDevice, E: CryptoEngine>(
    kernel: &K,
    endpoint: EndpointId,
    vfs: &mut Vfs<D, E>,
) -> Result<(), Errno> {
    let env = KernelEnv(kernel);
    let mut buf = vec![0u8; MAX_PAYLOAD];
    let mut garbage = true;
    let mut next = None;
    loop {
        let msg = match next.take() {
            Some(m) => m,
            None => match kernel.receive(endpoint, &mut buf, !garbage) {
                Ok(m) => m,
                Err(Errno::WouldBlock) => {
                    garbage = vfs.collect_garbage(GC_BUDGET * 16).unwrap_or(false);
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let payload = buf.get(..msg.len).unwrap_or(&[]);
        let request = msg.tag.0;
        let (tag, reply) = dispatch(vfs, &env, msg.sender, request, payload);
        // A request that changed nothing left nothing to collect: when nothing was left
        // before it either, answer it and wait for the next one in one trap (`ReplyRecv`).
        if !garbage && changes_nothing(request) {
            match kernel.reply_receive(msg.reply, Tag(tag), &reply, endpoint, &mut buf, true) {
                Ok(m) => next = Some(m),
                // The reply half failed and nothing was received, or the receive half failed:
                // either way the plain receive above runs next (and returns a lasting failure).
                Err(_) => kernel.log(LogLevel::Warn, "vfs: reply or receive failed"),
            }
            continue;
        }
        if kernel.reply(msg.reply, Tag(tag), &reply).is_err() {
            kernel.log(LogLevel::Warn, "vfs: reply failed");
        }
        garbage = vfs.collect_garbage(GC_BUDGET).unwrap_or(false);
    }
}
