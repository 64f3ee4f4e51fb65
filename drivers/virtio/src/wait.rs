//! How a driver waits for a request it posted: the [`Waiter`] it was given.
//!
//! Both drivers post one descriptor chain at a time and then need its completion. They look at
//! the used ring first and call [`Waiter::wait`] only while it is still empty, then look again:
//! a completion that arrived before the wait (or an interrupt that fired while the driver was not
//! waiting) is therefore never lost, and a waiter may return early (a timeout, a stale or
//! spurious notification) without harm. What waiting means is the environment's business:
//!
//! * in a Zero OS task, block in `WaitNotification` on the device's interrupt, then acknowledge
//!   it at the device and in the kernel (the VFS task's waiter, next to the syscalls);
//! * without an interrupt path (the bare-metal KAT image, host fakes): [`Spin`].
//!
//! A device that never completes a request keeps the driver waiting, as the blocking calls of
//! `virtio-drivers` do: the buffers are the device's until it hands them back, so the driver
//! cannot return while the request is outstanding (that would need a device reset).

use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::Transport;

/// Waits for a device to make progress on an outstanding request.
pub trait Waiter {
    /// Called while a request is outstanding and the used ring showed no completion. Returns
    /// when the device may have completed something: after its interrupt, after a bounded time,
    /// or at once; the driver re-checks the used ring either way.
    ///
    /// `ack_device` acknowledges the interrupt at the device (virtio-mmio `InterruptACK`, which
    /// lowers the device's interrupt line). A waiter that took an interrupt calls it before it
    /// unmasks the line again, so that the line is low when unmasked and a completion after the
    /// acknowledgement raises a new interrupt.
    fn wait(&mut self, ack_device: &mut dyn FnMut());
}

/// Busy-waits: returns at once (after a spin-loop hint), so the driver polls the used ring.
/// For environments without interrupt delivery.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spin;

impl Waiter for Spin {
    fn wait(&mut self, _ack_device: &mut dyn FnMut()) {
        core::hint::spin_loop();
    }
}

/// Waits with `waiter` until `ready` holds, checking `ready` before every wait.
pub(crate) fn until(
    waiter: &mut dyn Waiter,
    mut ready: impl FnMut() -> bool,
    mut ack_device: impl FnMut(),
) {
    while !ready() {
        waiter.wait(&mut ack_device);
    }
}

/// Posts one descriptor chain on `queue` (index `queue_index` on `transport`), notifies the
/// device and waits with `waiter` until the chain is used; pops it and returns the used length.
/// `virtio-drivers`' `VirtQueue::add_notify_wait_pop` with the spin replaced by `waiter`.
pub(crate) fn add_notify_wait_pop<'a, H: Hal, T: Transport, const SIZE: usize>(
    queue: &mut VirtQueue<H, SIZE>,
    queue_index: u16,
    transport: &mut T,
    waiter: &mut dyn Waiter,
    inputs: &'a [&'a [u8]],
    outputs: &'a mut [&'a mut [u8]],
) -> virtio_drivers::Result<u32> {
    // SAFETY: this function does not return before the chain has been popped below, and holds
    // the borrows of `inputs` and `outputs` until then, so the buffers stay valid and untouched
    // while the device owns them.
    let token = unsafe { queue.add(inputs, outputs) }?;
    if queue.should_notify() {
        transport.notify(queue_index);
    }
    until(
        waiter,
        || queue.can_pop(),
        || {
            transport.ack_interrupt();
        },
    );
    // SAFETY: the same buffers as were added under `token`, still valid. One chain is in flight
    // per queue, so the used entry is this chain's (`pop_used` checks the token anyway).
    unsafe { queue.pop_used(token, inputs, outputs) }
}
