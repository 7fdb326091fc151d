//! Fast paths: the same bytes as [`crate::kernels`], in fewer instructions.
//! The reference kernels stay the oracle; every function here is tested
//! against them on thousands of seeded random cases ([`selftest`], run by
//! the host tests and by the self-test firmware on the emulated Cortex-M
//! cores).
//!
//! What runs is chosen twice. The codegen picks a [`KernelChoice`] per layer and
//! records it in the op's descriptor (with the scratch bytes it takes from
//! the arena); the target picks the micro-kernels at compile time: the
//! Cortex-M DSP ones (`dsp`, SMLAD on SXTB16-unpacked weights) on Armv7E-M
//! and Armv8-M Mainline (`build.rs`; `KILN_NO_DSP=1` for an M33 without
//! the extension), AVX2 on x86-64 hosts (`x86`, checked at run
//! time, feature `host`), the portable ones (`portable`) elsewhere and as
//! the hosts' fallback.
//!
//! Layer: arch; uses `kernels` (param types), `quant` and `wire`. The only
//! runtime layer besides `host` where `unsafe` is allowed (the DSP and AVX2
//! micro-kernels), each block with a `// SAFETY:` comment.

mod depthwise;
mod elementwise;
mod gemm;
mod pooling;
mod requant;
pub mod selftest;

#[cfg(kiln_dsp)]
#[allow(unsafe_code)]
mod dsp;
#[cfg(not(kiln_dsp))]
mod portable;

#[cfg(all(not(kiln_dsp), target_arch = "x86_64", any(test, feature = "host")))]
#[allow(unsafe_code)]
mod x86;

#[cfg(kiln_dsp)]
use dsp as micro;
#[cfg(all(
    not(kiln_dsp),
    not(all(target_arch = "x86_64", any(test, feature = "host")))
))]
use portable as micro;
#[cfg(all(not(kiln_dsp), target_arch = "x86_64", any(test, feature = "host")))]
use x86 as micro;

pub use depthwise::{depthwise_conv2d_s8, depthwise_conv2d_s8_rows};
pub use elementwise::{add_s8, sub_s8};
pub use gemm::{
    conv2d_s8 as conv2d_s8_gemm, conv2d_s8_rows as conv2d_s8_gemm_rows, conv2d_scratch_bytes,
    filter_reach, folded_bias, fully_connected_s8 as fully_connected_s8_gemm,
    fully_connected_s8_accumulate as fully_connected_s8_gemm_accumulate,
};
pub use pooling::{average_pool_s8, max_pool_s8};
pub use requant::{requantize, to_output};

use crate::wire::wire_enum;

wire_enum! {
    /// The implementation the codegen chose for one layer.
    pub enum KernelChoice {
        /// The reference kernel of `kernels`, which accepts every case.
        #[default]
        Reference = 0,
        /// A matrix product over widened columns (`gemm`), with scratch.
        Gemm = 1,
        /// Depthwise with depth multiplier 1, four channels at a time
        /// (`depthwise`).
        DepthwiseBlocked = 2,
    }
}

impl KernelChoice {
    /// The name reports use.
    pub const fn name(self) -> &'static str {
        match self {
            KernelChoice::Reference => "reference",
            KernelChoice::Gemm => "gemm",
            KernelChoice::DepthwiseBlocked => "depthwise blocked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::selftest::{run, Workspace};

    #[test]
    fn fast_paths_give_the_reference_bytes_on_random_cases() {
        let mut w = std::boxed::Box::new(Workspace::new());
        // Miri interprets every instruction: a handful of cases there, each
        // kind included, to check the `unsafe` of the AVX2 kernels.
        let cases = if cfg!(miri) { 8 } else { 3000 };
        run(1, cases, &mut w).unwrap();
    }
}
