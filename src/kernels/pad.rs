//! PAD: constant (int8 pads with the output zero point, which represents
//! real zero; float32 with any value), and the modes that copy input values
//! into the border instead: MIRROR_PAD's REFLECT and SYMMETRIC, and ONNX's
//! edge and wrap.
//!
//! Layer: kernels; a pure function over slices, uses `tensor`.

use crate::kernels::odometer::{advance, strides};
use crate::tensor::MAX_RANK;
use crate::wire::{wire_enum, wire_struct};

wire_enum! {
    /// What fills the border.
    pub enum PadMode {
        /// The pad value.
        #[default]
        Constant = 0,
        /// The input mirrored about its edge value (`3 2 | 1 2 3 | 2 1`).
        Reflect = 1,
        /// The input mirrored with its edge value (`2 1 | 1 2 3 | 3 2`).
        Symmetric = 2,
        /// The edge value repeated (`1 1 | 1 2 3 | 3 3`).
        Edge = 3,
        /// The input repeated (`2 3 | 1 2 3 | 1 2`).
        Wrap = 4,
    }
}

impl PadMode {
    /// The input coordinate border coordinate `i` (counted from the input's
    /// start, negative before it) copies along a dimension of `n` values,
    /// or `None` for the pad value. Beyond one mirror image the border
    /// keeps folding (TFLite's MIRROR_PAD never pads that far).
    #[inline(always)]
    pub fn source(self, i: i64, n: i64) -> Option<usize> {
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        if n <= 0 {
            return None;
        }
        let from = |m: Option<i64>| m.and_then(|m| usize::try_from(m).ok());
        match self {
            PadMode::Constant => None,
            PadMode::Edge => from(Some(i.max(0).min(n - 1))),
            PadMode::Wrap => from(i.checked_rem_euclid(n)),
            PadMode::Reflect if n == 1 => Some(0),
            PadMode::Reflect => {
                let m = i.checked_rem_euclid(2 * (n - 1));
                from(m.map(|m| if m < n { m } else { 2 * (n - 1) - m }))
            }
            PadMode::Symmetric => {
                let m = i.checked_rem_euclid(2 * n);
                from(m.map(|m| if m < n { m } else { 2 * n - 1 - m }))
            }
        }
    }
}

wire_struct! {
    /// Where a PAD puts its input and what fills the border, for any
    /// element type.
    pub struct PadParams {
        /// Input shape, padded on the left with ones to `MAX_RANK` dimensions.
        pub input_dims: [u32; MAX_RANK],
        pub before: [u32; MAX_RANK],
        pub after: [u32; MAX_RANK],
        pub mode: PadMode,
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

/// PAD of any values with `pad_value` in constant mode (int8: TFLM pads
/// with the output zero point; float32 and plain integers with any value):
/// padding moves values without arithmetic, so one body serves every type.
pub fn pad<T: Copy>(p: &PadParams, pad_value: T, input: &[T], output: &mut [T]) {
    let out_dims = p.output_dims().map(|d| d as usize);
    let in_strides = strides(&p.input_dims, 1);
    let mut index = [0usize; MAX_RANK];
    for o in output.iter_mut() {
        let mut inside = true;
        let mut src = 0;
        for d in 0..MAX_RANK {
            let i = index[d] as i64 - i64::from(p.before[d]);
            match p.mode.source(i, i64::from(p.input_dims[d])) {
                Some(i) => src += i * in_strides[d],
                None => {
                    inside = false;
                    break;
                }
            }
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
            mode: PadMode::Constant,
        };
        let mut out = [0i8; 9];
        pad(&p, -5, &[1, 2, 3, 4], &mut out);
        assert_eq!(out, [-5, -5, -5, 1, 2, -5, 3, 4, -5]);
    }

    #[test]
    fn every_mode_fills_the_border_from_the_input() {
        let at = |mode: PadMode| -> [i8; 7] {
            let p = PadParams {
                input_dims: [1, 1, 1, 1, 1, 3],
                before: [0, 0, 0, 0, 0, 2],
                after: [0, 0, 0, 0, 0, 2],
                mode,
            };
            let mut out = [0i8; 7];
            pad(&p, -9, &[1, 2, 3], &mut out);
            out
        };
        assert_eq!(at(PadMode::Constant), [-9, -9, 1, 2, 3, -9, -9]);
        assert_eq!(at(PadMode::Reflect), [3, 2, 1, 2, 3, 2, 1]);
        assert_eq!(at(PadMode::Symmetric), [2, 1, 1, 2, 3, 3, 2]);
        assert_eq!(at(PadMode::Edge), [1, 1, 1, 2, 3, 3, 3]);
        assert_eq!(at(PadMode::Wrap), [2, 3, 1, 2, 3, 1, 2]);
        // Past one mirror image, reflection keeps folding.
        assert_eq!(PadMode::Reflect.source(-5, 3), Some(1));
        assert_eq!(PadMode::Reflect.source(4, 1), Some(0));
    }

    #[test]
    fn no_padding_is_a_copy() {
        let p = PadParams {
            input_dims: [1, 1, 1, 2, 1, 3],
            ..Default::default()
        };
        let mut out = [0i8; 6];
        pad(&p, 0, &[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn pads_floats_with_the_given_value() {
        let p = PadParams {
            input_dims: [1, 1, 1, 1, 1, 2],
            before: [0, 0, 0, 0, 1, 0],
            after: [0, 0, 0, 0, 0, 1],
            mode: PadMode::Constant,
        };
        let mut out = [0f32; 6];
        pad(&p, 0.5, &[1.0, 2.0], &mut out);
        assert_eq!(out, [0.5, 0.5, 0.5, 1.0, 2.0, 0.5]);
    }
}
