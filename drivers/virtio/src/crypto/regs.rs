//! Numbers and the configuration layout of the virtio-crypto device (virtio 1.2 §5.9).
//!
//! Everything the device reports is parsed here once into checked types ([`DeviceConfig`],
//! [`CryptoStatus`]); code past this module does not look at raw device values.

use bitflags::bitflags;
use core::mem::offset_of;

/// The virtio device ID of a crypto device (§5.9.1), as kernel-abi defines it.
pub const DEVICE_ID: u32 = kernel_abi::device::virtio::id::CRYPTO;

bitflags! {
    /// Feature bits (§5.9.3 and §6 reserved bits). The driver accepts only `VERSION_1`: it uses
    /// the original fixed-size request layouts (no `REVISION_1`), session mode only (no
    /// stateless modes), direct descriptors and no event index.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct CryptoFeatures: u64 {
        /// §5.9.3 VIRTIO_CRYPTO_F_REVISION_1: variable-length op-specific headers.
        const REVISION_1 = 1 << 0;
        /// §5.9.3 VIRTIO_CRYPTO_F_CIPHER_STATELESS_MODE.
        const CIPHER_STATELESS_MODE = 1 << 1;
        /// §5.9.3 VIRTIO_CRYPTO_F_HASH_STATELESS_MODE.
        const HASH_STATELESS_MODE = 1 << 2;
        /// §5.9.3 VIRTIO_CRYPTO_F_MAC_STATELESS_MODE.
        const MAC_STATELESS_MODE = 1 << 3;
        /// §5.9.3 VIRTIO_CRYPTO_F_AEAD_STATELESS_MODE.
        const AEAD_STATELESS_MODE = 1 << 4;
        /// §5.9.3 VIRTIO_CRYPTO_F_AKCIPHER_STATELESS_MODE.
        const AKCIPHER_STATELESS_MODE = 1 << 5;
        /// §6.3 VIRTIO_F_INDIRECT_DESC.
        const RING_INDIRECT_DESC = 1 << 28;
        /// §6.3 VIRTIO_F_EVENT_IDX.
        const RING_EVENT_IDX = 1 << 29;
        /// §6.3 VIRTIO_F_VERSION_1: a driver must accept it when offered.
        const VERSION_1 = 1 << 32;
    }
}

/// The features this driver accepts.
pub const SUPPORTED_FEATURES: CryptoFeatures = CryptoFeatures::VERSION_1;

bitflags! {
    /// §5.9.5 `crypto_services`: the service bits (`1 << VIRTIO_CRYPTO_SERVICE_*`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Services: u32 {
        /// VIRTIO_CRYPTO_SERVICE_CIPHER (0).
        const CIPHER = 1 << 0;
        /// VIRTIO_CRYPTO_SERVICE_HASH (1).
        const HASH = 1 << 1;
        /// VIRTIO_CRYPTO_SERVICE_MAC (2).
        const MAC = 1 << 2;
        /// VIRTIO_CRYPTO_SERVICE_AEAD (3).
        const AEAD = 1 << 3;
        /// VIRTIO_CRYPTO_SERVICE_AKCIPHER (4).
        const AKCIPHER = 1 << 4;
    }
}

/// §5.9.5 `status` bit VIRTIO_CRYPTO_S_HW_READY.
pub const STATUS_HW_READY: u32 = 1 << 0;

/// §5.9.4 `struct virtio_crypto_config`, used for its field offsets only. The 64-bit `max_size`
/// is read as two 32-bit halves: transports only guarantee 32-bit config accesses.
#[repr(C)]
pub struct ConfigLayout {
    /// Device status bits (`STATUS_HW_READY`).
    pub status: u32,
    /// Number of data queues (the control queue comes after them).
    pub max_dataqueues: u32,
    /// Offered services ([`Services`]).
    pub crypto_services: u32,
    /// Cipher algorithms 0..31 (`1 << VIRTIO_CRYPTO_CIPHER_*`).
    pub cipher_algo_l: u32,
    /// Cipher algorithms 32..63.
    pub cipher_algo_h: u32,
    /// Hash algorithms.
    pub hash_algo: u32,
    /// MAC algorithms 0..31.
    pub mac_algo_l: u32,
    /// MAC algorithms 32..63.
    pub mac_algo_h: u32,
    /// AEAD algorithms.
    pub aead_algo: u32,
    /// Longest cipher key, bytes.
    pub max_cipher_key_len: u32,
    /// Longest authentication key, bytes.
    pub max_auth_key_len: u32,
    /// Asymmetric cipher algorithms (reserved before virtio 1.2).
    pub akcipher_algo: u32,
    /// Largest request content (iv + src + dst …), bytes; low half.
    pub max_size_lo: u32,
    /// High half of `max_size`.
    pub max_size_hi: u32,
}

/// Byte offsets of the configuration fields.
pub mod offsets {
    use super::{ConfigLayout, offset_of};
    /// `status`.
    pub const STATUS: usize = offset_of!(ConfigLayout, status);
    /// `max_dataqueues`.
    pub const MAX_DATAQUEUES: usize = offset_of!(ConfigLayout, max_dataqueues);
    /// `crypto_services`.
    pub const CRYPTO_SERVICES: usize = offset_of!(ConfigLayout, crypto_services);
    /// `cipher_algo_l`.
    pub const CIPHER_ALGO_L: usize = offset_of!(ConfigLayout, cipher_algo_l);
    /// `cipher_algo_h`.
    pub const CIPHER_ALGO_H: usize = offset_of!(ConfigLayout, cipher_algo_h);
    /// `max_cipher_key_len`.
    pub const MAX_CIPHER_KEY_LEN: usize = offset_of!(ConfigLayout, max_cipher_key_len);
    /// `max_size` low half.
    pub const MAX_SIZE_LO: usize = offset_of!(ConfigLayout, max_size_lo);
    /// `max_size` high half.
    pub const MAX_SIZE_HI: usize = offset_of!(ConfigLayout, max_size_hi);
}

const _: () = assert!(offsets::MAX_CIPHER_KEY_LEN == 36);
const _: () = assert!(offsets::MAX_SIZE_LO == 48);
const _: () = assert!(core::mem::size_of::<ConfigLayout>() == 56);

/// The configuration as read from the device, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// `STATUS_HW_READY` was set.
    pub hw_ready: bool,
    /// Number of data queues; the control queue's index.
    pub max_dataqueues: u32,
    /// Offered services.
    pub services: Services,
    /// Offered cipher algorithms, bit `n` = `VIRTIO_CRYPTO_CIPHER` number `n`. Advisory only:
    /// QEMU's builtin backend advertises only AES-CBC but accepts ECB, CTR and XTS sessions.
    pub cipher_algos: u64,
    /// Longest cipher key, bytes.
    pub max_cipher_key_len: u32,
    /// Largest request content, bytes.
    pub max_size: u64,
}

/// §5.9.7.2.1 cipher algorithms (`VIRTIO_CRYPTO_CIPHER_*`), the AES subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CipherAlgo {
    /// VIRTIO_CRYPTO_CIPHER_AES_ECB.
    AesEcb = 2,
    /// VIRTIO_CRYPTO_CIPHER_AES_CBC.
    AesCbc = 3,
    /// VIRTIO_CRYPTO_CIPHER_AES_CTR: 128-bit big-endian counter in the 16-byte IV.
    AesCtr = 4,
    /// VIRTIO_CRYPTO_CIPHER_AES_XTS.
    AesXts = 13,
}

/// §5.9.7.2.1 `VIRTIO_CRYPTO_OP_*`: the direction a cipher session is created for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CipherOp {
    /// VIRTIO_CRYPTO_OP_ENCRYPT.
    Encrypt = 1,
    /// VIRTIO_CRYPTO_OP_DECRYPT.
    Decrypt = 2,
}

/// §5.9.7.2.1 `VIRTIO_CRYPTO_SYM_OP_CIPHER`: a plain cipher (no algorithm chaining).
pub const SYM_OP_CIPHER: u32 = 1;

/// §5.9.7.1 `VIRTIO_CRYPTO_OPCODE(service, op)`.
const fn opcode(service: u32, op: u32) -> u32 {
    (service << 8) | op
}
/// VIRTIO_CRYPTO_SERVICE_CIPHER.
const SERVICE_CIPHER: u32 = 0;
/// §5.9.7.4 VIRTIO_CRYPTO_CIPHER_ENCRYPT.
pub const OP_CIPHER_ENCRYPT: u32 = opcode(SERVICE_CIPHER, 0x00);
/// §5.9.7.4 VIRTIO_CRYPTO_CIPHER_DECRYPT.
pub const OP_CIPHER_DECRYPT: u32 = opcode(SERVICE_CIPHER, 0x01);
/// §5.9.7.2 VIRTIO_CRYPTO_CIPHER_CREATE_SESSION.
pub const OP_CIPHER_CREATE_SESSION: u32 = opcode(SERVICE_CIPHER, 0x02);
/// §5.9.7.2 VIRTIO_CRYPTO_CIPHER_DESTROY_SESSION.
pub const OP_CIPHER_DESTROY_SESSION: u32 = opcode(SERVICE_CIPHER, 0x03);

/// §5.9.7.1 request status (`VIRTIO_CRYPTO_*`), as the device reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoStatus {
    /// VIRTIO_CRYPTO_OK.
    Ok,
    /// VIRTIO_CRYPTO_ERR: any failure not covered below.
    Err,
    /// VIRTIO_CRYPTO_BADMSG: authentication failed (AEAD only).
    BadMsg,
    /// VIRTIO_CRYPTO_NOTSUPP: operation or algorithm not supported.
    NotSupported,
    /// VIRTIO_CRYPTO_INVSESS: invalid session id.
    InvalidSession,
    /// VIRTIO_CRYPTO_NOSPC: no free session id.
    NoSpace,
    /// VIRTIO_CRYPTO_KEY_REJECTED: signature verification failed (akcipher only).
    KeyRejected,
}

impl CryptoStatus {
    /// Parses a status value; `None` for a value the spec does not define.
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            0 => Self::Ok,
            1 => Self::Err,
            2 => Self::BadMsg,
            3 => Self::NotSupported,
            4 => Self::InvalidSession,
            5 => Self::NoSpace,
            6 => Self::KeyRejected,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn to_raw(self) -> u32 {
        match self {
            Self::Ok => 0,
            Self::Err => 1,
            Self::BadMsg => 2,
            Self::NotSupported => 3,
            Self::InvalidSession => 4,
            Self::NoSpace => 5,
            Self::KeyRejected => 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        for raw in 0..=6 {
            assert_eq!(
                CryptoStatus::from_raw(raw).map(CryptoStatus::to_raw),
                Some(raw)
            );
        }
        assert_eq!(CryptoStatus::from_raw(7), None);
        assert_eq!(CryptoStatus::from_raw(u32::MAX), None);
    }

    #[test]
    fn opcodes_match_the_spec() {
        assert_eq!(OP_CIPHER_ENCRYPT, 0x0000);
        assert_eq!(OP_CIPHER_DECRYPT, 0x0001);
        assert_eq!(OP_CIPHER_CREATE_SESSION, 0x0002);
        assert_eq!(OP_CIPHER_DESTROY_SESSION, 0x0003);
    }

    /// The transport's device types (from virtio-drivers) are the numbers kernel-abi defines.
    #[test]
    fn device_types_match_the_contract() {
        use kernel_abi::device::virtio::id;
        use virtio_drivers::transport::DeviceType;
        assert_eq!(
            DeviceType::try_from(DEVICE_ID).ok(),
            Some(DeviceType::Crypto)
        );
        assert_eq!(
            DeviceType::try_from(id::BLOCK).ok(),
            Some(DeviceType::Block)
        );
        assert_eq!(
            DeviceType::try_from(id::ENTROPY).ok(),
            Some(DeviceType::EntropySource)
        );
    }
}
