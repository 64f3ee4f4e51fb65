//! The kernel-conformance and demo protocol: the tags and the credential encoding that the
//! QEMU demo tasks (`tasks/demo`: `ping`, `pong`) and the host backend's conformance checks
//! (`kernel_host::conformance`) both speak. Its tags are in the test range
//! ([`crate::message::ranges::TEST`], 0x2000-0x20FF).

use crate::{Credentials, Tag};

/// Echo the payload back (response: the same bytes, tag + 1).
pub const ECHO: Tag = Tag(0x2000);
/// Answer with the caller's credentials as the kernel stamped them ([`encode_credentials`]).
pub const WHOAMI: Tag = Tag(0x2002);

/// The size of encoded credentials.
pub const CREDENTIALS_SIZE: usize = 24;

/// Encodes credentials for the [`WHOAMI`] answer: their three register words, little-endian.
pub fn encode_credentials(c: &Credentials) -> [u8; CREDENTIALS_SIZE] {
    let mut out = [0u8; CREDENTIALS_SIZE];
    for (chunk, word) in out.chunks_exact_mut(8).zip(c.to_regs()) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Decodes [`encode_credentials`]; `None` for anything else (including a slice of another
/// length).
pub fn decode_credentials(b: &[u8]) -> Option<Credentials> {
    let b: &[u8; CREDENTIALS_SIZE] = b.try_into().ok()?;
    let mut regs = [0u64; 3];
    for (reg, chunk) in regs.iter_mut().zip(b.chunks_exact(8)) {
        *reg = u64::from_le_bytes(chunk.try_into().ok()?);
    }
    Credentials::from_regs(regs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ranges::TEST;
    use crate::{ProcessClass, TaskId, UserId};

    #[test]
    fn credentials_encoding_round_trips() {
        let c = Credentials {
            task: TaskId {
                index: 3,
                generation: 2,
            },
            user: Some(UserId::from_u128(42)),
            class: ProcessClass::Application,
        };
        assert_eq!(decode_credentials(&encode_credentials(&c)), Some(c));
        assert_eq!(decode_credentials(&[0u8; 23]), None);
        assert_eq!(decode_credentials(&[0u8; 25]), None);
    }

    #[test]
    fn tags_are_requests_in_the_test_range() {
        for tag in [ECHO, WHOAMI] {
            assert!(tag.is_request());
            assert!(TEST.contains(&tag.0));
            assert!(TEST.contains(&tag.response().0));
        }
    }
}
