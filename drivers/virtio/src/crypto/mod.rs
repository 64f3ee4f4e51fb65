//! The virtio-crypto driver (virtio 1.2 §5.9), cipher service only.
//!
//! Queues: data queue 0 carries cipher requests; the control queue (index `max_dataqueues`,
//! §5.9.2) creates and destroys sessions. Every request waits for its completion before the
//! next one is posted, so one descriptor chain is in flight per queue. How it waits is the
//! driver's [`Waiter`] ([`Spin`] unless [`VirtioCrypto::set_waiter`] installs another, e.g. one
//! that blocks on the device's interrupt).
//!
//! DMA: keys and payloads go through driver-owned buffers allocated with [`Hal::dma_alloc`]
//! (a key page, a source and a destination bounce), request headers, IVs and status bytes are
//! small driver values; every buffer reaches the device through [`Hal::share`] with the
//! direction the spec gives it (device-readable headers, key, IV and source; device-writable
//! destination, session input and status). Values the device writes (status, session id, used
//! length) are parsed into [`CryptoStatus`] / [`CryptoError`] and never trusted otherwise.

mod dma;
pub mod regs;
pub mod request;
mod session;

pub use regs::{CipherAlgo, CipherOp, CryptoStatus, DeviceConfig, Services};
pub use session::{CipherSession, SessionCtr};

use crate::ctr::BLOCK_LEN;
use crate::wait::{self, Spin, Waiter};
use alloc::boxed::Box;
use dma::DmaBuf;
use regs::{CryptoFeatures, STATUS_HW_READY, SUPPORTED_FEATURES, offsets};
use request::UNWRITTEN_STATUS;
use request::{CipherDataRequest, CreateCipherSession, DestroySession, SessionInput};
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal};
use zerocopy::IntoBytes;
use zeroize::Zeroize;

/// Descriptors per queue. A request uses at most 5 (header, IV, source, destination, status).
pub const QUEUE_SIZE: usize = 8;
/// The data queue the driver uses (QEMU's builtin backend has exactly one).
pub const DATA_QUEUE: u16 = 0;
/// Default size of each bounce buffer: the largest source of one request.
pub const DEFAULT_BOUNCE_LEN: usize = 16 * 1024;
/// Smallest request the device must accept: IV + 32 bytes of source + 32 of destination.
const MIN_MAX_SIZE: u64 = (BLOCK_LEN + 2 * 2 * BLOCK_LEN) as u64;
/// Longest key this driver sends (AES-256-XTS).
pub const MAX_KEY_LEN: usize = 64;

/// Why a virtio-crypto operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// The transport or queue failed (DMA allocation, queue full, wrong token, …).
    Transport(virtio_drivers::Error),
    /// The transport is not a crypto device.
    NotCryptoDevice,
    /// The device does not report `VIRTIO_CRYPTO_S_HW_READY`.
    NotReady,
    /// The device does not offer the cipher service.
    NoCipherService,
    /// The device configuration is unusable (no data queue, too many queues, `max_size` or
    /// `max_cipher_key_len` too small).
    BadConfig,
    /// The key is empty or longer than the device or this driver accepts.
    KeyLength,
    /// The payload is empty, source and destination differ in length, or the length is not a
    /// whole number of AES blocks.
    BadLength,
    /// The request exceeds the device's `max_size` or the driver's bounce buffers.
    TooLarge,
    /// The session cannot serve this operation (for example GCM needs AES-CTR encrypt).
    WrongSession,
    /// The device answered with a defined, non-OK status.
    Status(CryptoStatus),
    /// The device answered with a status value the spec does not define.
    UnknownStatus(u32),
    /// The device reported writing fewer bytes than the reply needs.
    ShortReply {
        /// Bytes the device said it wrote.
        used: u32,
        /// Bytes the reply needs.
        expected: u32,
    },
}

impl From<virtio_drivers::Error> for CryptoError {
    fn from(e: virtio_drivers::Error) -> Self {
        Self::Transport(e)
    }
}

/// A virtio-crypto device driven over transport `T`, DMA through `H`.
pub struct VirtioCrypto<H: Hal, T: Transport> {
    transport: T,
    data: VirtQueue<H, QUEUE_SIZE>,
    ctrl: VirtQueue<H, QUEUE_SIZE>,
    ctrl_index: u16,
    config: DeviceConfig,
    /// Largest source length of one request: a multiple of 16, at least 32.
    max_data_len: usize,
    /// Device-readable bounce buffer (source), DMA memory.
    src: DmaBuf<H>,
    /// Device-writable bounce buffer (destination), DMA memory.
    dst: DmaBuf<H>,
    /// Device-readable page holding a key during a create-session request only.
    key: DmaBuf<H>,
    /// How to wait for a posted request (a trait object: one call per wait, next to a device
    /// round trip, and the driver's type stays the same whichever waiter the task uses).
    waiter: Box<dyn Waiter>,
}

impl<H: Hal, T: Transport> VirtioCrypto<H, T> {
    /// Initialises the device (§3.1.1) with [`DEFAULT_BOUNCE_LEN`]-byte bounce buffers.
    pub fn new(transport: T) -> Result<Self, CryptoError> {
        Self::with_bounce_len(transport, DEFAULT_BOUNCE_LEN)
    }

    /// Initialises the device with bounce buffers of `bounce_len` bytes (rounded down to whole
    /// AES blocks, at least 32): the largest payload one request carries.
    pub fn with_bounce_len(mut transport: T, bounce_len: usize) -> Result<Self, CryptoError> {
        if transport.device_type() != DeviceType::Crypto {
            return Err(CryptoError::NotCryptoDevice);
        }
        let _features: CryptoFeatures = transport.begin_init(SUPPORTED_FEATURES);
        match Parts::set_up(&mut transport, bounce_len) {
            Ok(p) => {
                transport.finish_init();
                Ok(Self {
                    transport,
                    data: p.data,
                    ctrl: p.ctrl,
                    ctrl_index: p.ctrl_index,
                    config: p.config,
                    max_data_len: p.max_data_len,
                    src: p.src,
                    dst: p.dst,
                    key: p.key,
                    waiter: Box::new(Spin),
                })
            }
            Err(e) => {
                // Detach any queue set up before the failure (its memory is already freed),
                // then tell the device the driver gave up on it (§3.1.1).
                transport.queue_unset(DATA_QUEUE);
                let ctrl = read_config(&transport)
                    .ok()
                    .and_then(|c| u16::try_from(c.max_dataqueues).ok());
                if let Some(ctrl) = ctrl {
                    transport.queue_unset(ctrl);
                }
                transport.set_status(DeviceStatus::FAILED);
                Err(e)
            }
        }
    }

    /// Waits for completions with `waiter` from now on (the default is [`Spin`]).
    pub fn set_waiter(&mut self, waiter: Box<dyn Waiter>) {
        self.waiter = waiter;
    }

    /// The configuration read at initialisation.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The transport (for diagnostics and for tests that reconfigure a fake device).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably (tests use it to inject faults into a fake device).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Largest source length of one data request, bytes (a multiple of 16).
    pub fn max_data_len(&self) -> usize {
        self.max_data_len
    }

    /// Creates a cipher session (§5.9.7.2.1). The key is copied into a driver-owned DMA page for
    /// the request and that page is wiped as soon as the device answered; the driver keeps no
    /// copy (the caller wipes its own).
    pub fn create_session(
        &mut self,
        algo: CipherAlgo,
        op: CipherOp,
        key: &[u8],
    ) -> Result<CipherSession, CryptoError> {
        if key.is_empty()
            || key.len() > MAX_KEY_LEN
            || key.len() > self.config.max_cipher_key_len as usize
        {
            return Err(CryptoError::KeyLength);
        }
        let req = CreateCipherSession::new(algo, op, key.len() as u32);
        let mut input = SessionInput::unwritten();
        self.key.as_mut_slice()[..key.len()].copy_from_slice(key);
        let used = wait::add_notify_wait_pop(
            &mut self.ctrl,
            self.ctrl_index,
            &mut self.transport,
            self.waiter.as_mut(),
            &[req.as_bytes(), &self.key.as_slice()[..key.len()]],
            &mut [input.as_mut_bytes()],
        );
        // The device has read the key (or failed): wipe the only copy the driver made.
        self.key.as_mut_slice()[..key.len()].zeroize();
        let used = used?;
        // Read the device-written reply once, into plain values.
        let status = input.status.get();
        let id = input.session_id.get();
        check_status(status)?;
        check_used(used, core::mem::size_of::<SessionInput>())?;
        Ok(CipherSession { id, algo, op })
    }

    /// Destroys a session (§5.9.7.2.2). The session is consumed even if the device reports an
    /// error: its id must not be used again either way.
    pub fn destroy_session(&mut self, session: CipherSession) -> Result<(), CryptoError> {
        let req = DestroySession::new(session.id);
        let mut status = [UNWRITTEN_STATUS];
        let used = wait::add_notify_wait_pop(
            &mut self.ctrl,
            self.ctrl_index,
            &mut self.transport,
            self.waiter.as_mut(),
            &[req.as_bytes()],
            &mut [&mut status],
        )?;
        check_status(u32::from(status[0]))?;
        check_used(used, 1)
    }

    /// One data request (§5.9.7.4): `dst = cipher(iv, src)` in `session`. `src` and `dst` are
    /// equally long, non-empty, whole AES blocks, and `iv + src + dst` within the device's
    /// `max_size`; larger payloads are refused with [`CryptoError::TooLarge`], not split (use
    /// [`SessionCtr`] for splitting).
    pub fn cipher(
        &mut self,
        session: &CipherSession,
        iv: &[u8],
        src: &[u8],
        dst: &mut [u8],
    ) -> Result<(), CryptoError> {
        if src.is_empty() || src.len() != dst.len() || !src.len().is_multiple_of(BLOCK_LEN) {
            return Err(CryptoError::BadLength);
        }
        let total = iv.len() as u64 + 2 * src.len() as u64;
        if total > self.config.max_size || src.len() > u32::MAX as usize - 1 {
            return Err(CryptoError::TooLarge);
        }
        submit_data(
            &mut self.data,
            &mut self.transport,
            self.waiter.as_mut(),
            session,
            iv,
            src,
            dst,
        )
    }

    /// Runs `prefix ‖ data` (zero-padded to whole blocks) through the session with `iv`, via
    /// the bounce buffers; writes the output back over `prefix` and `data`. Returns the padded
    /// length. `prefix.len() + data.len()` must not exceed [`Self::max_data_len`].
    pub(crate) fn run_bounced(
        &mut self,
        session: &CipherSession,
        iv: &[u8],
        prefix: &mut [u8],
        data: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let len = prefix.len() + data.len();
        if len == 0 {
            return Ok(0);
        }
        let padded = len.div_ceil(BLOCK_LEN) * BLOCK_LEN;
        if padded > self.max_data_len {
            return Err(CryptoError::TooLarge);
        }
        let src = &mut self.src.as_mut_slice()[..padded];
        src[..prefix.len()].copy_from_slice(prefix);
        src[prefix.len()..len].copy_from_slice(data);
        src[len..].fill(0);
        let result = submit_data(
            &mut self.data,
            &mut self.transport,
            self.waiter.as_mut(),
            session,
            iv,
            &self.src.as_slice()[..padded],
            &mut self.dst.as_mut_slice()[..padded],
        );
        if result.is_ok() {
            let out = &self.dst.as_slice()[..padded];
            prefix.copy_from_slice(&out[..prefix.len()]);
            data.copy_from_slice(&out[prefix.len()..len]);
        }
        // The bounce buffers held plaintext or keystream: wipe what was used.
        self.src.as_mut_slice()[..padded].zeroize();
        self.dst.as_mut_slice()[..padded].zeroize();
        result.map(|()| padded)
    }
}

/// Everything the driver sets up between feature negotiation and `DRIVER_OK`.
struct Parts<H: Hal> {
    data: VirtQueue<H, QUEUE_SIZE>,
    ctrl: VirtQueue<H, QUEUE_SIZE>,
    ctrl_index: u16,
    config: DeviceConfig,
    max_data_len: usize,
    src: DmaBuf<H>,
    dst: DmaBuf<H>,
    key: DmaBuf<H>,
}

impl<H: Hal> Parts<H> {
    fn set_up<T: Transport>(transport: &mut T, bounce_len: usize) -> Result<Self, CryptoError> {
        let config = read_config(transport)?;
        if !config.hw_ready {
            return Err(CryptoError::NotReady);
        }
        if !config.services.contains(Services::CIPHER) {
            return Err(CryptoError::NoCipherService);
        }
        if config.max_dataqueues == 0
            || config.max_size < MIN_MAX_SIZE
            || (config.max_cipher_key_len as usize) < 32
        {
            return Err(CryptoError::BadConfig);
        }
        let ctrl_index =
            u16::try_from(config.max_dataqueues).map_err(|_| CryptoError::BadConfig)?;
        // iv + src + dst must fit max_size; src and dst are equally long.
        let by_device = (config.max_size - BLOCK_LEN as u64) / 2;
        let max_data_len = (bounce_len as u64).min(by_device).min(u64::from(u32::MAX)) as usize
            / BLOCK_LEN
            * BLOCK_LEN;
        if max_data_len < 2 * BLOCK_LEN {
            return Err(CryptoError::BadConfig);
        }
        let src = DmaBuf::new(max_data_len, BufferDirection::DriverToDevice)?;
        let dst = DmaBuf::new(max_data_len, BufferDirection::DeviceToDriver)?;
        let key = DmaBuf::new(MAX_KEY_LEN, BufferDirection::DriverToDevice)?;
        let data = VirtQueue::new(transport, DATA_QUEUE, false, false)?;
        let ctrl = VirtQueue::new(transport, ctrl_index, false, false)?;
        Ok(Self {
            data,
            ctrl,
            ctrl_index,
            config,
            max_data_len,
            src,
            dst,
            key,
        })
    }
}

/// Posts one data request on `queue` and checks the reply.
fn submit_data<H: Hal, T: Transport>(
    queue: &mut VirtQueue<H, QUEUE_SIZE>,
    transport: &mut T,
    waiter: &mut dyn Waiter,
    session: &CipherSession,
    iv: &[u8],
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), CryptoError> {
    let len = src.len();
    let req = CipherDataRequest::new(
        session.id,
        session.algo,
        session.op,
        iv.len() as u32,
        len as u32,
    );
    let mut status = [UNWRITTEN_STATUS];
    let with_iv: [&[u8]; 3] = [req.as_bytes(), iv, src];
    let without_iv: [&[u8]; 2] = [req.as_bytes(), src];
    // Empty buffers cannot be posted: an ECB request has no IV.
    let inputs: &[&[u8]] = if iv.is_empty() { &without_iv } else { &with_iv };
    let used = wait::add_notify_wait_pop(
        queue,
        DATA_QUEUE,
        transport,
        waiter,
        inputs,
        &mut [dst, &mut status],
    )?;
    check_status(u32::from(status[0]))?;
    check_used(used, len + 1)
}

fn check_status(raw: u32) -> Result<(), CryptoError> {
    match CryptoStatus::from_raw(raw) {
        Some(CryptoStatus::Ok) => Ok(()),
        Some(status) => Err(CryptoError::Status(status)),
        None => Err(CryptoError::UnknownStatus(raw)),
    }
}

fn check_used(used: u32, expected: usize) -> Result<(), CryptoError> {
    let expected = u32::try_from(expected).unwrap_or(u32::MAX);
    if used < expected {
        return Err(CryptoError::ShortReply { used, expected });
    }
    Ok(())
}

/// Reads the configuration (§5.9.4) consistently (§4.x config generation).
fn read_config<T: Transport>(transport: &T) -> Result<DeviceConfig, CryptoError> {
    let read = |offset: usize| transport.read_config_space::<u32>(offset);
    let config = transport.read_consistent(|| {
        Ok(DeviceConfig {
            hw_ready: read(offsets::STATUS)? & STATUS_HW_READY != 0,
            max_dataqueues: read(offsets::MAX_DATAQUEUES)?,
            services: Services::from_bits_retain(read(offsets::CRYPTO_SERVICES)?),
            cipher_algos: u64::from(read(offsets::CIPHER_ALGO_L)?)
                | u64::from(read(offsets::CIPHER_ALGO_H)?) << 32,
            max_cipher_key_len: read(offsets::MAX_CIPHER_KEY_LEN)?,
            max_size: u64::from(read(offsets::MAX_SIZE_LO)?)
                | u64::from(read(offsets::MAX_SIZE_HI)?) << 32,
        })
    })?;
    Ok(config)
}

impl<H: Hal, T: Transport> Drop for VirtioCrypto<H, T> {
    fn drop(&mut self) {
        // Detach the queues before their DMA memory is freed (the fields drop after this), so
        // the device cannot touch freed memory.
        self.transport.queue_unset(DATA_QUEUE);
        self.transport.queue_unset(self.ctrl_index);
        // The DMA buffers wipe themselves when they drop, after this.
    }
}
