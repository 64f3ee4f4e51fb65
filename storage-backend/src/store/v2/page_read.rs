//! The point-read fast path for index pages: a page whose sealed chunk starts and ends on block
//! boundaries (every page of the large profile, and of any profile whose page is a multiple of
//! the block size) is read straight into one reused buffer, its CRC checked, and its ciphertext
//! opened in place in the caller's page buffer (the pool slot).
//!
//! Why: at 10⁶ objects nearly every get reads a leaf, and the general record reader allocated a
//! zeroed window, a copy of the ciphertext and a plaintext buffer per read and copied the page
//! three times. What it guarantees is the general reader's: the chunk must be an authentic
//! continuation chunk opened with nonce `(seq, off)` and the page's AAD, the single chunk of its
//! record (offset 0, EOF) of exactly the page's sealed size — else `Integrity(Auth)` — and of
//! stream [`STREAM_INDEX`] with exactly the page's plaintext length — else `Integrity(Record)`.
//! A page that fails leaves garbage in `buf`, which the tree then discards.

use crate::block::BlockDevice;
use crate::chunk::codec::parse_chunk;
use crate::crypto::{CryptoEngine, TAG_LEN};
use crate::store::btree::PagePtr;
use crate::store::error::{IntegrityKind, Result, StoreError};
use crate::store::seal::{aad, nonce};

use super::medium::{Medium, STREAM_INDEX};

impl<D: BlockDevice, E: CryptoEngine> Medium<D, E> {
    /// Reads and opens the page at `ptr` into `buf` if its chunk is block-aligned; `Ok(false)`
    /// if it is not (the caller reads it through the general record reader).
    pub(super) fn read_page_direct(&mut self, ptr: PagePtr, buf: &mut [u8]) -> Result<bool> {
        let chunk = self.page_chunk();
        let bs = self.lay.bs;
        let off = ptr.off as usize;
        let fits = off
            .checked_add(chunk)
            .is_some_and(|end| end <= self.lay.seg_bytes());
        let aligned = bs != 0 && off.is_multiple_of(bs) && chunk.is_multiple_of(bs);
        if !aligned || !fits || ptr.seg >= self.lay.seg_count {
            return Ok(false);
        }
        let auth = || StoreError::integrity_at(IntegrityKind::Auth, ptr.seg, off);
        if self.page_io.len() != chunk {
            self.page_io.resize(chunk, 0);
        }
        let block = self.lay.seg_block(ptr.seg) + (off / bs) as u64;
        self.dev.read(block, &mut self.page_io)?;
        let raw = &self.page_io[..];
        let c = parse_chunk(raw).map_err(|_| auth())?;
        let (h, data) = c.continuation().map_err(|_| auth())?;
        if c.size() != chunk || h.offset != 0 || !h.eof || data.len() < TAG_LEN {
            return Err(auth());
        }
        let n = data.len() - TAG_LEN;
        if h.stream_id != STREAM_INDEX || n != buf.len() {
            return Err(StoreError::integrity_at(
                IntegrityKind::Record,
                ptr.seg,
                off,
            ));
        }
        buf.copy_from_slice(&data[..n]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&data[n..]);
        let a = aad(raw);
        let nn = nonce(ptr.seq, ptr.off);
        self.eng
            .open(self.key, &nn, &a, buf, &tag)
            .map_err(|_| auth())?;
        Ok(true)
    }
}
