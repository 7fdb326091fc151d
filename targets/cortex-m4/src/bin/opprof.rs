//! Instructions and stack per op of one model on the emulated Cortex-M4F:
//! loads the model's blob (build with `KILN_BLOB=1`), runs each op once on
//! its first reference sample and prints one line per op (instructions, and
//! the stack the op took below the caller), then
//! the total. For finding where an inference's instructions and stack go:
//!
//! ```text
//! KILN_BLOB=1 KILN_MODEL=path/to/model.tflite KILN_CASES=path/to/samples \
//!     cargo run --release --bin opprof
//! ```

#![no_std]
#![no_main]

use core::fmt::Write;

use kiln_target_common::cortex_m::CortexM;
use kiln_target_common::{Platform, Suite};
use panic_semihosting as _;

include!(concat!(env!("OUT_DIR"), "/suite.rs"));
use kiln_target_common::static_cell::ConstStaticCell;

static ARENA: ConstStaticCell<kiln::Arena<{ model::ARENA_BYTES }>> =
    ConstStaticCell::new(kiln::Arena::new());

struct Out<'a>(&'a mut CortexM);

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_str(s);
        Ok(())
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().unwrap();
    let mut platform = CortexM::new(peripherals.SYST);
    let arena = ARENA.take();
    let mut suite = match ModelSuite::new(arena) {
        Ok(suite) => suite,
        Err(e) => kiln_target_common::refuse(&mut platform, "cortex-m4", e),
    };
    suite.run(0);
    let mut total = 0;
    for i in 0.. {
        platform.paint_stack();
        let sp = platform.stack_pointer();
        let start = platform.instructions();
        let Some(name) = suite.run_op(i) else {
            break;
        };
        let count = platform.instructions() - start;
        // Below this frame: what the op (and the executor's call) used.
        let stack = platform
            .stack_used()
            .saturating_sub(platform.stack_top() - sp);
        total += count;
        let _ = writeln!(
            Out(&mut platform),
            "op {i} {name}: {count} instructions, stack {stack} bytes"
        );
    }
    if total == 0 {
        let _ = writeln!(Out(&mut platform), "no ops: build with KILN_BLOB=1");
    }
    let _ = writeln!(Out(&mut platform), "total {total}");
    platform.exit(true)
}

#[cortex_m_rt::exception]
fn SysTick() {
    kiln_target_common::cortex_m::on_systick();
}
