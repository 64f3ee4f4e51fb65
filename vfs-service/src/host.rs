//! A real VFS on the host backend (`kernel-host`), for the host tests of its clients (the shell, the
//! identity relay, the conformance suite): `storage-backend` on a RAM block device with the
//! software engine, served by [`crate::server::serve`] in a host task, exactly as the VFS task
//! serves on the target. Only with the `host` feature.

use alloc::format;

use kernel_abi::{EndpointId, Kernel, LogLevel};
use kernel_host::{HostKernel, TaskHandle, TaskSpec};
use storage_backend::block::RamDevice;
use storage_backend::{
    CryptoEngine, DbKeys, FormatOptions, Limits as DbLimits, SoftwareEngine, Store, StoreError,
};

use crate::server::{KernelEnv, register, serve};
use crate::{Limits, Vfs};

/// The log line a host VFS writes once it serves (followed by `, boot N`).
pub const READY: &str = "vfs: ready";

/// A freshly formatted store on a RAM device of `mib` MiB (512-byte blocks, 4 KiB erase units,
/// a 1 MiB kernel database, fixed test keys).
///
/// Errors: the store's, when `mib` is too small to format.
pub fn ram_store(mib: u64) -> Result<Store<RamDevice, SoftwareEngine>, StoreError> {
    ram_store_with(mib, DbLimits::UNLIMITED)
}

/// As [`ram_store`], with resource limits on the userspace database.
///
/// Errors: the store's, when `mib` is too small to format.
pub fn ram_store_with(
    mib: u64,
    userspace_limits: DbLimits,
) -> Result<Store<RamDevice, SoftwareEngine>, StoreError> {
    let mut engine = SoftwareEngine::new();
    let keys = DbKeys {
        kernel: engine.import_key(&[0x11; 32]).map_err(StoreError::Crypto)?,
        userspace: engine.import_key(&[0x22; 32]).map_err(StoreError::Crypto)?,
    };
    let device = RamDevice::new(512, 8, mib * 256);
    let opts = FormatOptions {
        kernel_units: Some(256),
        userspace_limits,
        ..FormatOptions::default()
    };
    Store::format(device, engine, keys, &opts)
}

/// Spawns a VFS task serving `endpoint` on a new `mib` MiB RAM store; it logs [`READY`] once it
/// serves. With `register` it is started by init (the caller's host init task) and registers
/// its endpoint as "vfs" first; without, it starts at once.
pub fn spawn_vfs(kernel: &HostKernel, endpoint: EndpointId, mib: u64, register_with_init: bool) {
    let spec = TaskSpec::new("vfs")
        .serves(endpoint)
        .start_now(!register_with_init);
    kernel.spawn(spec, move |h: TaskHandle| {
        let store = match ram_store(mib) {
            Ok(s) => s,
            Err(e) => {
                h.log(LogLevel::Error, &format!("vfs: format failed: {e:?}"));
                return;
            }
        };
        let mut fs = Vfs::new(store, Limits::default());
        match fs.boot(&KernelEnv(&h)) {
            Ok(report) => h.log(
                LogLevel::Info,
                &format!("{READY}, boot {}", report.boot_count),
            ),
            Err(e) => {
                h.log(LogLevel::Error, &format!("vfs: boot failed: {e:?}"));
                return;
            }
        }
        if register_with_init {
            let _ = register(&h, endpoint);
        }
        let _ = serve(&h, endpoint, &mut fs);
    });
}
