//! The float32 functions of one value (EXP, SQRT, RSQRT, LOG, ABS, NEG,
//! SQUARE, SIN, COS, FLOOR, CEIL, ROUND, ELU, float32 LOGISTIC and TANH,
//! and ONNX's Erf): one kernel, the
//! function a parameter. (Their int8 kernels, where TFLM has them, are
//! elsewhere: LOGISTIC and TANH in `activation`.)
//!
//! Layer: kernels; uses `float_math` (EXP, LOGISTIC and TANH follow the
//! `fast-math` feature) and `libm`.

use super::float_math;
use crate::wire::wire_enum;

wire_enum! {
    /// Which function of one value a float32 unary op computes.
    pub enum UnaryFunction {
        /// `e^x` (EXP).
        #[default]
        Exp = 0,
        /// `√x` (SQRT; NaN below zero).
        Sqrt = 1,
        /// `1/√x` (RSQRT).
        Rsqrt = 2,
        /// `ln x` (LOG).
        Log = 3,
        /// `|x|` (ABS).
        Abs = 4,
        /// `-x` (NEG).
        Neg = 5,
        /// `x·x` (SQUARE).
        Square = 6,
        /// `sin x` (SIN).
        Sin = 7,
        /// `cos x` (COS).
        Cos = 8,
        /// `1 / (1 + e^-x)` (LOGISTIC, ONNX Sigmoid).
        Logistic = 9,
        /// `tanh x` (TANH).
        Tanh = 10,
        /// `⌊x⌋` (FLOOR).
        Floor = 11,
        /// `⌈x⌉` (CEIL).
        Ceil = 12,
        /// `x` to the nearest integer, halves to even (ROUND).
        Round = 13,
        /// `x`, or `e^x - 1` below zero (ELU).
        Elu = 14,
        /// The error function (ONNX Erf, as PyTorch's GELU exports it).
        Erf = 15,
    }
}

impl UnaryFunction {
    /// The function at `x`, as TFLM's reference computes it in float32
    /// (`std::sqrt`, `1.f / std::sqrt`, `std::log`, ...).
    #[inline(always)]
    pub fn at(self, x: f32) -> f32 {
        match self {
            UnaryFunction::Exp => float_math::exp(x),
            UnaryFunction::Sqrt => libm::sqrtf(x),
            UnaryFunction::Rsqrt => 1.0 / libm::sqrtf(x),
            UnaryFunction::Log => libm::logf(x),
            UnaryFunction::Abs => libm::fabsf(x),
            UnaryFunction::Neg => -x,
            UnaryFunction::Square => x * x,
            UnaryFunction::Sin => libm::sinf(x),
            UnaryFunction::Cos => libm::cosf(x),
            UnaryFunction::Logistic => 1.0 / (1.0 + float_math::exp(-x)),
            UnaryFunction::Tanh => float_math::tanh(x),
            UnaryFunction::Floor => libm::floorf(x),
            UnaryFunction::Ceil => libm::ceilf(x),
            // Round to nearest in the default mode: halves to even, as
            // TFLM's RoundToNearest.
            UnaryFunction::Round => libm::rintf(x),
            UnaryFunction::Elu if x < 0.0 => libm::expm1f(x),
            UnaryFunction::Elu => x,
            UnaryFunction::Erf => libm::erff(x),
        }
    }
}

/// `function` of every input value. The match is outside the loop, so each
/// function has a loop of its own, as a kernel per function would.
pub fn unary_f32(function: UnaryFunction, input: &[f32], output: &mut [f32]) {
    macro_rules! each {
        ($($f:ident),*) => {
            match function {
                $(UnaryFunction::$f => {
                    for (o, &v) in output.iter_mut().zip(input) {
                        *o = UnaryFunction::$f.at(v);
                    }
                })*
            }
        };
    }
    each!(
        Exp, Sqrt, Rsqrt, Log, Abs, Neg, Square, Sin, Cos, Logistic, Tanh, Floor, Ceil, Round, Elu,
        Erf
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // libm's sqrtf is an x86 instruction in inline assembly, which Miri
    // cannot run.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn each_function_computes_its_value() {
        let cases = [
            (UnaryFunction::Exp, 1.0, core::f32::consts::E),
            (UnaryFunction::Sqrt, 9.0, 3.0),
            (UnaryFunction::Rsqrt, 4.0, 0.5),
            (UnaryFunction::Log, core::f32::consts::E, 1.0),
            (UnaryFunction::Abs, -2.5, 2.5),
            (UnaryFunction::Neg, 2.5, -2.5),
            (UnaryFunction::Square, -3.0, 9.0),
            (UnaryFunction::Sin, core::f32::consts::FRAC_PI_2, 1.0),
            (UnaryFunction::Cos, 0.0, 1.0),
            (UnaryFunction::Logistic, 0.0, 0.5),
            (UnaryFunction::Tanh, 0.0, 0.0),
            (UnaryFunction::Floor, -1.5, -2.0),
            (UnaryFunction::Ceil, -1.5, -1.0),
            (UnaryFunction::Round, 2.5, 2.0),
            (UnaryFunction::Round, -3.5, -4.0),
            (UnaryFunction::Elu, -1.0, core::f32::consts::E.recip() - 1.0),
            (UnaryFunction::Elu, 2.0, 2.0),
            (UnaryFunction::Erf, 0.0, 0.0),
            (UnaryFunction::Erf, 1.0, 0.842_700_8),
            (UnaryFunction::Erf, -4.0, -1.0),
        ];
        for (f, x, want) in cases {
            let mut out = [0.0];
            unary_f32(f, &[x], &mut out);
            assert!((out[0] - want).abs() < 1e-6, "{f:?}({x}) = {}", out[0]);
        }
        assert!(UnaryFunction::Sqrt.at(-1.0).is_nan());
    }
}
