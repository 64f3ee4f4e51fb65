//! Encoding and decoding of payloads. Decoding never panics: any byte string either decodes to
//! a [`Request`] or is rejected with a [`ProtocolError`].

use alloc::vec::Vec;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::limits::MAX_PAYLOAD;
pub use super::table::{Request, Response};

use super::table::Message;
use super::tags::{self, RawTag};
use crate::error::{ProtocolError, VfsError};

/// Decodes `bytes` as a `T`, rejecting trailing bytes.
pub(crate) fn strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(ProtocolError::Malformed),
    }
}

/// Decodes a request message.
pub fn decode_request(tag: RawTag, payload: &[u8]) -> Result<Request, ProtocolError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(ProtocolError::TooLarge);
    }
    Request::from_payload(tag, payload)
}

/// Encodes a request into its tag and payload.
pub fn encode_request(request: &Request) -> Result<(RawTag, Vec<u8>), VfsError> {
    let bytes = request.payload().map_err(|_| VfsError::InvalidArgument)?;
    if bytes.len() > MAX_PAYLOAD {
        return Err(VfsError::InvalidArgument);
    }
    Ok((request.tag(), bytes))
}

/// Encodes the payload of request `R` (`InvalidArgument` when it does not fit a message).
pub fn encode_message<R: Message>(request: &R::Request) -> Result<Vec<u8>, VfsError> {
    let bytes = postcard::to_allocvec(request).map_err(|_| VfsError::InvalidArgument)?;
    if bytes.len() > MAX_PAYLOAD {
        return Err(VfsError::InvalidArgument);
    }
    Ok(bytes)
}

/// Encodes a reply payload: `Result<T, VfsError>`. A value too large for one message (which the
/// handlers never produce) degrades to `Err(StorageError)` rather than an oversized message.
pub fn encode_reply<T: Serialize>(result: &Result<T, VfsError>) -> Vec<u8> {
    match postcard::to_allocvec(result) {
        Ok(bytes) if bytes.len() <= MAX_PAYLOAD => bytes,
        _ => postcard::to_allocvec(&Result::<(), VfsError>::Err(VfsError::StorageError))
            .unwrap_or_default(),
    }
}

/// Encodes a protocol-error reply payload.
pub fn encode_protocol_error(error: ProtocolError) -> Vec<u8> {
    postcard::to_allocvec(&error).unwrap_or_default()
}

/// Decodes a protocol-error reply payload (strictly).
pub fn decode_protocol_error(payload: &[u8]) -> Result<ProtocolError, ProtocolError> {
    strict(payload)
}

/// What a client can get back instead of the response it expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The service answered with a recoverable error.
    Vfs(VfsError),
    /// The service could not decode the request.
    Protocol(ProtocolError),
    /// The reply itself did not decode, or carried an unexpected tag.
    BadReply,
}

/// Decodes the reply to a request with tag `request_tag`.
pub fn decode_response<T: DeserializeOwned>(
    request_tag: RawTag,
    reply_tag: RawTag,
    payload: &[u8],
) -> Result<T, ReplyError> {
    if reply_tag == tags::PROTOCOL_ERROR {
        return Err(match strict::<ProtocolError>(payload) {
            Ok(e) => ReplyError::Protocol(e),
            Err(_) => ReplyError::BadReply,
        });
    }
    if reply_tag != tags::response(request_tag) {
        return Err(ReplyError::BadReply);
    }
    match strict::<Result<T, VfsError>>(payload) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ReplyError::Vfs(e)),
        Err(_) => Err(ReplyError::BadReply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::*;
    use alloc::string::ToString;

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Request::Mkdir(MkdirRequest {
                path: "/tmp/a".to_string(),
                recursive: true,
                permissions: None,
            }),
            Request::Seek(SeekRequest {
                handle: Handle {
                    slot: 3,
                    generation: 9,
                },
                from: SeekFrom::End(-4),
            }),
            Request::Hello(HelloRequest { version: 1 }),
        ];
        for r in reqs {
            let (tag, bytes) = encode_request(&r).unwrap();
            assert_eq!(decode_request(tag, &bytes).unwrap(), r);
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_tags_are_rejected() {
        let (tag, mut bytes) = encode_request(&Request::Exists(PathRequest {
            path: "/".to_string(),
        }))
        .unwrap();
        bytes.push(0);
        assert_eq!(decode_request(tag, &bytes), Err(ProtocolError::Malformed));
        assert_eq!(
            decode_request(0x8002 + 0x100, &[]),
            Err(ProtocolError::UnknownTag(0x8102))
        );
        assert_eq!(
            decode_request(tags::STAT, &[0u8; 5000]),
            Err(ProtocolError::TooLarge)
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small xorshift generator: deterministic, no dependencies.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buf = [0u8; 96];
        for _ in 0..20_000 {
            let len = (next() % 96) as usize;
            for b in buf.iter_mut().take(len) {
                *b = next() as u8;
            }
            let tag = tags::ALL_REQUESTS[(next() % tags::ALL_REQUESTS.len() as u64) as usize];
            let _ = decode_request(tag, &buf[..len]);
            let _ = decode_response::<Stat>(tags::STAT, tags::response(tags::STAT), &buf[..len]);
        }
    }

    #[test]
    fn the_largest_audit_entry_fills_a_reply_exactly() {
        use crate::protocol::limits::{MAX_AUDIT_ACTION, MAX_AUDIT_ENTRY};
        let entry = AuditEntry {
            seq: u64::MAX,
            time_ns: u64::MAX,
            task: u32::MAX,
            user: Some(uuid::Uuid::from_u128(u128::MAX)),
            action: "x".repeat(MAX_AUDIT_ACTION),
        };
        assert_eq!(
            postcard::to_allocvec(&entry).unwrap().len(),
            MAX_AUDIT_ENTRY
        );
        let page = AuditPage {
            entries: alloc::vec![entry],
            more: true,
        };
        assert_eq!(encode_reply(&Ok::<_, VfsError>(page)).len(), MAX_PAYLOAD);
    }

    #[test]
    fn long_audit_actions_keep_head_marker_and_tail_on_char_boundaries() {
        use crate::protocol::limits::{
            AUDIT_KEEP_HEAD, AUDIT_KEEP_TAIL, AUDIT_TRUNCATION_MARKER, MAX_AUDIT_ACTION,
        };
        let short = "chown /a system";
        assert_eq!(bound_audit_action(short), short);
        let exact = "y".repeat(MAX_AUDIT_ACTION);
        assert_eq!(bound_audit_action(&exact), exact.as_str());
        // Every alignment of 2-, 3- and 4-byte characters against both cut points.
        for c in ['é', '€', '𝄞'] {
            for pad in 0..4 {
                let long = alloc::format!(
                    "{}{}{}",
                    "a".repeat(pad),
                    c.to_string().repeat(MAX_AUDIT_ACTION),
                    "z".repeat(pad)
                );
                let out = bound_audit_action(&long);
                assert!(out.len() <= MAX_AUDIT_ACTION, "{c} {pad}");
                assert!(out.len() >= MAX_AUDIT_ACTION - 6, "{c} {pad}");
                let at = out.find(AUDIT_TRUNCATION_MARKER).unwrap();
                assert!(at <= AUDIT_KEEP_HEAD && at > AUDIT_KEEP_HEAD - 4);
                let (head, rest) = out.split_at(at);
                let tail = &rest[AUDIT_TRUNCATION_MARKER.len()..];
                assert!(long.starts_with(head));
                assert!(long.ends_with(tail));
                assert!(tail.len() <= AUDIT_KEEP_TAIL && tail.len() > AUDIT_KEEP_TAIL - 4);
            }
        }
    }
}
