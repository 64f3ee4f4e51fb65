//! Mounting arbitrary images: a synced two-database image patched by the input (bit flips, byte
//! runs, blocks erased, zeroed or copied, headers replaced), then every read and write path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut img = zos_fuzz::store_image().to_vec();
    zos_fuzz::patch(&mut img, data);
    zos_fuzz::exercise_store(img);
});
