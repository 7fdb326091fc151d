//! kiln on Cortex-M33 (`thumbv8m.main-none-eabihf`, QEMU `mps2-an505`): runs the model chosen at
//! build time (`KILN_MODEL`, default the digits example) on its embedded
//! reference samples (`KILN_CASES`) and exits 0 when every output equals
//! TensorFlow Lite Micro's. `cargo run --release` in this folder builds it
//! and runs it in QEMU.

#![no_std]
#![no_main]

kiln_target_common::cortex_m_firmware!("cortex-m33");
