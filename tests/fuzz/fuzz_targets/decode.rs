//! The message decoder: any tag and payload decodes to a request or a protocol error, never a
//! panic; what decodes re-encodes to a payload that decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfs_service::protocol::codec::{decode_protocol_error, decode_request, encode_request};
use vfs_service::protocol::tags;
use zos_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let selector = b.u8();
    let tag = if selector == 0xFF {
        b.u32()
    } else {
        tags::ALL_REQUESTS[usize::from(selector) % tags::ALL_REQUESTS.len()]
    };
    let payload = b.0;
    if let Ok(request) = decode_request(tag, payload) {
        let (tag2, bytes) = encode_request(&request).expect("a decoded request re-encodes");
        assert_eq!(tag2, tag);
        assert_eq!(decode_request(tag2, &bytes), Ok(request));
    }
    let _ = decode_protocol_error(payload);
});
