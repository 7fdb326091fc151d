//! kiln on RV32IMAC (`riscv32imac-unknown-none-elf`, QEMU `virt`): runs the
//! model chosen at build time (`KILN_MODEL`, default the digits example) on
//! its embedded reference samples (`KILN_CASES`) and exits 0 when every
//! output equals TensorFlow Lite Micro's. `cargo run --release` in this
//! folder builds it and runs it in QEMU.

#![no_std]
#![no_main]

use panic_halt as _;

include!(concat!(env!("OUT_DIR"), "/suite.rs"));
use kiln_target_common::static_cell::ConstStaticCell;

static ARENA: ConstStaticCell<kiln::Arena<{ model::ARENA_BYTES }>> =
    ConstStaticCell::new(kiln::Arena::new());

#[riscv_rt::entry]
fn main() -> ! {
    let mut platform = kiln_target_common::riscv::Riscv::new();
    let arena = ARENA.take();
    let mut suite = match ModelSuite::new(arena) {
        Ok(suite) => suite,
        Err(e) => kiln_target_common::refuse(&mut platform, "riscv32", e),
    };
    kiln_target_common::run(&mut suite, &mut platform, "riscv32")
}
