//! Cipher sessions: what the device created for us, and the AES-CTR backend over one.

use super::regs::{CipherAlgo, CipherOp};
use super::{CryptoError, VirtioCrypto};
use crate::ctr::{AesCtr, BLOCK_LEN, Block, counter_add};
use virtio_drivers::Hal;
use virtio_drivers::transport::Transport;

/// A live cipher session on the device (§5.9.7.2). It is not `Clone`: destroying it
/// ([`VirtioCrypto::destroy_session`]) consumes it, so a destroyed id is never used again.
#[derive(Debug, PartialEq, Eq)]
pub struct CipherSession {
    pub(super) id: u64,
    pub(super) algo: CipherAlgo,
    pub(super) op: CipherOp,
}

impl CipherSession {
    /// The device's session id.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The session's algorithm.
    pub fn algo(&self) -> CipherAlgo {
        self.algo
    }
    /// The session's direction.
    pub fn op(&self) -> CipherOp {
        self.op
    }
}

/// AES-CTR over a device session ([`CipherAlgo::AesCtr`], [`CipherOp::Encrypt`]): the backend
/// [`crate::gcm`] runs on. Payloads longer than one request are split at multiples of 16 bytes
/// and the counter is advanced by the blocks already done, so a split is invisible in the output.
pub struct SessionCtr<'a, H: Hal, T: Transport> {
    dev: &'a mut VirtioCrypto<H, T>,
    session: &'a CipherSession,
}

impl<'a, H: Hal, T: Transport> SessionCtr<'a, H, T> {
    /// Wraps `session`, which must be an AES-CTR encrypt session of `dev`.
    pub fn new(
        dev: &'a mut VirtioCrypto<H, T>,
        session: &'a CipherSession,
    ) -> Result<Self, CryptoError> {
        if session.algo != CipherAlgo::AesCtr || session.op != CipherOp::Encrypt {
            return Err(CryptoError::WrongSession);
        }
        Ok(Self { dev, session })
    }
}

impl<H: Hal, T: Transport> AesCtr for SessionCtr<'_, H, T> {
    type Error = CryptoError;

    fn apply_keystream(&mut self, counter: &Block, data: &mut [u8]) -> Result<(), CryptoError> {
        let step = self.dev.max_data_len();
        let mut ctr = *counter;
        for chunk in data.chunks_mut(step) {
            let len = self.dev.run_bounced(self.session, &ctr, &mut [], chunk)?;
            ctr = counter_add(&ctr, (len / BLOCK_LEN) as u128);
        }
        Ok(())
    }

    fn mask_and_apply(&mut self, counter: &Block, data: &mut [u8]) -> Result<Block, CryptoError> {
        // One request carries a zero block (whose output is AES_K(counter)) and then as much of
        // the payload as fits; the rest continues at counter + 1 + blocks done.
        let first = data.len().min(self.dev.max_data_len() - BLOCK_LEN);
        let (head, tail) = data.split_at_mut(first);
        let mut mask = [0u8; BLOCK_LEN];
        let len = self
            .dev
            .run_bounced(self.session, counter, &mut mask, head)?;
        if !tail.is_empty() {
            // `first` is a multiple of 16 whenever a tail remains (max_data_len is).
            self.apply_keystream(&counter_add(counter, (len / BLOCK_LEN) as u128), tail)?;
        }
        Ok(mask)
    }
}
