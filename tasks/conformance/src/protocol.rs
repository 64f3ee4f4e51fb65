//! Protocol robustness: unknown tags, malformed, truncated and random payloads, oversized
//! messages. The service answers each with a protocol error and keeps serving.

use alloc::format;
use alloc::vec::Vec;
use kernel_abi::Kernel;
use vfs_api::client::ClientError;
use vfs_api::error::ProtocolError;
use vfs_api::protocol::codec::{Request, encode_request};
use vfs_api::protocol::messages::{PathRequest, StatRequest};
use vfs_api::protocol::tags;

use super::{Case, Outcome, World, ensure, step};

pub(super) fn cases<K: Kernel + 'static>() -> Vec<Case<K>> {
    alloc::vec![
        Case {
            name: "protocol.unknown_tags",
            run: unknown::<K>
        },
        Case {
            name: "protocol.malformed_and_truncated",
            run: malformed::<K>
        },
        Case {
            name: "protocol.random_payloads_every_tag",
            run: random::<K>
        },
        Case {
            name: "protocol.responses_are_request_plus_one",
            run: plus_one::<K>
        },
    ]
}

fn protocol_error<K: Kernel>(
    w: &mut World<'_, K>,
    tag: u32,
    payload: &[u8],
) -> Result<ProtocolError, alloc::string::String> {
    let (t, body) = step("raw call", w.anon.raw_call(tag, payload))?;
    if t != tags::PROTOCOL_ERROR {
        return Err(format!(
            "tag {tag:#x}: reply tag {t:#x}, wanted a protocol error"
        ));
    }
    postcard::from_bytes::<ProtocolError>(&body)
        .map_err(|_| format!("undecodable protocol error {body:?}"))
}

fn unknown<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    for tag in [0x8008u32, 0x8001, 0x803E, 0x805E, 0x80FE, 0x1234, 0] {
        let e = protocol_error(w, tag, b"")?;
        ensure(
            e == ProtocolError::UnknownTag(tag),
            format!("{tag:#x}: {e:?}"),
        )?;
    }
    step("still serving", w.anon.hello()).map(|_| ())
}

fn malformed<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let (tag, good) = encode_request(&Request::Stat(StatRequest {
        path: "/tmp".into(),
        follow_symlinks: true,
    }))
    .map_err(|e| format!("{e:?}"))?;
    for cut in 0..good.len() {
        let e = protocol_error(w, tag, &good[..cut])?;
        ensure(
            e == ProtocolError::Malformed,
            format!("truncated at {cut}: {e:?}"),
        )?;
    }
    let mut long = good.clone();
    long.push(0);
    ensure(
        protocol_error(w, tag, &long)? == ProtocolError::Malformed,
        "trailing byte",
    )?;
    // A path string that is not UTF-8.
    let (ptag, _) = encode_request(&Request::Exists(PathRequest { path: "/a".into() }))
        .map_err(|e| format!("{e:?}"))?;
    ensure(
        protocol_error(w, ptag, &[2, 0xff, 0xfe])? == ProtocolError::Malformed,
        "bad UTF-8",
    )?;
    // A string length far past the payload.
    ensure(
        protocol_error(w, ptag, &[0xff, 0xff, 0x03, b'/'])? == ProtocolError::Malformed,
        "huge length",
    )?;
    // More than a message may carry is refused by the kernel before the service sees it.
    match w.anon.raw_call(tag, &[0u8; 4097]) {
        Err(ClientError::Ipc(_)) => {}
        other => return Err(format!("oversized message: {other:?}")),
    }
    step("still serving", w.anon.hello()).map(|_| ())
}

fn random<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..400 {
        let tag = tags::ALL_REQUESTS[round % tags::ALL_REQUESTS.len()];
        let len = (next() % 64) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let (t, _) = step("random call", w.anon.raw_call(tag, &bytes))?;
        ensure(
            t == tags::PROTOCOL_ERROR || t == tags::response(tag),
            format!("tag {tag:#x} answered with {t:#x}"),
        )?;
    }
    step("still serving", w.anon.hello()).map(|_| ())
}

fn plus_one<K: Kernel>(w: &mut World<'_, K>) -> Outcome {
    let (tag, payload) = encode_request(&Request::Exists(PathRequest {
        path: "/tmp".into(),
    }))
    .map_err(|e| format!("{e:?}"))?;
    let (t, body) = step("raw exists", w.anon.raw_call(tag, &payload))?;
    ensure(t == 0x8023, format!("exists answered {t:#x}"))?;
    let r: Result<bool, vfs_api::error::VfsError> =
        postcard::from_bytes(&body).map_err(|_| "undecodable reply")?;
    ensure(r == Ok(true), "exists /tmp")
}
