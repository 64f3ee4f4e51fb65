//! The VFS wire protocol: tags, request and response types, and the codec.
//!
//! A request is a message with an even tag from [`tags`] and a postcard-encoded payload of the
//! tag's request type, as the request table ([`table`]) declares them. The reply carries the
//! tag of [`tags::response`] (request + 1) and a postcard-encoded
//! `Result<Response, VfsError>`; a request that cannot be decoded is answered with
//! [`tags::PROTOCOL_ERROR`] and a [`crate::error::ProtocolError`]. `vfs-service/PROTOCOL.md` specifies
//! every message down to the byte.

pub mod bytes;
pub mod codec;
pub mod limits;
pub mod messages;
pub mod statfs;
pub mod table;
pub mod tags;

pub use codec::{
    decode_protocol_error, decode_request, decode_response, encode_message, encode_protocol_error,
    encode_reply, encode_request,
};
pub use messages::*;
pub use statfs::{DbStat, EngineClass, FsStat, Security, TreeStat};
pub use table::{Handler, Message, Request, Response, handle, req};
