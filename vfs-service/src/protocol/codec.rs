//! Encoding and decoding of payloads. Decoding never panics: any byte string either decodes to
//! a [`Request`] or is rejected with a [`ProtocolError`].

use alloc::vec::Vec;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::limits::MAX_PAYLOAD;
use super::messages::*;
use super::tags::{self, RawTag};
use crate::error::{ProtocolError, VfsError};

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// [`tags::HELLO`].
    Hello(HelloRequest),
    /// [`tags::MKDIR`].
    Mkdir(MkdirRequest),
    /// [`tags::RMDIR`].
    Rmdir(RmdirRequest),
    /// [`tags::READDIR`].
    Readdir(ReaddirRequest),
    /// [`tags::WRITE`].
    Write(WriteRequest),
    /// [`tags::READ`].
    Read(ReadRequest),
    /// [`tags::UNLINK`].
    Unlink(PathRequest),
    /// [`tags::RENAME`].
    Rename(FromToRequest),
    /// [`tags::COPY`].
    Copy(FromToRequest),
    /// [`tags::SYMLINK`].
    Symlink(SymlinkRequest),
    /// [`tags::READLINK`].
    Readlink(PathRequest),
    /// [`tags::RESOLVE_PATH`].
    ResolvePath(PathRequest),
    /// [`tags::STAT`].
    Stat(StatRequest),
    /// [`tags::EXISTS`].
    Exists(PathRequest),
    /// [`tags::CHMOD`].
    Chmod(ChmodRequest),
    /// [`tags::CHOWN`].
    Chown(ChownRequest),
    /// [`tags::GET_USAGE`].
    GetUsage(PathRequest),
    /// [`tags::GET_QUOTA`].
    GetQuota(UserRequest),
    /// [`tags::SET_QUOTA`].
    SetQuota(SetQuotaRequest),
    /// [`tags::CREATE_HOME`].
    CreateHome(UserRequest),
    /// [`tags::AUDIT_LOG`].
    AuditLog(AuditRequest),
    /// [`tags::OPEN`].
    Open(OpenRequest),
    /// [`tags::HANDLE_READ`].
    HandleRead(HandleReadRequest),
    /// [`tags::HANDLE_WRITE`].
    HandleWrite(HandleWriteRequest),
    /// [`tags::SEEK`].
    Seek(SeekRequest),
    /// [`tags::TRUNCATE`].
    Truncate(TruncateRequest),
    /// [`tags::FLUSH`].
    Flush(HandleRequest),
    /// [`tags::CLOSE`].
    Close(HandleRequest),
    /// [`tags::HANDLE_STAT`].
    HandleStat(HandleRequest),
    /// [`tags::DISCARD`].
    Discard(HandleRequest),
}

fn strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
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
    let p = payload;
    Ok(match tag {
        tags::HELLO => Request::Hello(strict(p)?),
        tags::MKDIR => Request::Mkdir(strict(p)?),
        tags::RMDIR => Request::Rmdir(strict(p)?),
        tags::READDIR => Request::Readdir(strict(p)?),
        tags::WRITE => Request::Write(strict(p)?),
        tags::READ => Request::Read(strict(p)?),
        tags::UNLINK => Request::Unlink(strict(p)?),
        tags::RENAME => Request::Rename(strict(p)?),
        tags::COPY => Request::Copy(strict(p)?),
        tags::SYMLINK => Request::Symlink(strict(p)?),
        tags::READLINK => Request::Readlink(strict(p)?),
        tags::RESOLVE_PATH => Request::ResolvePath(strict(p)?),
        tags::STAT => Request::Stat(strict(p)?),
        tags::EXISTS => Request::Exists(strict(p)?),
        tags::CHMOD => Request::Chmod(strict(p)?),
        tags::CHOWN => Request::Chown(strict(p)?),
        tags::GET_USAGE => Request::GetUsage(strict(p)?),
        tags::GET_QUOTA => Request::GetQuota(strict(p)?),
        tags::SET_QUOTA => Request::SetQuota(strict(p)?),
        tags::CREATE_HOME => Request::CreateHome(strict(p)?),
        tags::AUDIT_LOG => Request::AuditLog(strict(p)?),
        tags::OPEN => Request::Open(strict(p)?),
        tags::HANDLE_READ => Request::HandleRead(strict(p)?),
        tags::HANDLE_WRITE => Request::HandleWrite(strict(p)?),
        tags::SEEK => Request::Seek(strict(p)?),
        tags::TRUNCATE => Request::Truncate(strict(p)?),
        tags::FLUSH => Request::Flush(strict(p)?),
        tags::CLOSE => Request::Close(strict(p)?),
        tags::HANDLE_STAT => Request::HandleStat(strict(p)?),
        tags::DISCARD => Request::Discard(strict(p)?),
        other => return Err(ProtocolError::UnknownTag(other)),
    })
}

/// Encodes a request into its tag and payload.
pub fn encode_request(request: &Request) -> Result<(RawTag, Vec<u8>), VfsError> {
    fn enc<T: Serialize>(tag: RawTag, v: &T) -> Result<(RawTag, Vec<u8>), VfsError> {
        let bytes = postcard::to_allocvec(v).map_err(|_| VfsError::InvalidArgument)?;
        if bytes.len() > MAX_PAYLOAD {
            return Err(VfsError::InvalidArgument);
        }
        Ok((tag, bytes))
    }
    match request {
        Request::Hello(r) => enc(tags::HELLO, r),
        Request::Mkdir(r) => enc(tags::MKDIR, r),
        Request::Rmdir(r) => enc(tags::RMDIR, r),
        Request::Readdir(r) => enc(tags::READDIR, r),
        Request::Write(r) => enc(tags::WRITE, r),
        Request::Read(r) => enc(tags::READ, r),
        Request::Unlink(r) => enc(tags::UNLINK, r),
        Request::Rename(r) => enc(tags::RENAME, r),
        Request::Copy(r) => enc(tags::COPY, r),
        Request::Symlink(r) => enc(tags::SYMLINK, r),
        Request::Readlink(r) => enc(tags::READLINK, r),
        Request::ResolvePath(r) => enc(tags::RESOLVE_PATH, r),
        Request::Stat(r) => enc(tags::STAT, r),
        Request::Exists(r) => enc(tags::EXISTS, r),
        Request::Chmod(r) => enc(tags::CHMOD, r),
        Request::Chown(r) => enc(tags::CHOWN, r),
        Request::GetUsage(r) => enc(tags::GET_USAGE, r),
        Request::GetQuota(r) => enc(tags::GET_QUOTA, r),
        Request::SetQuota(r) => enc(tags::SET_QUOTA, r),
        Request::CreateHome(r) => enc(tags::CREATE_HOME, r),
        Request::AuditLog(r) => enc(tags::AUDIT_LOG, r),
        Request::Open(r) => enc(tags::OPEN, r),
        Request::HandleRead(r) => enc(tags::HANDLE_READ, r),
        Request::HandleWrite(r) => enc(tags::HANDLE_WRITE, r),
        Request::Seek(r) => enc(tags::SEEK, r),
        Request::Truncate(r) => enc(tags::TRUNCATE, r),
        Request::Flush(r) => enc(tags::FLUSH, r),
        Request::Close(r) => enc(tags::CLOSE, r),
        Request::HandleStat(r) => enc(tags::HANDLE_STAT, r),
        Request::Discard(r) => enc(tags::DISCARD, r),
    }
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
            let _ = decode_response::<Stat>(tags::STAT, tags::STAT + 1, &buf[..len]);
        }
    }
}
