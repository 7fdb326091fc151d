//! kiln on Cortex-M0 (`thumbv6m-none-eabi`, QEMU `microbit`): runs the model chosen at
//! build time (`KILN_MODEL`, default the digits example) on its embedded
//! reference samples (`KILN_CASES`) and exits 0 when every output equals
//! TensorFlow Lite Micro's. `cargo run --release` in this folder builds it
//! and runs it in QEMU.

#![no_std]
#![no_main]

kiln_target_common::cortex_m_firmware!("cortex-m0");
