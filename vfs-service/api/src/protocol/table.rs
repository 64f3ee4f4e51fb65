//! The request table: every VFS request declared once, as (constant, tag, variant, handler
//! method, request type, response type). [`request_table!`] turns the table into
//!
//! - the tag constants (re-exported by [`super::tags`]) and [`ALL_REQUESTS`] / [`REQUESTS`];
//! - the [`Request`] enum with its codec ([`Request::encode`], [`Request::decode`]) and the
//!   [`Response`] enum with its codec (for tools and the specification's examples);
//! - a marker type per request in [`req`] implementing [`Message`], which ties a request's tag
//!   to its request and response types: `client.call::<req::Stat>(&request)` returns a
//!   [`super::messages::Stat`], checked by the compiler;
//! - the server's skeleton: the [`Handler`] trait (one method per request, returning the
//!   table's response type) and [`handle`], the one `match` from a request to its handler and
//!   its encoded reply.
//!
//! Adding a request is one line here, a handler method in the server and an example in
//! `PROTOCOL.md` (the specification test fails until it has one).

use alloc::vec::Vec;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{encode_reply, strict};
use super::messages::*;
use super::statfs::FsStat;
use super::tags::{RawTag, response};
use crate::error::{ProtocolError, VfsError};

/// A request of the table, named by its marker type in [`req`]: its tag, its name and the types
/// that travel each way.
pub trait Message {
    /// The request's tag.
    const TAG: RawTag;
    /// The request's name in `PROTOCOL.md` (`STAT`, `HANDLE_READ`, ...).
    const NAME: &'static str;
    /// The request's payload type.
    type Request: Serialize + DeserializeOwned;
    /// The payload type of a successful response.
    type Response: Serialize + DeserializeOwned;
    /// The request as a [`Request`].
    fn wrap(request: Self::Request) -> Request;
}

macro_rules! request_table {
    ($(
        $(#[doc = $doc:literal])*
        $konst:ident = $tag:literal => $variant:ident, $method:ident($req:ty) -> $resp:ty;
    )*) => {
        /// The request tags, one constant per request (re-exported by [`super::tags`]).
        pub mod consts {
            use super::RawTag;
            $(
                $(#[doc = $doc])*
                pub const $konst: RawTag = $tag;
            )*
        }

        /// Every request tag, in table order.
        pub const ALL_REQUESTS: &[RawTag] = &[$($tag),*];

        /// Every request's name (as in `PROTOCOL.md`) and tag, in table order.
        pub const REQUESTS: &[(&str, RawTag)] = &[$((stringify!($konst), $tag)),*];

        /// A decoded request.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Request {
            $(
                $(#[doc = $doc])*
                $variant($req),
            )*
        }

        /// A successful response, as the [`Request`] of the same variant gets it.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Response {
            $(
                $(#[doc = $doc])*
                $variant($resp),
            )*
        }

        /// One marker type per request, implementing [`Message`]: the `R` of
        /// `Client::call::<R>`.
        pub mod req {
            $(
                $(#[doc = $doc])*
                #[derive(Debug)]
                pub enum $variant {}
            )*
        }

        $(
            impl Message for req::$variant {
                const TAG: RawTag = $tag;
                const NAME: &'static str = stringify!($konst);
                type Request = $req;
                type Response = $resp;
                fn wrap(request: $req) -> Request {
                    Request::$variant(request)
                }
            }
        )*

        impl Request {
            /// The request's tag.
            pub const fn tag(&self) -> RawTag {
                match self {
                    $(Self::$variant(_) => $tag,)*
                }
            }

            /// The request's name.
            pub const fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($konst),)*
                }
            }

            /// The request's payload, unbounded (see [`super::codec::encode_request`]).
            pub(crate) fn payload(&self) -> Result<Vec<u8>, postcard::Error> {
                match self {
                    $(Self::$variant(r) => postcard::to_allocvec(r),)*
                }
            }

            /// Decodes the payload of a request with tag `tag` (strictly: no trailing bytes).
            pub(crate) fn from_payload(tag: RawTag, payload: &[u8]) -> Result<Self, ProtocolError> {
                match tag {
                    $($tag => Ok(Self::$variant(strict(payload)?)),)*
                    other => Err(ProtocolError::UnknownTag(other)),
                }
            }
        }

        impl Response {
            /// The tag of the request this answers.
            pub const fn request_tag(&self) -> RawTag {
                match self {
                    $(Self::$variant(_) => $tag,)*
                }
            }

            /// Encodes a reply payload (`Result<Response, VfsError>` of the variant's type).
            pub fn encode(reply: &Result<Self, VfsError>) -> Vec<u8> {
                match reply {
                    $(Ok(Self::$variant(r)) => encode_reply::<&$resp>(&Ok(r)),)*
                    Err(e) => encode_reply::<()>(&Err(*e)),
                }
            }

            /// Decodes the reply payload to a request with tag `request_tag` (strictly).
            pub fn decode(
                request_tag: RawTag,
                payload: &[u8],
            ) -> Result<Result<Self, VfsError>, ProtocolError> {
                match request_tag {
                    $($tag => Ok(strict::<Result<$resp, VfsError>>(payload)?.map(Self::$variant)),)*
                    other => Err(ProtocolError::UnknownTag(other)),
                }
            }
        }

        /// The server side of the table: one method per request, each returning the table's
        /// response type. [`handle`] routes a decoded [`Request`] to its method.
        pub trait Handler {
            $(
                $(#[doc = $doc])*
                fn $method(&mut self, request: $req) -> Result<$resp, VfsError>;
            )*
        }

        /// Runs `request` through `handler`; returns the reply's tag and payload.
        pub fn handle<H: Handler + ?Sized>(handler: &mut H, request: Request) -> (RawTag, Vec<u8>) {
            match request {
                $(
                    Request::$variant(r) => (response($tag), encode_reply(&handler.$method(r))),
                )*
            }
        }
    };
}

request_table! {
    /// mkdir (optionally recursive, optionally with permissions).
    MKDIR = 0x8000 => Mkdir, mkdir(MkdirRequest) -> ();
    /// rmdir (optionally recursive).
    RMDIR = 0x8002 => Rmdir, rmdir(RmdirRequest) -> ();
    /// One page of a directory listing.
    READDIR = 0x8004 => Readdir, readdir(ReaddirRequest) -> ReaddirResponse;
    /// Handshake: protocol version and limits.
    HELLO = 0x8006 => Hello, hello(HelloRequest) -> HelloResponse;
    /// Replace a whole (small) file.
    WRITE = 0x8010 => Write, write(WriteRequest) -> ();
    /// Read a range of a file.
    READ = 0x8012 => Read, read(ReadRequest) -> ReadResponse;
    /// Remove a file or symlink.
    UNLINK = 0x8014 => Unlink, unlink(PathRequest) -> ();
    /// Atomic rename of a file, symlink or directory.
    RENAME = 0x8016 => Rename, rename(FromToRequest) -> ();
    /// Copy a file.
    COPY = 0x8018 => Copy, copy(FromToRequest) -> ();
    /// Create a symlink.
    SYMLINK = 0x801A => Symlink, symlink(SymlinkRequest) -> ();
    /// Read a symlink's target.
    READLINK = 0x801C => Readlink, readlink(PathRequest) -> alloc::string::String;
    /// Canonicalise a path, following symlinks.
    RESOLVE_PATH = 0x801E => ResolvePath, resolve_path(PathRequest) -> alloc::string::String;
    /// Metadata of an entry.
    STAT = 0x8020 => Stat, stat(StatRequest) -> Stat;
    /// Whether an entry exists.
    EXISTS = 0x8022 => Exists, exists(PathRequest) -> bool;
    /// Change permissions (owner or system).
    CHMOD = 0x8024 => Chmod, chmod(ChmodRequest) -> ();
    /// Change owner (system only).
    CHOWN = 0x8026 => Chown, chown(ChownRequest) -> ();
    /// Usage of a subtree.
    GET_USAGE = 0x8030 => GetUsage, get_usage(PathRequest) -> Usage;
    /// A user's quota.
    GET_QUOTA = 0x8032 => GetQuota, get_quota(UserRequest) -> Quota;
    /// Set a user's quota limit (system only).
    SET_QUOTA = 0x8034 => SetQuota, set_quota(SetQuotaRequest) -> ();
    /// Create a user's home directory with the canonical layout (system only).
    CREATE_HOME = 0x8036 => CreateHome, create_home(UserRequest) -> ();
    /// Read a page of the audit log in the kernel database (System class only).
    AUDIT_LOG = 0x8038 => AuditLog, audit_log(AuditRequest) -> AuditPage;
    /// Capacity, usage, limits and the protecting engine of the filesystem (`df`).
    STATFS = 0x803A => Statfs, statfs(()) -> FsStat;
    /// Write the integrity footer of every database changed since the last SYNC, and flush.
    SYNC = 0x803C => Sync, sync(()) -> ();
    /// Open a handle on a file.
    OPEN = 0x8040 => Open, open(OpenRequest) -> OpenResponse;
    /// Read from a handle at its position.
    HANDLE_READ = 0x8042 => HandleRead, handle_read(HandleReadRequest) -> HandleReadResponse;
    /// Write to a handle at its position; returns the bytes written.
    HANDLE_WRITE = 0x8044 => HandleWrite, handle_write(HandleWriteRequest) -> u32;
    /// Move a handle's position; returns the new position.
    SEEK = 0x8046 => Seek, seek(SeekRequest) -> u64;
    /// Set the size of the file behind a handle.
    TRUNCATE = 0x8048 => Truncate, truncate(TruncateRequest) -> ();
    /// Commit a handle's writes atomically.
    FLUSH = 0x804A => Flush, flush(HandleRequest) -> ();
    /// Commit and release a handle.
    CLOSE = 0x804C => Close, close(HandleRequest) -> ();
    /// Metadata of the file behind a handle, including uncommitted size.
    HANDLE_STAT = 0x804E => HandleStat, handle_stat(HandleRequest) -> Stat;
    /// Release a handle without committing its writes.
    DISCARD = 0x8050 => Discard, discard(HandleRequest) -> ();
}
