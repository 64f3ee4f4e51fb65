//! Message tags. Requests are even; the response to a request carries the request's tag with
//! its low bit set ([`response`]: request + 1). The request tags themselves are declared once,
//! in the request table ([`super::table`]).
//!
//! 0x8000-0x8033 are the Zero OS filesystem document's messages; the extras live in the unused
//! parts of 0x80xx and the streaming file API on handles in 0x8040-0x805F.

/// A tag as carried in a message.
pub type RawTag = u32;

pub use super::table::consts::*;
pub use super::table::{ALL_REQUESTS, REQUESTS};

/// Reply to a request that could not be decoded (odd: it is a response).
pub const PROTOCOL_ERROR: RawTag = *RANGE.end();

/// The VFS's tag range, `0x8000..=0x80FF`, as `kernel-abi` assigns it.
pub const RANGE: core::ops::RangeInclusive<RawTag> = kernel_abi::message::ranges::VFS;

/// The first tag of the range.
pub const BASE: RawTag = *RANGE.start();

/// The response tag of a request tag: the request's tag with its low bit set, the one rule of
/// `kernel-abi` ([`kernel_abi::Tag::response`]). Request tags are even, so this is also
/// request + 1; a response tag maps to itself.
pub const fn response(request: RawTag) -> RawTag {
    kernel_abi::Tag(request).response().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_even_distinct_and_in_the_vfs_range() {
        for (i, t) in ALL_REQUESTS.iter().enumerate() {
            assert_eq!(t % 2, 0);
            assert!(RANGE.contains(t));
            assert!(!ALL_REQUESTS[i + 1..].contains(t));
            assert_eq!(REQUESTS[i].1, *t);
            assert_ne!(response(*t), PROTOCOL_ERROR);
        }
        assert_eq!(BASE, 0x8000);
        assert_eq!(response(response(STAT)), response(STAT));
        assert_eq!(response(STAT), 0x8021);
        assert_eq!(response(GET_QUOTA), 0x8033);
        for t in [
            OPEN,
            HANDLE_READ,
            HANDLE_WRITE,
            SEEK,
            TRUNCATE,
            FLUSH,
            CLOSE,
            HANDLE_STAT,
            DISCARD,
        ] {
            assert!((0x8040..=0x805F).contains(&t));
        }
    }
}
