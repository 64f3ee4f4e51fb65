//! What a Zero OS disk image is, defined once for everything that makes or opens one: the VFS
//! task, the host image tool `zvfs` and xtask.
//!
//! An image is a block device of [`BLOCK_SIZE`]-byte blocks grouped in
//! [`BLOCKS_PER_ERASE_UNIT`]-block erase units, holding a `storage-backend` store whose two
//! databases are keyed from one 256-bit **device master key**: each database's key is
//! HKDF-SHA256(master, salt = [`KEY_SALT`], info = [`KERNEL_KEY_INFO`] or
//! [`USERSPACE_KEY_INFO`]), derived inside the crypto engine, so a hardware engine never hands
//! the derived keys out. The master key itself is never written to the image.

use storage_backend::{
    BlockDevice, CryptoEngine, DbKeys, FormatOptions, KeyHandle, Limits, Store, StoreError,
};

/// Bytes per block: virtio-blk's sector size.
pub const BLOCK_SIZE: u32 = 512;
/// Blocks per erase unit (4 KiB units: the store's segment granularity on a disk).
pub const BLOCKS_PER_ERASE_UNIT: u32 = 8;
/// Bytes per erase unit.
pub const ERASE_UNIT_BYTES: u64 = BLOCK_SIZE as u64 * BLOCKS_PER_ERASE_UNIT as u64;
/// Length of the device master key.
pub const MASTER_KEY_LEN: usize = 32;
/// HKDF salt of the database keys.
pub const KEY_SALT: &[u8] = b"zero-os device master key v1";
/// HKDF info of the kernel database's key.
pub const KERNEL_KEY_INFO: &[u8] = b"zos kernel database";
/// HKDF info of the userspace database's key.
pub const USERSPACE_KEY_INFO: &[u8] = b"zos userspace database";
/// The share of an image given to the kernel database: one eighth, at least 64 erase units.
pub const KERNEL_SHARE_DIVISOR: u64 = 8;
/// The least number of erase units of the kernel database.
pub const KERNEL_MIN_UNITS: u64 = 64;

/// Derives both database keys from the imported master key, inside the engine.
pub fn derive_db_keys<E: CryptoEngine>(
    engine: &mut E,
    master: KeyHandle,
) -> Result<DbKeys, StoreError> {
    let kernel = engine
        .derive_key(master, KEY_SALT, KERNEL_KEY_INFO)
        .map_err(StoreError::Crypto)?;
    let userspace = match engine.derive_key(master, KEY_SALT, USERSPACE_KEY_INFO) {
        Ok(key) => key,
        Err(e) => {
            engine.drop_key(kernel);
            return Err(StoreError::Crypto(e));
        }
    };
    Ok(DbKeys { kernel, userspace })
}

/// The erase units of the kernel database on a device of `units` erase units.
pub fn kernel_units(units: u64) -> u64 {
    (units / KERNEL_SHARE_DIVISOR).max(KERNEL_MIN_UNITS.min(units / 2))
}

/// Format-time choices of an image: identity and creator; the region split comes from
/// [`kernel_units`].
#[derive(Clone, Debug)]
pub struct ImageIdentity {
    /// Container UUIDs of the kernel and userspace databases (random per image).
    pub uuids: [[u8; 16]; 2],
    /// Who made the image (recorded in the container metadata).
    pub creator: &'static [u8],
    /// Creation time, nanoseconds since the epoch.
    pub created_ns: u64,
}

/// Formats `device` as a new, empty image under the imported `master` key.
pub fn format<D: BlockDevice, E: CryptoEngine>(
    device: D,
    mut engine: E,
    master: KeyHandle,
    identity: &ImageIdentity,
) -> Result<Store<D, E>, StoreError> {
    let keys = derive_db_keys(&mut engine, master)?;
    let units = device.geometry().erase_units();
    let options = FormatOptions {
        kernel_units: Some(kernel_units(units)),
        kernel_limits: Limits::UNLIMITED,
        userspace_limits: Limits::UNLIMITED,
        uuids: identity.uuids,
        creator: identity.creator.to_vec(),
        created_ns: identity.created_ns,
        ..FormatOptions::default()
    };
    Store::format(device, engine, keys, &options)
}

/// Mounts the image on `device` under the imported `master` key. A wrong key fails here with
/// an integrity error: nothing is read from a region whose metadata does not authenticate.
pub fn mount<D: BlockDevice, E: CryptoEngine>(
    device: D,
    mut engine: E,
    master: KeyHandle,
) -> Result<Store<D, E>, StoreError> {
    let keys = derive_db_keys(&mut engine, master)?;
    Store::mount(device, engine, keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_database_gets_an_eighth_and_at_least_64_units() {
        assert_eq!(kernel_units(16384), 2048);
        assert_eq!(kernel_units(256), 64);
        assert_eq!(kernel_units(100), 50);
    }
}
