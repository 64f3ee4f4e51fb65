//! The VFS wire protocol: tags, request and response types, and the codec.
//!
//! A request is a message with an even tag from [`tags`] and a postcard-encoded payload of the
//! tag's request type. The reply carries tag + 1 and a postcard-encoded
//! `Result<Response, VfsError>`; a request that cannot be decoded is answered with
//! [`tags::PROTOCOL_ERROR`] and a [`crate::error::ProtocolError`]. `PROTOCOL.md` documents every
//! message.

pub mod codec;
pub mod limits;
pub mod messages;
pub mod tags;

pub use codec::{Request, decode_request, decode_response, encode_reply, encode_request};
pub use messages::*;
