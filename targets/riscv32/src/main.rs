//! kiln on RV32IMAC (`riscv32imac-unknown-none-elf`, QEMU `virt`): runs the
//! model chosen at build time (`KILN_MODEL`, default the digits example) on
//! its embedded reference samples (`KILN_CASES`) and exits 0 when every
//! output equals TensorFlow Lite Micro's. `cargo run --release` in this
//! folder builds it and runs it in QEMU.

#![no_std]
#![no_main]

kiln_target_common::riscv_firmware!("riscv32");
