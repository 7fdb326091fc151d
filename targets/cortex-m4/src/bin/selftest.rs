//! kiln's fast-path self-test on cortex-m4 under QEMU: the fast kernels against
//! the reference ones on seeded random cases (`kiln::arch::selftest`).
//! `cargo run --release --bin selftest` in this folder builds and runs it.

#![no_std]
#![no_main]

kiln_target_common::cortex_m_selftest!("cortex-m4");
