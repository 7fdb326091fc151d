//! kiln's fast-path self-test on RV32IMAC under QEMU: the portable fast
//! kernels (the ones every core without a DSP extension runs) against the
//! reference ones on seeded random cases (`kiln::arch::selftest`).
//! `cargo run --release --bin selftest` in this folder builds and runs it.

#![no_std]
#![no_main]

use kiln_target_common::static_cell::ConstStaticCell;
use panic_halt as _;

static WORKSPACE: ConstStaticCell<kiln::arch::selftest::Workspace> =
    ConstStaticCell::new(kiln::arch::selftest::Workspace::new());

#[riscv_rt::entry]
fn main() -> ! {
    let mut platform = kiln_target_common::riscv::Riscv::new();
    let workspace = WORKSPACE.take();
    kiln_target_common::selftest(workspace, &mut platform, "riscv32")
}
