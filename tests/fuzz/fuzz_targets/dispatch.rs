//! The server's dispatch: sequences of messages from four callers against a booted VFS (see
//! `zos_fuzz::run_dispatch` for the input format and the checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zos_fuzz::run_dispatch(data));
