//! The boot path: from OpenSBI's hand-off to the device banner and power-off.

use core::fmt::Write;

use qemu_kernel::platform::Platform;

use crate::arch::riscv64::sbi;
use crate::console::Uart;
use crate::probe::probe;

/// Entered from `_start` with the hart id and the device tree's physical address.
pub extern "C" fn kmain(_hart_id: usize, dtb: usize) -> ! {
    // SAFETY: OpenSBI passes the physical address of a valid flattened device tree in a1; paging
    // is off, so it is readable at that address. Its header's totalsize (big-endian u32 at
    // offset 4) bounds the blob.
    let blob = unsafe {
        let total = u32::from_be(core::ptr::read_unaligned((dtb + 4) as *const u32)) as usize;
        core::slice::from_raw_parts(dtb as *const u8, total)
    };
    let platform = match Platform::from_device_tree(blob) {
        Ok(platform) => platform,
        // Without a device tree there is no console to report on either.
        Err(_) => sbi::shutdown(false),
    };
    let Some(uart) = platform.uart else {
        sbi::shutdown(false)
    };
    // SAFETY: the device tree names this window as the ns16550a UART; nothing else drives it.
    let mut console = unsafe { Uart::new(uart.base) };
    // Formatting into the UART cannot fail; a lost banner line is not worth stopping for.
    let _ = print_banner(&mut console, &platform);
    crate::kern::console::init(uart.base);
    crate::kern::start(&platform)
}

fn print_banner(out: &mut Uart, platform: &Platform) -> core::fmt::Result {
    writeln!(
        out,
        "Zero OS reference kernel {}",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "memory: {} MiB", platform.memory_bytes() >> 20)?;
    for (index, slot) in platform.virtio.iter().enumerate() {
        let Some((version, kind)) = probe(slot) else {
            continue;
        };
        writeln!(
            out,
            "virtio-mmio[{index}] @ {:#x} irq {}: {} (device id {}, version {version})",
            slot.regs.base,
            slot.irq.unwrap_or(0),
            kind.name(),
            kind.device_id(),
        )?;
    }
    if let Some(rtc) = platform.rtc {
        writeln!(out, "rtc: goldfish @ {:#x}", rtc.base)?;
    }
    if let Some(fw_cfg) = platform.fw_cfg {
        writeln!(out, "fw_cfg @ {:#x}", fw_cfg.base)?;
    }
    if let Some(plic) = platform.plic {
        writeln!(out, "plic @ {:#x}", plic.base)?;
    }
    for (bank, flash) in platform.flash.iter().enumerate() {
        writeln!(
            out,
            "flash[{bank}] @ {:#x}: {} MiB",
            flash.base,
            flash.size >> 20
        )?;
    }
    writeln!(out, "boot ok")
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // Printed only once the console is known; the failure status makes the run visibly broken.
    crate::kprintln!("kernel panic: {info}");
    sbi::shutdown(false)
}
