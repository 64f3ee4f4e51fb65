//! The machine's devices as the kernel sees them: the windows of grantable devices found at
//! boot, the wall clock (goldfish RTC), and the `RandomBytes` generator seeded from virtio-rng.

use kernel_abi::Errno;
use qemu_kernel::drbg::HmacDrbg;
use qemu_kernel::platform::{Platform, Region};
use qemu_kernel::system::Device;

use super::mem::wipe;
use super::state::{DeviceWindow, Kernel};
use super::{entropy, mem};
use crate::arch::riscv64::csr;
use crate::klog;
use crate::probe::probe_type;

/// How long boot waits for the entropy device's first answer. QEMU's device answers in
/// microseconds; a device silent for this long is treated as absent.
const BOOT_ENTROPY_TIMEOUT_NS: u64 = 1_000_000_000;
/// `RandomBytes` requests between reseeds from the device. Not needed for the DRBG's security
/// (SP 800-90A allows 2^48), but it limits what a one-time disclosure of the state would
/// predict, and its cost (one polled device round trip, interrupts masked) spread over this
/// many requests is negligible.
const RESEED_EVERY: u64 = 1024;
/// How long a reseed waits for the device before giving up on it (the kernel is stalled
/// meanwhile, so this is short; the boot seed keeps serving).
const RESEED_TIMEOUT_NS: u64 = 10_000_000;

impl Kernel {
    pub(super) fn find_devices(&mut self, platform: &Platform) {
        use kernel_abi::device::virtio::VirtioType;
        for slot in platform.virtio.iter() {
            let Some(kind) = probe_type(slot) else {
                continue;
            };
            let device = match kind {
                VirtioType::Block => Device::VirtioBlock,
                VirtioType::Entropy => Device::VirtioRng,
                VirtioType::Crypto => Device::VirtioCrypto,
                VirtioType::Other(_) => continue,
            };
            if self.devices[device.number()].is_none() {
                self.devices[device.number()] = Some(DeviceWindow {
                    regs: slot.regs,
                    irq: slot.irq.unwrap_or(0),
                });
            }
        }
        let plain = |r: Option<Region>| r.map(|regs| DeviceWindow { regs, irq: 0 });
        self.devices[Device::Rtc.number()] = platform.rtc.map(|regs| DeviceWindow {
            regs,
            irq: platform.rtc_irq.unwrap_or(0),
        });
        self.devices[Device::FwCfg.number()] = plain(platform.fw_cfg);
        self.devices[Device::Flash1.number()] = plain(platform.flash.get(1).copied());
    }

    /// Nanoseconds since the Unix epoch from the goldfish RTC (TIME_LOW at 0 latches TIME_HIGH
    /// at 4), read through the MMIO window.
    pub fn wall_clock_ns(&self) -> Option<u64> {
        let base = mem::MMIO_WINDOW + self.rtc?;
        // SAFETY: the device tree names this window as the goldfish RTC; its time registers are
        // read-only 32-bit registers, and the MMIO window maps them.
        let (low, high) = unsafe {
            let low = core::ptr::read_volatile(base as *const u32);
            let high = core::ptr::read_volatile((base + 4) as *const u32);
            (low, high)
        };
        Some(((high as u64) << 32) | low as u64)
    }

    /// Instantiates the DRBG from the virtio-rng device (48 bytes: 32 of entropy input and a
    /// 16-byte nonce, SP 800-90A 8.6.7), or leaves it absent, with a warning, when the machine
    /// has no such device or it fails. Runs with paging on: registers through the MMIO window.
    pub(super) fn seed_random(&mut self) {
        let Some(window) = self.devices[Device::VirtioRng.number()] else {
            klog!(
                warn,
                "no entropy source (the machine has no virtio-rng device): RandomBytes answers NotSupported"
            );
            return;
        };
        let deadline = csr::time().saturating_add(self.ns_to_ticks(BOOT_ENTROPY_TIMEOUT_NS));
        let mut seed = [0u8; 48];
        let result = entropy::VirtioRng::init(mem::MMIO_WINDOW + window.regs.base, deadline)
            .and_then(|mut dev| dev.fill(&mut seed, deadline).map(|()| dev));
        match result {
            Ok(dev) => {
                self.entropy = dev;
                let personalization = self.personalization();
                match HmacDrbg::instantiate(&seed[..32], &seed[32..], &personalization) {
                    Ok(drbg) => {
                        self.drbg = Some(drbg);
                        klog!(
                            info,
                            "RandomBytes: HMAC_DRBG (SHA-256) seeded with {} bytes from virtio-rng",
                            seed.len()
                        );
                    }
                    Err(e) => klog!(warn, "RandomBytes: cannot instantiate: {}", e.name()),
                }
            }
            Err(e) => klog!(
                warn,
                "no entropy source ({}): RandomBytes answers NotSupported",
                e.name()
            ),
        }
        wipe(&mut seed);
    }

    /// The personalization string: a label and the boot's clocks. Not secret; it only makes
    /// this instantiation distinct (SP 800-90A 8.7.1), should the device ever repeat itself.
    fn personalization(&self) -> [u8; 40] {
        let mut p = [0u8; 40];
        p[..24].copy_from_slice(b"zero-os qemu RandomBytes");
        p[24..32].copy_from_slice(&csr::time().to_le_bytes());
        p[32..].copy_from_slice(&self.wall_clock_ns().unwrap_or(0).to_le_bytes());
        p
    }

    /// Fills `out` (at most a message payload) from the DRBG, reseeding it from the device
    /// every [`RESEED_EVERY`] requests while the device works.
    pub fn random_bytes(&mut self, out: &mut [u8]) -> Result<(), Errno> {
        let reseed_due = self
            .drbg
            .as_ref()
            .is_some_and(|d| d.reseed_counter() > RESEED_EVERY);
        if reseed_due && self.entropy.is_ready() {
            let deadline = csr::time().saturating_add(self.ns_to_ticks(RESEED_TIMEOUT_NS));
            let mut fresh = [0u8; 32];
            match self.entropy.fill(&mut fresh, deadline) {
                Ok(()) => {
                    if let Some(drbg) = self.drbg.as_mut() {
                        // Reseed's only failure is short entropy, which a whole 32-byte fill
                        // is not.
                        let _ = drbg.reseed(&fresh, &csr::time().to_le_bytes());
                        klog!(debug, "RandomBytes: reseeded from virtio-rng");
                    }
                }
                // The DRBG stays seeded from boot (good for 2^48 requests); only the periodic
                // refresh stops.
                Err(e) => klog!(
                    warn,
                    "RandomBytes: reseeding failed ({}); continuing from the boot seed",
                    e.name()
                ),
            }
            wipe(&mut fresh);
        }
        let Some(drbg) = self.drbg.as_mut() else {
            return Err(Errno::NotSupported);
        };
        // Requests are at most MAX_PAYLOAD bytes, far below the DRBG's limit; running into the
        // standard's reseed interval (2^48 requests) without a device to reseed from would mean
        // the generator may not be used any more.
        drbg.generate(out, &[]).map_err(|_| Errno::NotSupported)
    }
}
