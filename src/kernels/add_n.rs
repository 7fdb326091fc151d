//! ADD_N: the elementwise sum of any number of same-shaped inputs, as
//! TFLM's reference kernels compute it. int8 inputs share one scale and
//! zero point; each is shifted left by 20 bits, halved by a multiplier, and
//! the sum (which TFLM starts from the halved input offset, not from zero)
//! rescaled to the output. float32 sums in input order.
//!
//! Layer: kernels; pure functions over slices, uses `quant`.

use super::at;
use crate::quant::multiply_by_quantized_multiplier;
use crate::wire::wire_struct;

/// The headroom every int8 input is shifted into (TFLM's
/// `kAddNIntegerShift`).
pub const ADD_N_LEFT_SHIFT: i32 = 20;

wire_struct! {
    /// int8 ADD_N's arithmetic (the inputs' shared parameters).
    #[derive(Eq)]
    pub struct AddNParams {
        /// Minus the inputs' zero point.
        pub input_offset: i32,
        pub input_multiplier: i32,
        pub input_shift: i32,
        pub output_multiplier: i32,
        pub output_shift: i32,
        pub output_offset: i32,
    }
}

/// int8 ADD_N of `inputs` (each as long as `output`). The sum wraps as
/// TFLM's int32 would; the codegen keeps the input count where it cannot.
pub fn add_n_s8<'a>(
    p: &AddNParams,
    inputs: impl Iterator<Item = &'a [i8]> + Clone,
    output: &mut [i8],
) {
    for (i, o) in output.iter_mut().enumerate() {
        let mut sum = p.start();
        for input in inputs.clone() {
            sum = sum.wrapping_add(p.scaled(at(input, i, 0)));
        }
        *o = p.output(sum);
    }
}

impl AddNParams {
    /// An input value shifted into the headroom and halved.
    pub fn scaled(&self, x: i8) -> i32 {
        self.scaled_offset(self.input_offset + i32::from(x))
    }

    /// Where TFLM starts a sum: the input offset alone, scaled.
    pub fn start(&self) -> i32 {
        self.scaled_offset(self.input_offset)
    }

    fn scaled_offset(&self, x: i32) -> i32 {
        let shifted = x.wrapping_mul(1 << ADD_N_LEFT_SHIFT);
        multiply_by_quantized_multiplier(shifted, self.input_multiplier, self.input_shift)
    }

    /// A sum of scaled inputs as an int8 output value.
    pub fn output(&self, sum: i32) -> i8 {
        let out = multiply_by_quantized_multiplier(sum, self.output_multiplier, self.output_shift)
            .saturating_add(self.output_offset);
        out.clamp(-128, 127) as i8
    }
}

/// float32 ADD_N of `inputs` (each as long as `output`).
pub fn add_n_f32<'a>(inputs: impl Iterator<Item = &'a [f32]> + Clone, output: &mut [f32]) {
    for (i, o) in output.iter_mut().enumerate() {
        let mut sum = 0.0;
        for input in inputs.clone() {
            sum += at(input, i, 0.0);
        }
        *o = sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_sum_starts_from_the_offset_as_tflms_does() {
        // Zero point 0, output scale twice the inputs': (0 + 10 + 20 + 30) / 2.
        let p = AddNParams {
            input_offset: 0,
            input_multiplier: 1 << 30,
            input_shift: 0,
            // 2 * s / (2^20 * 2s) = 2^-20: one half shifted right by 19.
            output_multiplier: 1 << 30,
            output_shift: -19,
            output_offset: 0,
        };
        let mut out = [0i8; 1];
        add_n_s8(&p, [&[10i8][..], &[20], &[30]].into_iter(), &mut out);
        assert_eq!(out, [30]);
        // Zero point 4: the extra offset term subtracts one more zero point.
        let shifted = AddNParams {
            input_offset: -4,
            ..p
        };
        add_n_s8(&shifted, [&[14i8][..], &[24], &[34]].into_iter(), &mut out);
        assert_eq!(out, [28]);
    }

    #[test]
    fn float_sum() {
        let mut out = [0f32; 2];
        add_n_f32([&[1.0f32, 2.0][..], &[0.5, -2.0]].into_iter(), &mut out);
        assert_eq!(out, [1.5, 0.0]);
    }
}
