//! Wire layouts of the control-queue and data-queue requests (virtio 1.2 §5.9.7), without
//! `VIRTIO_CRYPTO_F_REVISION_1`: the op-specific part of a control request is 56 bytes and that
//! of a data request 48 bytes. All fields are little-endian and the structs have no padding
//! the compiler could add (every field has alignment 1), checked by the size assertions below.

use super::regs::{CipherAlgo, CipherOp, OP_CIPHER_CREATE_SESSION, OP_CIPHER_DESTROY_SESSION};
use super::regs::{OP_CIPHER_ENCRYPT, SYM_OP_CIPHER};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// §5.9.7.1 `struct virtio_crypto_ctrl_header`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CtrlHeader {
    /// `VIRTIO_CRYPTO_*_CREATE_SESSION` / `_DESTROY_SESSION`.
    pub opcode: U32,
    /// The algorithm (informational for cipher sessions).
    pub algo: U32,
    /// Unused, zero.
    pub flag: U32,
    /// Queue the session belongs to (zero: sessions are device-wide in QEMU).
    pub queue_id: U32,
}

/// §5.9.7.2.1 cipher session creation: header, `virtio_crypto_sym_create_session_flf` with a
/// `virtio_crypto_cipher_session_flf` inside (padded to 48 bytes), `op_type`, padding. The key
/// follows in its own device-readable buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CreateCipherSession {
    /// Control header with `VIRTIO_CRYPTO_CIPHER_CREATE_SESSION`.
    pub header: CtrlHeader,
    /// `VIRTIO_CRYPTO_CIPHER_*`.
    pub algo: U32,
    /// Key length in bytes.
    pub key_len: U32,
    /// `VIRTIO_CRYPTO_OP_ENCRYPT` or `_DECRYPT`.
    pub op: U32,
    /// Zero.
    pub padding0: U32,
    /// Zero: pads the cipher parameters to the 48-byte union.
    pub padding1: [u8; 32],
    /// `VIRTIO_CRYPTO_SYM_OP_CIPHER`.
    pub op_type: U32,
    /// Zero.
    pub padding2: U32,
}

impl CreateCipherSession {
    /// A request for a session of `algo` in direction `op` with a `key_len`-byte key.
    pub fn new(algo: CipherAlgo, op: CipherOp, key_len: u32) -> Self {
        Self {
            header: CtrlHeader {
                opcode: OP_CIPHER_CREATE_SESSION.into(),
                algo: (algo as u32).into(),
                flag: 0.into(),
                queue_id: 0.into(),
            },
            algo: (algo as u32).into(),
            key_len: key_len.into(),
            op: (op as u32).into(),
            padding0: 0.into(),
            padding1: [0; 32],
            op_type: SYM_OP_CIPHER.into(),
            padding2: 0.into(),
        }
    }
}

/// §5.9.7.2.1 `struct virtio_crypto_create_session_input`: written by the device.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SessionInput {
    /// The new session's id (valid only when `status` is OK).
    pub session_id: U64,
    /// `VIRTIO_CRYPTO_*` status.
    pub status: U32,
    /// Unused.
    pub padding: U32,
}

impl SessionInput {
    /// The value placed in the buffer before the device writes it: a status no device sends, so
    /// a device that writes nothing is not mistaken for success.
    pub fn unwritten() -> Self {
        Self {
            session_id: 0.into(),
            status: u32::MAX.into(),
            padding: 0.into(),
        }
    }
}

/// §5.9.7.2.2 session destruction: header and `virtio_crypto_destroy_session_flf` (session id,
/// padded to 56 bytes). The device answers with one status byte.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DestroySession {
    /// Control header with `VIRTIO_CRYPTO_CIPHER_DESTROY_SESSION`.
    pub header: CtrlHeader,
    /// The session to destroy.
    pub session_id: U64,
    /// Zero.
    pub padding: [u8; 48],
}

impl DestroySession {
    /// A request to destroy cipher session `session_id`.
    pub fn new(session_id: u64) -> Self {
        Self {
            header: CtrlHeader {
                opcode: OP_CIPHER_DESTROY_SESSION.into(),
                algo: 0.into(),
                flag: 0.into(),
                queue_id: 0.into(),
            },
            session_id: session_id.into(),
            padding: [0; 48],
        }
    }
}

/// §5.9.7.4 a cipher data request: `virtio_crypto_op_header` (24 bytes) then
/// `virtio_crypto_sym_data_flf` holding `virtio_crypto_cipher_data_flf` (48 bytes). Then come,
/// device-readable, the IV and the source; device-writable, the destination and one status byte.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CipherDataRequest {
    /// `VIRTIO_CRYPTO_CIPHER_ENCRYPT` / `_DECRYPT` (QEMU uses the session's direction).
    pub opcode: U32,
    /// `VIRTIO_CRYPTO_CIPHER_*`.
    pub algo: U32,
    /// Session the request runs in.
    pub session_id: U64,
    /// Zero (session mode).
    pub flag: U32,
    /// Zero.
    pub padding0: U32,
    /// IV length in bytes.
    pub iv_len: U32,
    /// Source length in bytes.
    pub src_data_len: U32,
    /// Destination length in bytes.
    pub dst_data_len: U32,
    /// Zero.
    pub padding1: U32,
    /// Zero: pads the cipher parameters to the 40-byte union.
    pub padding2: [u8; 24],
    /// `VIRTIO_CRYPTO_SYM_OP_CIPHER`.
    pub op_type: U32,
    /// Zero.
    pub padding3: U32,
}

impl CipherDataRequest {
    /// A request in session `session_id` of `algo` with the given lengths.
    pub fn new(session_id: u64, algo: CipherAlgo, op: CipherOp, iv_len: u32, len: u32) -> Self {
        let opcode = match op {
            CipherOp::Encrypt => OP_CIPHER_ENCRYPT,
            CipherOp::Decrypt => super::regs::OP_CIPHER_DECRYPT,
        };
        Self {
            opcode: opcode.into(),
            algo: (algo as u32).into(),
            session_id: session_id.into(),
            flag: 0.into(),
            padding0: 0.into(),
            iv_len: iv_len.into(),
            src_data_len: len.into(),
            dst_data_len: len.into(),
            padding1: 0.into(),
            padding2: [0; 24],
            op_type: SYM_OP_CIPHER.into(),
            padding3: 0.into(),
        }
    }
}

/// The status byte ending every data request (§5.9.7.4 `virtio_crypto_inhdr`) and the reply to
/// a destroy-session request. Starts at a value no device sends.
pub const UNWRITTEN_STATUS: u8 = 0xff;

const _: () = assert!(core::mem::size_of::<CtrlHeader>() == 16);
const _: () = assert!(core::mem::size_of::<CreateCipherSession>() == 16 + 56);
const _: () = assert!(core::mem::size_of::<SessionInput>() == 16);
const _: () = assert!(core::mem::size_of::<DestroySession>() == 16 + 56);
const _: () = assert!(core::mem::size_of::<CipherDataRequest>() == 24 + 48);
const _: () = assert!(core::mem::offset_of!(CipherDataRequest, iv_len) == 24);
const _: () = assert!(core::mem::offset_of!(CipherDataRequest, op_type) == 24 + 40);
const _: () = assert!(core::mem::offset_of!(CreateCipherSession, op_type) == 16 + 48);
