//! microflow 0.1.3 on the emulated Cortex-M4F, measured exactly as kiln's
//! firmware is (same SysTick counter under `-icount shift=6`, same stack
//! painting): one of the models microflow ships (`MICROFLOW_MODEL`), on an
//! all-zero int8 input through `predict_quantized`.

#![no_std]
#![no_main]

use core::fmt::Write;

use cortex_m_rt::{entry, exception};
use kiln_target_common::Platform;
use panic_semihosting as _;

mod model {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

struct Out<'a>(&'a mut kiln_target_common::cortex_m::CortexM);

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_str(s);
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().unwrap();
    let mut platform = kiln_target_common::cortex_m::CortexM::new(peripherals.SYST);
    let input = model::Input::from_element(0);
    let mut instructions = 0;
    let mut stack = 0;
    let mut first = 0.0f32;
    for _ in 0..3 {
        platform.paint_stack();
        let sp = platform.stack_pointer();
        let start = platform.instructions();
        let output = model::Model::predict_quantized(core::hint::black_box(input));
        instructions = platform.instructions() - start;
        stack = platform
            .stack_used()
            .saturating_sub(platform.stack_top() - sp);
        first = output[0];
    }
    let _ = writeln!(
        Out(&mut platform),
        "MICROFLOW model={} instructions={instructions} inference_stack_bytes={stack} first_output={first}",
        model::NAME
    );
    platform.exit(true)
}

#[exception]
fn SysTick() {
    kiln_target_common::cortex_m::on_systick();
}
