//! PAD (constant), int8: the padding value is the output zero point, which
//! represents real zero.
//!
//! Layer: kernels; a pure function over slices, uses `tensor`.

use crate::kernels::odometer::{advance, strides};
use crate::tensor::MAX_RANK;
use crate::wire::wire_struct;

wire_struct! {
    /// Where a constant PAD puts its input, for any element type.
    pub struct PadParams {
        /// Input shape, padded on the left with ones to `MAX_RANK` dimensions.
        pub input_dims: [u32; MAX_RANK],
        pub before: [u32; MAX_RANK],
        pub after: [u32; MAX_RANK],
    }
}

impl PadParams {
    pub fn output_dims(&self) -> [u32; MAX_RANK] {
        // Saturating: a hostile blob's paddings must not wrap before the
        // op's check compares the sizes.
        core::array::from_fn(|i| {
            self.input_dims[i]
                .saturating_add(self.before[i])
                .saturating_add(self.after[i])
        })
    }
}

/// int8 PAD: TFLM pads with the output zero point, `pad_value`.
pub fn pad_s8(p: &PadParams, pad_value: i8, input: &[i8], output: &mut [i8]) {
    pad(p, pad_value, input, output);
}

/// Float32 constant-mode padding with `value` (ONNX Pad, TFLite PADV2).
pub fn pad_f32(p: &PadParams, value: f32, input: &[f32], output: &mut [f32]) {
    pad(p, value, input, output);
}

/// Padding moves values without arithmetic, so one body serves every type.
fn pad<T: Copy>(p: &PadParams, pad_value: T, input: &[T], output: &mut [T]) {
    let out_dims = p.output_dims().map(|d| d as usize);
    let in_strides = strides(&p.input_dims, 1);
    let mut index = [0usize; MAX_RANK];
    for o in output.iter_mut() {
        let mut inside = true;
        let mut src = 0;
        for d in 0..MAX_RANK {
            let i = index[d] as isize - p.before[d] as isize;
            if i < 0 || i >= p.input_dims[d] as isize {
                inside = false;
                break;
            }
            src += i as usize * in_strides[d];
        }
        *o = match input.get(src) {
            Some(&x) if inside => x,
            _ => pad_value,
        };
        // Advance the output odometer.
        advance(&mut index, &out_dims, |_| true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_a_matrix_on_all_sides() {
        let p = PadParams {
            input_dims: [1, 1, 1, 1, 2, 2],
            before: [0, 0, 0, 0, 1, 0],
            after: [0, 0, 0, 0, 0, 1],
        };
        let mut out = [0i8; 9];
        pad_s8(&p, -5, &[1, 2, 3, 4], &mut out);
        assert_eq!(out, [-5, -5, -5, 1, 2, -5, 3, 4, -5]);
    }

    #[test]
    fn no_padding_is_a_copy() {
        let p = PadParams {
            input_dims: [1, 1, 1, 2, 1, 3],
            ..Default::default()
        };
        let mut out = [0i8; 6];
        pad_s8(&p, 0, &[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn pads_floats_with_the_given_value() {
        let p = PadParams {
            input_dims: [1, 1, 1, 1, 1, 2],
            before: [0, 0, 0, 0, 1, 0],
            after: [0, 0, 0, 0, 0, 1],
        };
        let mut out = [0f32; 6];
        pad_f32(&p, 0.5, &[1.0, 2.0], &mut out);
        assert_eq!(out, [0.5, 0.5, 0.5, 1.0, 2.0, 0.5]);
    }
}
