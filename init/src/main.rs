//! Init: the first Zero OS task. It keeps the service registry, starts the other tasks in order and
//! restarts faulted services.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("init is a Zero OS task; boot it with `cargo xtask run`");
}
