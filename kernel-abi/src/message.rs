//! Messages: a 32-bit tag and at most [`MAX_PAYLOAD`] bytes of payload.
//!
//! Requests use even tags and the response to a request carries the request's tag + 1. Tag
//! ranges belong to services: 0x1000-0x100F init, 0x2000-0x20FF kernel conformance tests
//! and demo tasks ([`crate::demo`]),
//! 0x8000-0x80FF the VFS.

use serde::{Deserialize, Serialize};

/// The largest payload a message can carry, in bytes.
pub const MAX_PAYLOAD: usize = 4096;

/// A message tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag(pub u32);

impl Tag {
    /// The tag of the response to this request (request + 1; a response tag maps to itself).
    pub const fn response(self) -> Tag {
        Tag(self.0 | 1)
    }

    /// Whether this is a request tag (even).
    pub const fn is_request(self) -> bool {
        self.0 & 1 == 0
    }
}

/// Tag ranges owned by services, inclusive.
pub mod ranges {
    use core::ops::RangeInclusive;

    /// Init's protocol: service registry and fault reports (see [`crate::init_proto`]).
    pub const INIT: RangeInclusive<u32> = 0x1000..=0x100F;
    /// Kernel conformance and demo tasks (the conformance checks of `kernel-host`).
    pub const TEST: RangeInclusive<u32> = 0x2000..=0x20FF;
    /// The VFS service.
    pub const VFS: RangeInclusive<u32> = 0x8000..=0x80FF;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_request_plus_one() {
        assert_eq!(Tag(0x8000).response(), Tag(0x8001));
        assert_eq!(Tag(0x8001).response(), Tag(0x8001));
        assert!(Tag(0x8000).is_request());
        assert!(!Tag(0x8001).is_request());
    }

    #[test]
    fn ranges_do_not_overlap() {
        assert!(ranges::INIT.end() < ranges::TEST.start());
        assert!(ranges::TEST.end() < ranges::VFS.start());
    }
}
