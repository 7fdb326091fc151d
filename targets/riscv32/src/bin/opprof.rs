//! Instructions and stack per op of one model on the emulated RV32IMAC:
//! loads the model's blob (build with `KILN_BLOB=1`), runs each op once on
//! its first reference sample and prints one line per op (instructions, and
//! the stack the op took below the caller), then the total
//! (`kiln_target_common::profile_ops`):
//!
//! ```text
//! KILN_BLOB=1 KILN_MODEL=path/to/model.tflite KILN_CASES=path/to/samples \
//!     cargo run --release --bin opprof
//! ```

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
    kiln_target_common::profile_ops(&mut suite, &mut platform, "riscv32")
}
