//! A fake virtio-crypto device modelled on QEMU's `virtio-crypto` + `cryptodev-backend-builtin`:
//! one data queue, control queue at index 1, cipher sessions for AES-256 ECB/CBC/CTR (CTR with a
//! 128-bit big-endian counter and whole-block lengths), the builtin backend's advertised
//! configuration, and one-shot fault injection for the robustness tests.

use super::FakeDevice;
use crate::crypto::regs::{self, CipherAlgo, CryptoStatus, Services};
use aes::Aes256;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use alloc::collections::BTreeMap;
use virtio_drivers::transport::DeviceType;

/// A one-shot misbehaviour applied to the next reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeFault {
    /// Replace the reply's status with this raw value (a byte on the data queue and for
    /// destroy, a u32 for create).
    Status(u32),
    /// Report this used length instead of the real one.
    UsedLen(u32),
    /// Write nothing at all and report a used length of 0.
    Silent,
}

struct Session {
    algo: u32,
    op: u32,
    cipher: Aes256,
}

/// The fake device. Its fields are public so tests can reconfigure it between requests.
pub struct FakeCryptoDevice {
    config: [u8; 56],
    sessions: BTreeMap<u64, Session>,
    next_id: u64,
    /// Applied to the next reply, then cleared.
    pub fault: Option<FakeFault>,
    /// Session slots (QEMU's builtin backend has 256).
    pub max_sessions: usize,
    /// Requests that broke the spec (QEMU would mark the device broken); tests expect 0.
    pub violations: u64,
    /// Data requests served (per request, not per byte).
    pub data_requests: u64,
}

const CTRL_QUEUE: u16 = 1;
const REQ_LEN: usize = 72;

impl Default for FakeCryptoDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCryptoDevice {
    /// A device configured like QEMU's builtin backend.
    pub fn new() -> Self {
        let mut dev = Self {
            config: [0; 56],
            sessions: BTreeMap::new(),
            next_id: 0,
            fault: None,
            max_sessions: 256,
            violations: 0,
            data_requests: 0,
        };
        dev.set_u32(regs::offsets::STATUS, regs::STATUS_HW_READY);
        dev.set_u32(regs::offsets::MAX_DATAQUEUES, 1);
        dev.set_u32(
            regs::offsets::CRYPTO_SERVICES,
            (Services::CIPHER | Services::HASH | Services::MAC).bits(),
        );
        // QEMU's builtin backend advertises only AES-CBC, yet accepts ECB/CTR/XTS sessions.
        dev.set_u32(regs::offsets::CIPHER_ALGO_L, 1 << CipherAlgo::AesCbc as u32);
        dev.set_u32(regs::offsets::MAX_CIPHER_KEY_LEN, 64);
        dev.set_max_size(i64::MAX as u64 - 64);
        dev
    }

    /// Sets a 32-bit configuration field.
    pub fn set_u32(&mut self, offset: usize, value: u32) {
        self.config[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Sets `max_size`.
    pub fn set_max_size(&mut self, max_size: u64) {
        self.set_u32(regs::offsets::MAX_SIZE_LO, max_size as u32);
        self.set_u32(regs::offsets::MAX_SIZE_HI, (max_size >> 32) as u32);
    }

    fn max_size(&self) -> u64 {
        let lo = u32::from_le_bytes(self.config[48..52].try_into().unwrap_or([0; 4]));
        let hi = u32::from_le_bytes(self.config[52..56].try_into().unwrap_or([0; 4]));
        u64::from(lo) | u64::from(hi) << 32
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn serve_ctrl(&mut self, req: &[u8], out: &mut [u8]) -> u32 {
        if req.len() < REQ_LEN {
            self.violations += 1;
            return 0;
        }
        let opcode = le32(req, 0);
        if opcode == regs::OP_CIPHER_DESTROY_SESSION {
            let id = le64(req, 16);
            let status = if self.sessions.remove(&id).is_some() {
                CryptoStatus::Ok
            } else {
                // QEMU's builtin backend asserts here; the driver must never get this far.
                self.violations += 1;
                CryptoStatus::Err
            };
            if let Some(b) = out.first_mut() {
                *b = status.to_raw() as u8;
            }
            return 1;
        }
        let (id, status) = if opcode == regs::OP_CIPHER_CREATE_SESSION {
            self.create(req)
        } else {
            (0, CryptoStatus::NotSupported)
        };
        if out.len() >= 16 {
            out[..8].copy_from_slice(&id.to_le_bytes());
            out[8..12].copy_from_slice(&status.to_raw().to_le_bytes());
        }
        16
    }

    fn create(&mut self, req: &[u8]) -> (u64, CryptoStatus) {
        let (algo, key_len, op, op_type) =
            (le32(req, 16), le32(req, 20), le32(req, 24), le32(req, 64));
        let key = req.get(REQ_LEN..REQ_LEN + key_len as usize);
        let supported = [CipherAlgo::AesEcb, CipherAlgo::AesCbc, CipherAlgo::AesCtr]
            .iter()
            .any(|a| *a as u32 == algo);
        match key {
            Some(key)
                if op_type == regs::SYM_OP_CIPHER
                    && supported
                    && key.len() == 32
                    && (op == 1 || op == 2) =>
            {
                if self.sessions.len() >= self.max_sessions {
                    return (0, CryptoStatus::Err);
                }
                let id = self.next_id;
                self.next_id += 1;
                let cipher = Aes256::new(GenericArray::from_slice(key));
                self.sessions.insert(id, Session { algo, op, cipher });
                (id, CryptoStatus::Ok)
            }
            Some(_) => (0, CryptoStatus::Err),
            None => {
                self.violations += 1;
                (0, CryptoStatus::Err)
            }
        }
    }

    fn serve_data(&mut self, req: &[u8], out: &mut [u8]) -> (u32, CryptoStatus) {
        self.data_requests += 1;
        let used = out.len() as u32;
        if req.len() < REQ_LEN || out.is_empty() {
            self.violations += 1;
            return (used, CryptoStatus::Err);
        }
        let (id, iv_len, src_len, dst_len) =
            (le64(req, 8), le32(req, 24), le32(req, 28), le32(req, 32));
        let total = u64::from(iv_len) + u64::from(src_len) + u64::from(dst_len);
        let body = &req[REQ_LEN..];
        if total > self.max_size()
            || body.len() != (iv_len + src_len) as usize
            || out.len() != dst_len as usize + 1
        {
            // QEMU reports "too big length" / malformed requests by breaking the device.
            self.violations += 1;
            return (used, CryptoStatus::Err);
        }
        let Some(session) = self.sessions.get(&id) else {
            return (used, CryptoStatus::InvalidSession);
        };
        let (iv, src) = body.split_at(iv_len as usize);
        let dst = &mut out[..dst_len as usize];
        if src.len() != dst.len() || !src.len().is_multiple_of(16) {
            return (used, CryptoStatus::Err);
        }
        dst.copy_from_slice(src);
        let enc = session.op == 1;
        let ok = match session.algo {
            a if a == CipherAlgo::AesEcb as u32 => {
                for b in dst.chunks_mut(16) {
                    let block = GenericArray::from_mut_slice(b);
                    if enc {
                        session.cipher.encrypt_block(block)
                    } else {
                        session.cipher.decrypt_block(block)
                    }
                }
                true
            }
            a if a == CipherAlgo::AesCbc as u32 && iv.len() == 16 => {
                let mut chain = [0u8; 16];
                chain.copy_from_slice(iv);
                for b in dst.chunks_mut(16) {
                    if enc {
                        b.iter_mut().zip(&chain).for_each(|(x, c)| *x ^= c);
                        session
                            .cipher
                            .encrypt_block(GenericArray::from_mut_slice(b));
                        chain.copy_from_slice(b);
                    } else {
                        let mut ct = [0u8; 16];
                        ct.copy_from_slice(b);
                        session
                            .cipher
                            .decrypt_block(GenericArray::from_mut_slice(b));
                        b.iter_mut().zip(&chain).for_each(|(x, c)| *x ^= c);
                        chain = ct;
                    }
                }
                true
            }
            a if a == CipherAlgo::AesCtr as u32 && iv.len() == 16 => {
                let mut ctr = u128::from_be_bytes(iv.try_into().unwrap_or([0; 16]));
                for b in dst.chunks_mut(16) {
                    let mut ks = GenericArray::from(ctr.to_be_bytes());
                    session.cipher.encrypt_block(&mut ks);
                    b.iter_mut().zip(ks.iter()).for_each(|(x, k)| *x ^= k);
                    ctr = ctr.wrapping_add(1);
                }
                true
            }
            _ => false,
        };
        if ok {
            (used, CryptoStatus::Ok)
        } else {
            (used, CryptoStatus::Err)
        }
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

impl FakeDevice for FakeCryptoDevice {
    fn device_type(&self) -> DeviceType {
        DeviceType::Crypto
    }
    fn features(&self) -> u64 {
        // VERSION_1 plus REVISION_1 and CIPHER_STATELESS_MODE, which the driver must decline.
        (1 << 32) | 0b11
    }
    fn config_space(&self) -> &[u8] {
        &self.config
    }
    fn queue_count(&self) -> u16 {
        2
    }
    fn serve(&mut self, queue: u16, readable: &[u8], writable: &mut [u8]) -> u32 {
        let fault = self.fault.take();
        if fault == Some(FakeFault::Silent) {
            return 0;
        }
        let mut used = if queue == CTRL_QUEUE {
            self.serve_ctrl(readable, writable)
        } else {
            let (used, status) = self.serve_data(readable, writable);
            if let Some(last) = writable.last_mut() {
                *last = status.to_raw() as u8;
            }
            used
        };
        match fault {
            Some(FakeFault::Status(v)) => {
                if queue != CTRL_QUEUE || writable.len() == 1 {
                    if let Some(last) = writable.last_mut() {
                        *last = v as u8;
                    }
                } else if writable.len() >= 12 {
                    writable[8..12].copy_from_slice(&v.to_le_bytes());
                }
            }
            Some(FakeFault::UsedLen(v)) => used = v,
            _ => {}
        }
        used
    }
}
