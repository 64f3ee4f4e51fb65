//! The machine as the device tree describes it: RAM, the console UART, virtio-mmio slots, the
//! RTC, fw_cfg, the interrupt controller and the flash banks. Nothing about the platform is
//! hard-coded elsewhere in the kernel; it all comes from here.

use fdt::Fdt;
use heapless::Vec;

/// The most virtio-mmio slots we record (QEMU virt has 8).
pub const MAX_VIRTIO_SLOTS: usize = 16;
/// The most RAM regions we record.
pub const MAX_MEMORY_REGIONS: usize = 4;
/// The most flash banks we record (QEMU virt has 2).
pub const MAX_FLASH_BANKS: usize = 2;

/// A physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: usize,
    /// Length in bytes.
    pub size: usize,
}

/// A virtio-mmio transport slot; whether a device sits in it is read from its registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioSlot {
    /// The register window.
    pub regs: Region,
    /// The interrupt line at the PLIC.
    pub irq: Option<u32>,
}

/// What the kernel learned from the device tree.
#[derive(Debug, Default)]
pub struct Platform {
    /// RAM regions.
    pub memory: Vec<Region, MAX_MEMORY_REGIONS>,
    /// The ns16550a console UART.
    pub uart: Option<Region>,
    /// The UART's interrupt line at the PLIC.
    pub uart_irq: Option<u32>,
    /// virtio-mmio slots, in device-tree order.
    pub virtio: Vec<VirtioSlot, MAX_VIRTIO_SLOTS>,
    /// The goldfish RTC (wall clock).
    pub rtc: Option<Region>,
    /// The goldfish RTC's interrupt line at the PLIC (its alarm).
    pub rtc_irq: Option<u32>,
    /// The fw_cfg interface (how the device master key reaches the machine).
    pub fw_cfg: Option<Region>,
    /// The platform-level interrupt controller.
    pub plic: Option<Region>,
    /// CFI flash banks.
    pub flash: Vec<Region, MAX_FLASH_BANKS>,
    /// The timebase frequency of the `time` CSR, in Hz.
    pub timebase_hz: Option<u32>,
    /// The boot arguments ask for defmt log records on the semihosting channel
    /// (`zos.log=defmt`, which `cargo xtask run` passes with `-append`).
    pub defmt_log: bool,
}

/// The boot argument that turns the defmt log channel on.
pub const DEFMT_BOOTARG: &str = "zos.log=defmt";

/// Whether a `bootargs` string enables the defmt channel.
pub fn bootargs_enable_defmt(bootargs: &str) -> bool {
    bootargs.split_whitespace().any(|w| w == DEFMT_BOOTARG)
}

/// Why the device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The blob is not a valid flattened device tree.
    BadDeviceTree,
    /// The device tree lists no RAM.
    NoMemory,
}

impl Platform {
    /// Reads the platform from a flattened device tree blob.
    pub fn from_device_tree(blob: &[u8]) -> Result<Self, PlatformError> {
        let fdt = Fdt::new(blob).map_err(|_| PlatformError::BadDeviceTree)?;
        let mut platform = Platform::default();
        for region in fdt.memory().regions() {
            let Some(size) = region.size else { continue };
            // Extra regions beyond the capacity are ignored rather than failing the boot.
            let _ = platform.memory.push(Region {
                base: region.starting_address as usize,
                size,
            });
        }
        if platform.memory.is_empty() {
            return Err(PlatformError::NoMemory);
        }
        platform.defmt_log = fdt
            .find_node("/chosen")
            .and_then(|chosen| chosen.property("bootargs"))
            .and_then(|p| core::str::from_utf8(p.value).ok())
            .is_some_and(|args| bootargs_enable_defmt(args.trim_end_matches('\0')));
        platform.timebase_hz = fdt
            .find_node("/cpus")
            .and_then(|cpus| cpus.property("timebase-frequency"))
            .and_then(|p| p.as_usize())
            .map(|hz| hz as u32);

        for node in fdt.all_nodes() {
            let Some(compatible) = node.compatible() else {
                continue;
            };
            let Some(region) = node.reg().and_then(|mut regs| regs.next()).and_then(|r| {
                Some(Region {
                    base: r.starting_address as usize,
                    size: r.size?,
                })
            }) else {
                continue;
            };
            let is = |name: &str| compatible.all().any(|c| c == name);
            if is("virtio,mmio") {
                let irq = node
                    .interrupts()
                    .and_then(|mut i| i.next())
                    .map(|i| i as u32);
                let _ = platform.virtio.push(VirtioSlot { regs: region, irq });
            } else if is("ns16550a") && platform.uart.is_none() {
                platform.uart = Some(region);
                platform.uart_irq = node
                    .interrupts()
                    .and_then(|mut i| i.next())
                    .map(|i| i as u32);
            } else if is("google,goldfish-rtc") {
                platform.rtc = Some(region);
                platform.rtc_irq = node
                    .interrupts()
                    .and_then(|mut i| i.next())
                    .map(|i| i as u32);
            } else if is("qemu,fw-cfg-mmio") {
                platform.fw_cfg = Some(region);
            } else if is("riscv,plic0") || is("sifive,plic-1.0.0") {
                platform.plic = Some(region);
            } else if is("cfi-flash") {
                // QEMU describes both banks in one node with two `reg` entries.
                if let Some(regs) = node.reg() {
                    for r in regs {
                        if let Some(size) = r.size {
                            let _ = platform.flash.push(Region {
                                base: r.starting_address as usize,
                                size,
                            });
                        }
                    }
                }
            }
        }
        // Slots in ascending address order, so their numbering is stable across QEMU versions.
        platform.virtio.sort_unstable_by_key(|slot| slot.regs.base);
        Ok(platform)
    }

    /// Total RAM in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory.iter().map(|r| r.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defmt_channel_needs_its_exact_boot_argument() {
        assert!(bootargs_enable_defmt("zos.log=defmt"));
        assert!(bootargs_enable_defmt("quiet zos.log=defmt foo"));
        assert!(!bootargs_enable_defmt("zos.log=text"));
        assert!(!bootargs_enable_defmt(""));
    }
}
