//! The flash check task: the store on QEMU virt's second CFI flash bank, driven through
//! `zos-cfi-flash` (the real Intel command set against QEMU's pflash model), so the path the
//! emulated boards will take — store, `NorFlashDevice`, CFI driver, flash — runs in QEMU.
//!
//! Every boot: query the bank, then mount the store on it, or format it when the bank holds
//! none (the first boot of a fresh flash image). A mounted store must hold every record of
//! every earlier boot (generation `g` wrote records `g:0` to `g:63`, values derived from their
//! keys); then this boot adds its own generation and syncs. Prints
//! `flash-check: generation G, N records verified` and powers off with status 0, or prints
//! `flash-check: FAILED ...` and powers off with status 1. The keys are fixed test keys: this
//! task checks the flash path, it does not protect anything.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "none")]
mod task {
    extern crate alloc;

    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use kernel_abi::device::Device;
    use kernel_abi::{ExitStatus, Kernel, TaskId, klog};
    use storage_backend::StoreError;
    use storage_backend::block::NorFlashDevice;
    use storage_backend::{CryptoEngine, Db, DbKeys, FormatOptions, SoftwareEngine, Store};
    use zos_cfi_flash::{CfiFlash, MmioBus};
    use zos_runtime::Syscalls;

    /// QEMU virt's flash erase block (`VIRT_FLASH_SECTOR_SIZE`); the query must agree.
    const ERASE: usize = 256 * 1024;
    /// Records each boot adds.
    const PER_BOOT: u32 = 64;
    /// The store's program unit on this flash.
    const BLOCK: u32 = 512;

    type Flash = NorFlashDevice<CfiFlash<MmioBus, ERASE>>;

    fn say(k: &Syscalls, line: &str) {
        let _ = k.console_write(line.as_bytes());
        let _ = k.console_write(b"\n");
    }

    fn key(generation: u32, i: u32) -> Vec<u8> {
        format!("{generation}:{i}").into_bytes()
    }

    fn value(generation: u32, i: u32) -> Vec<u8> {
        let len = 1 + (generation as usize * 131 + i as usize * 977) % 3000;
        (0..len)
            .map(|j| (j as u32 ^ generation ^ i) as u8)
            .collect()
    }

    fn engine() -> Result<(SoftwareEngine, DbKeys), String> {
        let mut e = SoftwareEngine::new();
        let kernel = e.import_key(&[0x5A; 32]).map_err(|e| format!("{e:?}"))?;
        let userspace = e.import_key(&[0xA5; 32]).map_err(|e| format!("{e:?}"))?;
        Ok((e, DbKeys { kernel, userspace }))
    }

    /// Flash bank 1's window: (address, bytes).
    fn window() -> Result<(usize, usize), String> {
        let w =
            Syscalls::map_mmio(Device::Flash1).map_err(|e| format!("no flash1 window: {e:?}"))?;
        Ok((w.virt, w.size))
    }

    /// The store's device on the window. Called again only after the device of the previous
    /// call was dropped (a mount that failed consumes it).
    fn flash(k: &Syscalls, (base, size): (usize, usize)) -> Result<Flash, String> {
        // SAFETY: the kernel mapped flash bank 1's window (`size` bytes, page aligned) into this
        // task for it alone, and the only other bus ever made on it (a mount that failed) was
        // dropped before this call.
        let bus = unsafe { MmioBus::new(base as *mut u8, size) };
        let flash = CfiFlash::<_, ERASE>::new(bus).map_err(|e| format!("CFI query: {e:?}"))?;
        let g = flash.geometry();
        klog!(
            k,
            Info,
            "flash-check: {} devices, {} blocks of {} bytes",
            g.devices,
            g.blocks,
            g.erase_size
        );
        NorFlashDevice::new(flash, BLOCK).map_err(|e| format!("adapter: {e:?}"))
    }

    fn run(k: &Syscalls) -> Result<(u32, u32), String> {
        let w = window()?;
        let (e, keys) = engine()?;
        let mut s = match Store::mount(flash(k, w)?, e, keys) {
            Ok(s) => s,
            Err(StoreError::NotFormatted) => {
                say(k, "flash-check: no store on the flash, formatting");
                let (e, keys) = engine()?;
                let opts = FormatOptions {
                    kernel_units: Some(16),
                    ..FormatOptions::default()
                };
                Store::format(flash(k, w)?, e, keys, &opts).map_err(|e| format!("format: {e:?}"))?
            }
            Err(e) => return Err(format!("mount: {e:?}")),
        };
        let generation = match s
            .get(Db::Kernel, b"generation")
            .map_err(|e| format!("{e:?}"))?
        {
            Some(v) => u32::from_le_bytes(v.try_into().map_err(|_| "bad generation record")?),
            None => 0,
        } + 1;
        let mut verified = 0;
        for g in 1..generation {
            for i in 0..PER_BOOT {
                let got = s
                    .get(Db::Userspace, &key(g, i))
                    .map_err(|e| format!("get: {e:?}"))?;
                if got.as_deref() != Some(value(g, i).as_slice()) {
                    return Err(format!("record {g}:{i} is not what generation {g} wrote"));
                }
                verified += 1;
            }
        }
        let mut t = s.begin(Db::Userspace).map_err(|e| format!("{e:?}"))?;
        for i in 0..PER_BOOT {
            t.put(&key(generation, i), &value(generation, i))
                .map_err(|e| format!("put: {e:?}"))?;
        }
        t.commit().map_err(|e| format!("commit: {e:?}"))?;
        let mut t = s.begin(Db::Kernel).map_err(|e| format!("{e:?}"))?;
        t.put(b"generation", &generation.to_le_bytes())
            .map_err(|e| format!("{e:?}"))?;
        t.commit().map_err(|e| format!("commit: {e:?}"))?;
        s.sync().map_err(|e| format!("sync: {e:?}"))?;
        s.check(Db::Userspace)
            .map_err(|e| format!("check: {e:?}"))?;
        Ok((generation, verified))
    }

    fn main(me: TaskId) -> ExitStatus {
        let k = Syscalls;
        klog!(&k, Info, "flash-check {}.{} up", me.index, me.generation);
        let status = match run(&k) {
            Ok((generation, verified)) => {
                say(
                    &k,
                    &format!("flash-check: generation {generation}, {verified} records verified"),
                );
                ExitStatus::SUCCESS
            }
            Err(e) => {
                say(&k, &format!("flash-check: FAILED {e}"));
                ExitStatus(1)
            }
        };
        if let Err(e) = k.shutdown(status) {
            klog!(&k, Error, "flash-check: shutdown refused: {}", e);
        }
        status
    }

    zos_runtime::task_entry!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "the flash check is a Zero OS task; `cargo xtask test` boots it in QEMU \
         (tests/tests/qemu_flash.rs)"
    );
}
