//! The AES-CTR seam that AES-256-GCM is built on, and its software implementation.
//!
//! A backend XORs data with the AES-CTR keystream `AES_K(c), AES_K(c+1), …` where the counter
//! block `c` is incremented as one 128-bit big-endian integer. That is what QEMU's builtin
//! cryptodev backend does (through nettle or libgcrypt); GCM increments only the low 32 bits
//! (`inc32`), and [`crate::gcm`] keeps every request inside one 2³² block window so both agree.

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

/// Bytes in an AES block.
pub const BLOCK_LEN: usize = 16;

/// One AES block.
pub type Block = [u8; BLOCK_LEN];

/// Adds `n` to a counter block read as a 128-bit big-endian integer (wrapping).
pub fn counter_add(counter: &Block, n: u128) -> Block {
    u128::from_be_bytes(*counter).wrapping_add(n).to_be_bytes()
}

/// AES in counter mode under one key the backend holds.
pub trait AesCtr {
    /// Why an operation failed.
    type Error;

    /// XORs `data` (any length) with the keystream starting at counter block `counter`.
    fn apply_keystream(&mut self, counter: &Block, data: &mut [u8]) -> Result<(), Self::Error>;

    /// `AES_K(block)`: the first keystream block for counter `block`.
    fn encrypt_block(&mut self, block: &Block) -> Result<Block, Self::Error> {
        let mut out = [0u8; BLOCK_LEN];
        self.apply_keystream(block, &mut out)?;
        Ok(out)
    }

    /// Returns `AES_K(counter)` and XORs `data` with the keystream starting at `counter + 1`.
    ///
    /// GCM needs both (the tag mask `AES_K(J0)` and the payload keystream from `J0 + 1`); a
    /// device backend overrides this to get both from one request.
    fn mask_and_apply(&mut self, counter: &Block, data: &mut [u8]) -> Result<Block, Self::Error> {
        let mask = self.encrypt_block(counter)?;
        if !data.is_empty() {
            self.apply_keystream(&counter_add(counter, 1), data)?;
        }
        Ok(mask)
    }
}

impl<T: AesCtr + ?Sized> AesCtr for &mut T {
    type Error = T::Error;
    fn apply_keystream(&mut self, counter: &Block, data: &mut [u8]) -> Result<(), Self::Error> {
        (**self).apply_keystream(counter, data)
    }
    fn encrypt_block(&mut self, block: &Block) -> Result<Block, Self::Error> {
        (**self).encrypt_block(block)
    }
    fn mask_and_apply(&mut self, counter: &Block, data: &mut [u8]) -> Result<Block, Self::Error> {
        (**self).mask_and_apply(counter, data)
    }
}

/// Software AES-256-CTR (the `aes` crate). Used by host tests, by the fake device, and as a
/// reference for the device path; its key schedule is wiped on drop.
pub struct SoftAes256Ctr {
    cipher: Aes256,
}

impl SoftAes256Ctr {
    /// A backend holding `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256::new(GenericArray::from_slice(key)),
        }
    }
}

impl core::fmt::Debug for SoftAes256Ctr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SoftAes256Ctr { .. }")
    }
}

impl AesCtr for SoftAes256Ctr {
    type Error = core::convert::Infallible;

    fn apply_keystream(&mut self, counter: &Block, data: &mut [u8]) -> Result<(), Self::Error> {
        let mut ctr = *counter;
        for chunk in data.chunks_mut(BLOCK_LEN) {
            let mut ks = GenericArray::clone_from_slice(&ctr);
            self.cipher.encrypt_block(&mut ks);
            for (d, k) in chunk.iter_mut().zip(ks.iter()) {
                *d ^= k;
            }
            ctr = counter_add(&ctr, 1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_add_carries_across_all_128_bits() {
        let mut c = [0u8; 16];
        c[12..].copy_from_slice(&[0xff; 4]);
        let n = counter_add(&c, 1);
        assert_eq!(n[11], 1);
        assert_eq!(&n[12..], &[0, 0, 0, 0]);
        assert_eq!(counter_add(&[0xff; 16], 1), [0; 16]);
    }

    #[test]
    fn fips197_aes256_block() {
        // FIPS-197 appendix C.3.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let pt: Block = core::array::from_fn(|i| (i as u8) * 0x11);
        let mut soft = SoftAes256Ctr::new(&key);
        let ct = soft.encrypt_block(&pt).unwrap();
        assert_eq!(
            ct,
            [
                0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49,
                0x60, 0x89
            ]
        );
    }
}
