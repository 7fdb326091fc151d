//! kiln on Cortex-M33 (`thumbv8m.main-none-eabihf`, QEMU `mps2-an505`): runs the model chosen at
//! build time (`KILN_MODEL`, default the digits example) on its embedded
//! reference samples (`KILN_CASES`) and exits 0 when every output equals
//! TensorFlow Lite Micro's. `cargo run --release` in this folder builds it
//! and runs it in QEMU.

#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use panic_semihosting as _;

include!(concat!(env!("OUT_DIR"), "/suite.rs"));

static mut ARENA: kiln::Arena<{ model::ARENA_BYTES }> = kiln::Arena::new();

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().unwrap();
    let mut platform = kiln_target_common::cortex_m::CortexM::new(peripherals.SYST);
    // SAFETY: the only reference to ARENA, taken once before anything runs.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    let mut suite = match ModelSuite::new(arena) {
        Ok(suite) => suite,
        Err(e) => kiln_target_common::refuse(&mut platform, "cortex-m33", e),
    };
    kiln_target_common::run(&mut suite, &mut platform, "cortex-m33")
}

#[exception]
fn SysTick() {
    kiln_target_common::cortex_m::on_systick();
}
