//! Both drivers wait for completions through their `Waiter`: against fakes in deferred mode
//! (the device completes while the driver waits, and only when the waiter acknowledges the
//! interrupt), the drivers re-check the used ring before every wait, survive waits that return
//! without an interrupt (timeouts, stale notifications), and never wait for a request that
//! already completed.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::*;
use zos_virtio::blk::{BlockDevice, EraseMode, VirtioBlockDevice};
use zos_virtio::crypto::{CipherAlgo, CipherOp};
use zos_virtio::engine::VirtioCryptoEngine;
use zos_virtio::fake::{FakeBlkDevice, FakeHal, FakeTransport};
use zos_virtio::wait::Waiter;

/// Counts waits; the first `idle` of every request's waits return without acknowledging
/// (as a timeout or a stale notification would), later ones acknowledge the interrupt.
struct Counting {
    waits: Rc<Cell<u32>>,
    acks: Rc<Cell<u32>>,
    idle: u32,
    idle_left: u32,
}

impl Counting {
    fn new(idle: u32) -> (Self, Rc<Cell<u32>>, Rc<Cell<u32>>) {
        let waits = Rc::new(Cell::new(0));
        let acks = Rc::new(Cell::new(0));
        let w = Counting {
            waits: waits.clone(),
            acks: acks.clone(),
            idle,
            idle_left: idle,
        };
        (w, waits, acks)
    }
}

impl Waiter for Counting {
    fn wait(&mut self, ack_device: &mut dyn FnMut()) {
        self.waits.set(self.waits.get() + 1);
        if self.idle_left > 0 {
            self.idle_left -= 1;
            return;
        }
        self.idle_left = self.idle;
        ack_device();
        self.acks.set(self.acks.get() + 1);
    }
}

type Disk = VirtioBlockDevice<FakeHal, FakeTransport<FakeBlkDevice>>;

fn disk(deferred: bool) -> Disk {
    let mut transport = FakeTransport::new(FakeBlkDevice::new(64));
    transport.set_deferred(deferred);
    VirtioBlockDevice::new(transport, 4096, 4, EraseMode::Fill).unwrap()
}

#[test]
fn blk_requests_complete_through_the_waiter() {
    let mut d = disk(true);
    let (w, waits, acks) = Counting::new(0);
    d.set_waiter(Box::new(w));
    let data: Vec<u8> = (0..4096).map(|i| (i * 3) as u8).collect();
    d.write(2, &data).unwrap();
    d.flush().unwrap();
    let mut back = vec![0u8; 4096];
    d.read(2, &mut back).unwrap();
    assert_eq!(back, data);
    // Write, flush, read: one wait and one acknowledged interrupt each.
    assert_eq!((waits.get(), acks.get()), (3, 3));
    assert_eq!(d.transport_mut().interrupts_acked, 3);
    assert_eq!(d.transport_mut().device.flushes, 1);
    assert!(!d.transport_mut().has_pending());
}

#[test]
fn blk_waits_that_end_without_an_interrupt_are_harmless() {
    let mut d = disk(true);
    let (w, waits, acks) = Counting::new(2);
    d.set_waiter(Box::new(w));
    d.write(1, &[7u8; 4096]).unwrap();
    let mut back = vec![0u8; 4096];
    d.read(1, &mut back).unwrap();
    assert!(back.iter().all(|&b| b == 7));
    // Two empty waits before each acknowledged one; the ring is re-checked after each.
    assert_eq!((waits.get(), acks.get()), (6, 2));
}

#[test]
fn blk_completed_requests_are_not_waited_for() {
    // Served at notification: the used ring holds the completion before the first look, so
    // the driver never waits (the interrupt that came with it stays for a later wait to find).
    let mut d = disk(false);
    let (w, waits, _) = Counting::new(0);
    d.set_waiter(Box::new(w));
    d.write(0, &[1u8; 4096]).unwrap();
    d.flush().unwrap();
    assert_eq!(waits.get(), 0);
}

#[test]
fn blk_device_errors_after_a_wait_are_reported() {
    let mut d = disk(true);
    let (w, waits, _) = Counting::new(0);
    d.set_waiter(Box::new(w));
    d.transport_mut().device.fail_io = true;
    let mut buf = vec![0u8; 4096];
    assert_eq!(d.read(0, &mut buf), Err(zos_virtio::blk::DeviceError::Io));
    assert_eq!(
        d.last_error(),
        Some(zos_virtio::blk::RequestError::Status(1))
    );
    assert_eq!(waits.get(), 1);
    // The queue is usable afterwards.
    d.transport_mut().device.fail_io = false;
    d.read(0, &mut buf).unwrap();
}

#[test]
fn crypto_requests_complete_through_the_waiter() {
    let mut dev = device();
    dev.transport_mut().set_deferred(true);
    let (w, waits, acks) = Counting::new(1);
    dev.set_waiter(Box::new(w));
    let key = [0x42u8; 32];
    let session = dev
        .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &key)
        .unwrap();
    let src = [0x11u8; 64];
    let mut dst = [0u8; 64];
    dev.cipher(&session, &[0u8; 16], &src, &mut dst).unwrap();
    dev.destroy_session(session).unwrap();
    // Create, cipher, destroy: two waits each (one idle, one acknowledged).
    assert_eq!((waits.get(), acks.get()), (6, 3));

    // The same request through a spinning driver on an eager fake gives the same bytes.
    let mut plain = device();
    let s = plain
        .create_session(CipherAlgo::AesCtr, CipherOp::Encrypt, &key)
        .unwrap();
    let mut expected = [0u8; 64];
    plain.cipher(&s, &[0u8; 16], &src, &mut expected).unwrap();
    assert_eq!(dst, expected);
}

#[test]
fn gcm_through_a_waiting_device_matches_the_vectors() {
    let mut dev = device();
    dev.transport_mut().set_deferred(true);
    let (w, waits, _) = Counting::new(0);
    dev.set_waiter(Box::new(w));
    let mut engine = VirtioCryptoEngine::new(dev, 4);
    for v in gcm_spec_vectors() {
        let key = engine.import_key(&v.key).unwrap();
        let mut buf = v.pt.clone();
        let tag = engine.seal(key, &v.nonce, &v.aad, &mut buf).unwrap();
        assert_eq!((buf.as_slice(), tag), (v.ct.as_slice(), v.tag));
        engine.open(key, &v.nonce, &v.aad, &mut buf, &tag).unwrap();
        assert_eq!(buf, v.pt);
        engine.drop_key(key).unwrap();
    }
    assert!(waits.get() > 0);
}
