//! Kernel conformance checks, generic over [`Kernel`], so the very same test code runs on the
//! host backend (`kernel/host/tests/host_ipc.rs`) and on any other implementation of the
//! trait; the QEMU demo `ping`/`pong` tasks speak the same protocol on the real kernel, and
//! the kernel core's host tests (`kernel/core/tests/ipc.rs`) cover the same cases.
//!
//! A test server runs [`serve`] (or [`serve_one`] in its own loop) on an endpoint; a client
//! calls the `check_*` functions against it. The protocol (tags in the test range 0x2000-0x20FF,
//! the credential encoding) is [`kernel_abi::demo`], shared with the QEMU demo tasks.

use kernel_abi::{Credentials, EndpointId, Errno, Kernel, MAX_PAYLOAD};

pub use kernel_abi::demo::{
    CREDENTIALS_SIZE, ECHO, WHOAMI, decode_credentials, encode_credentials,
};

/// Why a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A call or send failed with this error.
    Ipc(Errno),
    /// The reply's tag was not the request's response tag.
    WrongTag,
    /// The echoed bytes differ from the request.
    WrongEcho,
    /// The answer could not be decoded.
    BadAnswer,
    /// The server saw credentials other than the caller's own.
    WrongCredentials,
    /// A send past the queue's depth was accepted.
    QueuedPastDepth,
    /// A send past the queue's depth failed with another error than `QueueFull`.
    WrongError(Errno),
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ipc(e) => write!(f, "ipc failed: {e}"),
            Self::WrongTag => f.write_str("wrong reply tag"),
            Self::WrongEcho => f.write_str("wrong echo"),
            Self::BadAnswer => f.write_str("undecodable answer"),
            Self::WrongCredentials => f.write_str("server saw other credentials"),
            Self::QueuedPastDepth => f.write_str("send past the queue depth was queued"),
            Self::WrongError(e) => write!(f, "send past the queue depth failed with {e}"),
        }
    }
}

impl From<Errno> for Failure {
    fn from(e: Errno) -> Self {
        Self::Ipc(e)
    }
}

/// Receives one message on `endpoint` and answers it: [`ECHO`] with the payload, [`WHOAMI`]
/// with the sender's credentials, anything else with an empty response.
pub fn serve_one<K: Kernel + ?Sized>(
    k: &K,
    endpoint: EndpointId,
    buf: &mut [u8; MAX_PAYLOAD],
) -> Result<(), Errno> {
    let m = k.receive(endpoint, buf, true)?;
    let payload = buf.get(..m.len).unwrap_or(&[]);
    match m.tag {
        ECHO => k.reply(m.reply, ECHO.response(), payload),
        WHOAMI => k.reply(m.reply, WHOAMI.response(), &encode_credentials(&m.sender)),
        other => k.reply(m.reply, other.response(), &[]),
    }
}

/// Serves forever (errors are skipped).
pub fn serve<K: Kernel + ?Sized>(k: &K, endpoint: EndpointId) -> ! {
    let mut buf = [0u8; MAX_PAYLOAD];
    loop {
        let _ = serve_one(k, endpoint, &mut buf);
    }
}

/// Ping-pong: `rounds` echo calls with `request.len()` bytes of changing content; `reply` must
/// be at least as long as `request`.
pub fn check_ping_pong<K: Kernel + ?Sized>(
    k: &K,
    endpoint: EndpointId,
    rounds: u32,
    request: &mut [u8],
    reply: &mut [u8],
) -> Result<(), Failure> {
    for round in 0..rounds {
        for (i, b) in request.iter_mut().enumerate() {
            *b = (round as u8).wrapping_mul(31).wrapping_add(i as u8);
        }
        let (tag, n) = k.call(endpoint, ECHO, request, reply)?;
        if tag != ECHO.response() {
            return Err(Failure::WrongTag);
        }
        if reply.get(..n) != Some(&*request) {
            return Err(Failure::WrongEcho);
        }
    }
    Ok(())
}

/// Credentials: the payload claims to be the kernel; the server must see exactly `expected`
/// (the caller's own credentials, as the test knows them from the system description).
pub fn check_credentials<K: Kernel + ?Sized>(
    k: &K,
    endpoint: EndpointId,
    expected: &Credentials,
) -> Result<(), Failure> {
    let forged = encode_credentials(&Credentials::KERNEL);
    let mut reply = [0u8; CREDENTIALS_SIZE];
    let (tag, n) = k.call(endpoint, WHOAMI, &forged, &mut reply)?;
    if tag != WHOAMI.response() {
        return Err(Failure::WrongTag);
    }
    let seen =
        decode_credentials(reply.get(..n).ok_or(Failure::BadAnswer)?).ok_or(Failure::BadAnswer)?;
    if seen != *expected {
        return Err(Failure::WrongCredentials);
    }
    Ok(())
}

/// Full queue: `endpoint` has queue depth `depth` and a server that does not receive; `depth`
/// sends succeed, the next fails with [`Errno::QueueFull`].
pub fn check_full_queue<K: Kernel + ?Sized>(
    k: &K,
    endpoint: EndpointId,
    depth: usize,
) -> Result<(), Failure> {
    for _ in 0..depth {
        k.send(endpoint, ECHO, b"x")?;
    }
    match k.send(endpoint, ECHO, b"x") {
        Err(Errno::QueueFull) => Ok(()),
        Ok(()) => Err(Failure::QueuedPastDepth),
        Err(e) => Err(Failure::WrongError(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_abi::{ProcessClass, TaskId};

    #[test]
    fn credentials_encoding_round_trips() {
        let c = Credentials {
            task: TaskId {
                index: 3,
                generation: 2,
            },
            user: Some(kernel_abi::UserId::from_u128(42)),
            class: ProcessClass::Application,
        };
        assert_eq!(decode_credentials(&encode_credentials(&c)), Some(c));
        assert_eq!(decode_credentials(&[0u8; 23]), None);
        assert!(kernel_abi::message::ranges::TEST.contains(&ECHO.0));
        assert!(kernel_abi::message::ranges::TEST.contains(&WHOAMI.response().0));
    }
}
