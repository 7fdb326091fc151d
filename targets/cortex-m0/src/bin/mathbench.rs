//! Instructions per element of kiln's float32 kernels built on `exp` and
//! `tanh` (LOGISTIC and TANH, two of `unary_f32`'s functions, and
//! `softmax_f32`) on the Cortex-M0, a
//! core without an FPU, under QEMU: libm's functions by default, micromath's
//! with kiln's `fast-math` feature (docs/fast-math.md).
//!
//! ```text
//! cargo run --release --bin mathbench
//! cargo run --release --bin mathbench --features fast-math
//! ```

#![no_std]
#![no_main]

use core::fmt::Write;
use core::hint::black_box;

use kiln::kernels::softmax::softmax_f32;
use kiln::kernels::unary::{unary_f32, UnaryFunction};
use kiln_target_common::cortex_m::CortexM;
use kiln_target_common::Platform;
use panic_semihosting as _;

/// Elements per kernel call: 24 softmax rows of 10 classes.
const ELEMENTS: usize = 240;
const CLASSES: usize = 10;

const MATH: &str = if cfg!(feature = "fast-math") {
    "micromath"
} else {
    "libm"
};

struct Out<'a>(&'a mut CortexM);

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_str(s);
        Ok(())
    }
}

/// `ELEMENTS` fixed values spread over `[lo, hi)` in a scrambled order (an
/// odd multiplier modulo a power of two visits every step once).
fn inputs(lo: f32, hi: f32) -> [f32; ELEMENTS] {
    let mut x = [0f32; ELEMENTS];
    for (i, v) in x.iter_mut().enumerate() {
        let step = (i * 97) % 256;
        *v = lo + (hi - lo) * (step as f32 / 256.0);
    }
    x
}

/// Instructions per element of one kernel call.
fn per_element(platform: &mut CortexM, run: impl FnOnce()) -> u64 {
    let start = platform.instructions();
    run();
    let count = platform.instructions() - start;
    count / ELEMENTS as u64
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().unwrap();
    let mut platform = CortexM::new(peripherals.SYST);
    let mut output = [0f32; ELEMENTS];

    let x = black_box(inputs(-8.0, 8.0));
    let logistic = per_element(&mut platform, || {
        unary_f32(UnaryFunction::Logistic, &x, &mut output)
    });
    black_box(&output);
    // LOGISTIC's arithmetic around its `exp` (`1 / (1 + e)`, e positive),
    // so that the difference is what `exp` costs.
    let x = black_box(inputs(0.0, 16.0));
    let reciprocal = per_element(&mut platform, || {
        for (o, &v) in output.iter_mut().zip(&x) {
            *o = 1.0 / (1.0 + v);
        }
    });
    black_box(&output);
    let x = black_box(inputs(-4.0, 4.0));
    let tanh = per_element(&mut platform, || {
        unary_f32(UnaryFunction::Tanh, &x, &mut output)
    });
    black_box(&output);
    let x = black_box(inputs(-8.0, 8.0));
    let softmax = per_element(&mut platform, || {
        softmax_f32(ELEMENTS / CLASSES, CLASSES, 1.0, &x, &mut output)
    });
    black_box(&output);

    let _ = writeln!(
        Out(&mut platform),
        "MATHBENCH math={MATH} target=cortex-m0 elements={ELEMENTS} instructions per element: logistic_f32={logistic} (inputs in [-8, 8); 1/(1+x) alone, x in [0, 16): {reciprocal}) tanh_f32={tanh} (inputs in [-4, 4)) softmax_f32={softmax} (rows of {CLASSES}, inputs in [-8, 8))"
    );
    platform.exit(true)
}

#[cortex_m_rt::exception]
fn SysTick() {
    kiln_target_common::cortex_m::on_systick();
}
