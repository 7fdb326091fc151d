//! kiln's fast-path self-test on RV32IMAC under QEMU: the portable fast
//! kernels (the ones every core without a DSP extension runs) against the
//! reference ones on seeded random cases (`kiln::arch::selftest`).
//! `cargo run --release --bin selftest` in this folder builds and runs it.

#![no_std]
#![no_main]

use panic_halt as _;

static mut WORKSPACE: kiln::arch::selftest::Workspace = kiln::arch::selftest::Workspace::new();

#[riscv_rt::entry]
fn main() -> ! {
    let mut platform = kiln_target_common::riscv::Riscv::new();
    // SAFETY: the only reference to WORKSPACE, taken once.
    let workspace = unsafe { &mut *core::ptr::addr_of_mut!(WORKSPACE) };
    kiln_target_common::selftest(workspace, &mut platform, "riscv32")
}
