#!/bin/sh
# Builds the bare-metal KAT image and runs it in QEMU with the same devices as `cargo xtask run`
# (virtio-blk, virtio-crypto on cryptodev-backend-builtin), under -icount so the printed perf
# figures are guest instruction counts. Exit status 0 = every check passed.
set -eu
cd "$(dirname "$0")"
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
cargo build --release --target riscv64gc-unknown-none-elf
disk="$(mktemp)"
trap 'rm -f "$disk"' EXIT
truncate -s 4M "$disk"
timeout 120 qemu-system-riscv64 -machine virt -bios default -nographic -no-reboot -m 128M -smp 1 -icount shift=0 \
    -global virtio-mmio.force-legacy=false \
    -drive "if=none,id=disk0,format=raw,file=$disk" -device virtio-blk-device,drive=disk0 \
    -object cryptodev-backend-builtin,id=crypto0 -device virtio-crypto-device,cryptodev=crypto0 \
    -kernel "$CARGO_TARGET_DIR/riscv64gc-unknown-none-elf/release/zos-virtio-qemu-kat"
