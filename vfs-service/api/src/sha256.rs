//! SHA-256 for a client that checks a file end to end against the `sha256` that STAT and READ
//! report (the typed client itself no longer hashes what it reads: protocol 4, PROTOCOL.md
//! "Integrity, checked once"). It is RustCrypto's `sha2` (pure Rust, `no_std`), the same
//! implementation the server's engine uses, so the API crate carries no hash code of its own
//! and still no cipher or store dependency.

use sha2::Digest;

/// The SHA-256 digest of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::digest;

    fn hex(d: [u8; 32]) -> alloc::string::String {
        use core::fmt::Write;
        let mut s = alloc::string::String::new();
        for b in d {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    #[test]
    fn fips_180_examples() {
        assert_eq!(
            hex(digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn a_million_a() {
        let data = alloc::vec![b'a'; 1_000_000];
        assert_eq!(
            hex(digest(&data)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
