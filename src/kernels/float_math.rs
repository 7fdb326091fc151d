//! The transcendental functions of the float32 kernels (`exp` for
//! LOGISTIC and SOFTMAX, `tanh` for TANH), in one place so that one feature
//! picks their implementation: `libm` by default, which keeps the float
//! kernels within the tolerance held against TFLM, or with `fast-math`
//! micromath's approximations, cheaper on cores without an FPU and less
//! accurate (docs/fast-math.md has the measured error and speed).
//!
//! Layer: kernels; functions of one `f32`, use `libm`, or `micromath` with
//! the `fast-math` feature.

/// `e^x`.
#[cfg(not(feature = "fast-math"))]
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    libm::expf(x)
}

/// `tanh(x)`.
#[cfg(not(feature = "fast-math"))]
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    libm::tanhf(x)
}

/// Bits of the largest `x` whose `e^x` is finite (88.72283).
#[cfg(feature = "fast-math")]
const EXP_OVERFLOW_BITS: u32 = 0x42b1_7217;
/// Bits of -87.33655, the last `x` (about `ln(f32::MIN_POSITIVE)`) whose
/// `e^x` micromath gives as a normal float: below it `e^x` is subnormal,
/// and flushed to zero.
#[cfg(feature = "fast-math")]
const EXP_UNDERFLOW_BITS: u32 = 0xc2ae_ac50;

/// `e^x`, micromath's approximation (a power of two times a short Taylor
/// series), with the ends of the range handled here: micromath builds an
/// exponent field out of range, a NaN, a little above `ln(f32::MAX)`, and
/// a wrong subnormal a little below `ln(f32::MIN_POSITIVE)`. The checks are
/// on the bits, because a float comparison is a library call on a core
/// without an FPU.
#[cfg(feature = "fast-math")]
#[inline]
pub fn exp(x: f32) -> f32 {
    let bits = x.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        return x; // NaN
    }
    // Positive floats order as their bits do, negative ones in reverse.
    if bits as i32 > EXP_OVERFLOW_BITS as i32 {
        return f32::INFINITY;
    }
    if bits > EXP_UNDERFLOW_BITS {
        return 0.0;
    }
    <f32 as micromath::F32Ext>::exp(x)
}

/// Bits of 0.0625: below this `|x|`, `tanh(x)` is `x - x^3/3` to within
/// `2x^4/15` relative (2e-6 here), and `1 - e^(-2|x|)` would lose most of
/// its bits.
#[cfg(feature = "fast-math")]
const TANH_SERIES_BELOW_BITS: u32 = 0x3d80_0000;

/// `tanh(x)` from the approximate `exp` (micromath has no `tanh`):
/// `(1 - e) / (1 + e)` with `e = e^(-2|x|)`, which cannot overflow, and the
/// series near zero, where that difference cancels.
#[cfg(feature = "fast-math")]
#[inline]
pub fn tanh(x: f32) -> f32 {
    let magnitude_bits = x.to_bits() & 0x7fff_ffff;
    let magnitude = f32::from_bits(magnitude_bits);
    let t = if magnitude_bits < TANH_SERIES_BELOW_BITS {
        magnitude - magnitude * magnitude * magnitude * (1.0 / 3.0)
    } else {
        let e = exp(-2.0 * magnitude);
        (1.0 - e) / (1.0 + e)
    };
    f32::from_bits(t.to_bits() | (x.to_bits() & 0x8000_0000))
}

#[cfg(test)]
mod tests {
    /// `count` evenly spaced points from `lo` to `hi`, both included.
    fn sweep(lo: f32, hi: f32, count: usize) -> impl Iterator<Item = f32> {
        let step = (f64::from(hi) - f64::from(lo)) / (count - 1) as f64;
        (0..count).map(move |i| (f64::from(lo) + step * i as f64) as f32)
    }

    #[cfg(not(feature = "fast-math"))]
    #[test]
    // Miri perturbs the results of float functions on purpose.
    #[cfg_attr(miri, ignore)]
    fn default_is_libm_bit_for_bit() {
        use super::{exp, tanh};
        for x in sweep(-110.0, 100.0, 200_001).chain([f32::NAN, f32::INFINITY, -f32::INFINITY]) {
            assert_eq!(exp(x).to_bits(), libm::expf(x).to_bits(), "exp({x})");
            assert_eq!(tanh(x).to_bits(), libm::tanhf(x).to_bits(), "tanh({x})");
        }
    }

    #[cfg(feature = "fast-math")]
    mod fast {
        use super::super::*;
        use super::sweep;
        use crate::kernels::softmax::softmax_f32;
        use crate::kernels::unary::{unary_f32, UnaryFunction};
        use std::vec::Vec;

        /// The largest absolute and relative differences from libm, and
        /// where the relative one is.
        #[derive(Debug, Default)]
        struct Error {
            absolute: f64,
            relative: f64,
            at: f32,
        }

        /// Over `(where, got, want)` triples.
        fn error(values: impl Iterator<Item = (f32, f32, f32)>) -> Error {
            let mut e = Error::default();
            for (at, got, want) in values {
                assert!(got.is_finite(), "{got} at {at}");
                let (got, want) = (f64::from(got), f64::from(want));
                let absolute = (got - want).abs();
                let relative = if want == 0.0 {
                    absolute
                } else {
                    absolute / want.abs()
                };
                e.absolute = e.absolute.max(absolute);
                if relative > e.relative {
                    e.relative = relative;
                    e.at = at;
                }
            }
            std::println!("{e:?}");
            e
        }

        fn of(
            f: fn(f32) -> f32,
            reference: fn(f32) -> f32,
            inputs: impl Iterator<Item = f32>,
        ) -> Error {
            error(inputs.map(|x| (x, f(x), reference(x))))
        }

        /// A million points: the spacing (under 1e-4) is far below the
        /// period of micromath's error (ln 2), so the sweep finds its peaks.
        const POINTS: usize = 1_000_001;

        /// Deterministic inputs in `[lo, hi)` (a linear congruential generator).
        fn noise(seed: u64, lo: f32, hi: f32, count: usize) -> Vec<f32> {
            let mut state = seed;
            (0..count)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
                    lo + (hi - lo) * unit
                })
                .collect()
        }

        #[test]
        fn exp_error_against_libm() {
            std::print!("exp on [-87, 0] (softmax): ");
            let negative = of(exp, libm::expf, sweep(-87.0, 0.0, POINTS));
            std::print!("exp on [0, 88] (logistic of negative inputs): ");
            let positive = of(exp, libm::expf, sweep(0.0, 88.0, POINTS));
            // Measured: 2.390e-3 and 1.193e-3 (at -66.54, where the reduced
            // argument is nearly -ln 2, the end of micromath's series), and
            // 7.553e-4; e^x grows past any absolute bound on [0, 88].
            assert!(negative.relative < 2.5e-3, "{negative:?}");
            assert!(negative.absolute < 1.25e-3, "{negative:?}");
            assert!(positive.relative < 8e-4, "{positive:?}");
        }

        #[test]
        fn tanh_error_against_libm() {
            std::print!("tanh on [-10, 10]: ");
            let e = of(tanh, libm::tanhf, sweep(-10.0, 10.0, POINTS));
            // Measured: 3.179e-3 and 1.060e-3, at ±0.3466 (e^-0.693).
            assert!(e.relative < 3.3e-3, "{e:?}");
            assert!(e.absolute < 1.1e-3, "{e:?}");
        }

        #[test]
        fn logistic_kernel_against_libm() {
            let input: Vec<f32> = sweep(-88.0, 88.0, POINTS).collect();
            let mut output = std::vec![0f32; input.len()];
            unary_f32(UnaryFunction::Logistic, &input, &mut output);
            std::print!("logistic on [-88, 88]: ");
            let e = error(
                input
                    .iter()
                    .zip(&output)
                    .map(|(&x, &y)| (x, y, 1.0 / (1.0 + libm::expf(-x)))),
            );
            // Measured: 7.946e-4 and 5.297e-4, at 0.693.
            assert!(e.relative < 8.5e-4, "{e:?}");
            assert!(e.absolute < 5.5e-4, "{e:?}");
        }

        #[test]
        fn tanh_kernel_against_libm() {
            let input: Vec<f32> = sweep(-10.0, 10.0, POINTS).collect();
            let mut output = std::vec![0f32; input.len()];
            unary_f32(UnaryFunction::Tanh, &input, &mut output);
            std::print!("tanh on [-10, 10]: ");
            let e = error(
                input
                    .iter()
                    .zip(&output)
                    .map(|(&x, &y)| (x, y, libm::tanhf(x))),
            );
            // The same as `tanh` alone: the kernel adds nothing.
            assert!(e.relative < 3.3e-3, "{e:?}");
            assert!(e.absolute < 1.1e-3, "{e:?}");
        }

        /// The float softmax kernel as it is without the feature.
        fn softmax_libm(depth: usize, beta: f32, input: &[f32], output: &mut [f32]) {
            for (x, y) in input.chunks(depth).zip(output.chunks_mut(depth)) {
                let max = x.iter().copied().fold(f32::MIN, f32::max);
                let mut sum = 0f32;
                for (o, &v) in y.iter_mut().zip(x) {
                    *o = libm::expf((v - max) * beta);
                    sum += *o;
                }
                for o in y.iter_mut() {
                    *o /= sum;
                }
            }
        }

        #[test]
        fn softmax_kernel_against_libm() {
            // Logits as classifiers give them, rows of 2 to 1000 classes.
            let mut worst = Error::default();
            for (seed, (depth, spread, beta)) in [
                (2, 8.0, 1.0),
                (10, 20.0, 1.0),
                (10, 80.0, 1.0),
                (100, 20.0, 0.5),
                (1000, 40.0, 1.0),
            ]
            .into_iter()
            .enumerate()
            {
                let outer = 200_000 / depth;
                let input = noise(seed as u64, -spread / 2.0, spread / 2.0, outer * depth);
                let (mut got, mut want) =
                    (std::vec![0f32; input.len()], std::vec![0f32; input.len()]);
                softmax_f32(outer, depth, beta, &input, &mut got);
                softmax_libm(depth, beta, &input, &mut want);
                std::print!(
                    "softmax_f32, {outer} rows of {depth}, inputs in ±{}, beta {beta}: ",
                    spread / 2.0
                );
                let e = error(
                    got.iter()
                        .zip(&want)
                        .zip(&input)
                        .map(|((&g, &w), &x)| (x, g, w)),
                );
                worst.absolute = worst.absolute.max(e.absolute);
                worst.relative = worst.relative.max(e.relative);
            }
            // Measured: 2.389e-3 and 5.323e-4 (rows of 10 in ±40).
            assert!(worst.relative < 2.5e-3, "{worst:?}");
            assert!(worst.absolute < 5.5e-4, "{worst:?}");
        }

        #[test]
        fn ends_of_the_range() {
            assert!(exp(f32::NAN).is_nan());
            assert!(tanh(f32::NAN).is_nan());
            assert_eq!(exp(f32::INFINITY), f32::INFINITY);
            assert_eq!(exp(89.0), f32::INFINITY);
            assert_eq!(exp(-f32::INFINITY), 0.0);
            assert_eq!(exp(-88.0), 0.0);
            assert_eq!(exp(0.0), 1.0);
            assert!(exp(f32::from_bits(EXP_OVERFLOW_BITS)).is_finite());
            assert!(exp(f32::from_bits(EXP_UNDERFLOW_BITS)) >= f32::MIN_POSITIVE);
            assert_eq!(f32::from_bits(TANH_SERIES_BELOW_BITS), 0.0625);
            assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
            assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
            assert_eq!(tanh(20.0), 1.0);
            assert_eq!(tanh(-20.0), -1.0);
            assert_eq!(tanh(f32::INFINITY), 1.0);
            assert_eq!(tanh(-f32::INFINITY), -1.0);
            let mut out = [0f32; 4];
            unary_f32(
                UnaryFunction::Logistic,
                &[-200.0, -89.0, 89.0, 200.0],
                &mut out,
            );
            assert_eq!(out, [0.0, 0.0, 1.0, 1.0]);
        }
    }
}
