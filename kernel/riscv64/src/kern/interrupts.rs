//! Device interrupts and console input: interrupt forwarding through the PLIC (a device's
//! notification bit for the task granted it), and the UART's input buffer and its reader.

use qemu_kernel::platform::Platform;
use qemu_kernel::system::Device;

use super::state::Kernel;
use super::task::Block;
use super::user::copy_user;
use super::{console, plic};
use crate::arch::riscv64::csr;

impl Kernel {
    /// Takes in what the UART received and hands it to a task blocked in `ConsoleRead`.
    pub fn console_input(&mut self) {
        self.drain_console();
        if self.input.is_empty() {
            return;
        }
        let Some(reader) = self.tasks[..self.task_count]
            .iter()
            .position(|t| t.is_alive() && matches!(t.block, Block::ConsoleRead { .. }))
        else {
            return;
        };
        if let Block::ConsoleRead { buf, cap } = self.tasks[reader].block {
            let n = self.deliver_input(reader, buf, cap);
            self.tasks[reader].wake(n);
        }
    }

    /// Copies up to `cap` buffered input bytes into task `reader`'s buffer at `buf` (checked
    /// writable); returns how many.
    pub fn deliver_input(&mut self, reader: usize, buf: usize, cap: usize) -> usize {
        let mut bytes = [0u8; console::INPUT_BUFFER];
        let mut n = 0;
        while n < cap.min(bytes.len()) {
            let Some(b) = self.input.pop_front() else {
                break;
            };
            bytes[n] = b;
            n += 1;
        }
        let root = self.tasks[reader].root;
        copy_user(&mut self.mem, root, buf, &mut bytes[..n], true);
        // Room again: take in what the UART held back.
        self.drain_console();
        n
    }

    /// Drains the UART into the input buffer; while the buffer is full the UART's interrupt
    /// line stays masked (the UART keeps the bytes), and it is unmasked once there is room.
    pub fn drain_console(&mut self) {
        console::drain_input(&mut self.input);
        if let Some(plic) = self.plic
            && self.uart_irq != 0
        {
            plic.set_enabled(self.uart_irq, !self.input.is_full());
        }
    }

    /// Sets up interrupt forwarding for every device the system file grants.
    pub(super) fn init_interrupts(&mut self, platform: &Platform) {
        let Some(region) = platform.plic else {
            return;
        };
        let plic = plic::Plic::new(region.base);
        for desc in self.system().tasks {
            for device in desc.devices {
                if let Some(w) = self.devices[device.number()]
                    && w.irq != 0
                {
                    plic.configure(w.irq);
                    plic.set_enabled(w.irq, true);
                }
            }
        }
        if let Some(irq) = platform.uart_irq {
            plic.configure(irq);
            plic.set_enabled(irq, true);
            self.uart_irq = irq;
            console::enable_input_interrupt();
        }
        self.plic = Some(plic);
        csr::enable_external_interrupts();
    }

    /// Claims every pending device interrupt: masks its line and notifies the task granted the
    /// device (the first alive one in task order), waking it if it waits for that bit.
    pub fn external_interrupts(&mut self) {
        let Some(plic) = self.plic else {
            return;
        };
        loop {
            let irq = plic.claim();
            if irq == 0 {
                return;
            }
            if irq == self.uart_irq {
                plic.complete(irq);
                self.console_input();
                continue;
            }
            plic.set_enabled(irq, false);
            plic.complete(irq);
            let Some(device) = Device::ALL
                .into_iter()
                .find(|d| self.devices[d.number()].is_some_and(|w| w.irq == irq))
            else {
                continue;
            };
            let bit = device.notification_bit();
            let Some(t) = self.tasks[..self.task_count]
                .iter_mut()
                .find(|t| t.is_alive() && t.desc.is_some_and(|d| d.devices.contains(&device)))
            else {
                continue;
            };
            t.notifications |= bit;
            if let Block::Notification { mask, .. } = t.block
                && mask & t.notifications != 0
            {
                let pending = mask & t.notifications;
                t.notifications &= !pending;
                t.wake(pending as usize);
            }
        }
    }
}
