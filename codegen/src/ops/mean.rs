//! MEAN over any set of axes (and ONNX ReduceMean and GlobalAveragePool):
//! int8 with TFLM's requantized sum, and float32.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::mean::{MeanParams, Reduction};
use kiln::ops::{MeanF32Op, MeanOp};

use super::{IrOp, QuantRule};
use crate::ir::{DataType, Node};
use crate::lower::{invalid, padded_dims, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;

/// MEAN. Inputs: data, axes (an int32 constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mean {
    pub keep_dims: bool,
}

impl IrOp for Mean {
    fn name(&self) -> &'static str {
        "MEAN"
    }

    fn attributes(&self) -> String {
        format!("keep_dims {}", self.keep_dims)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let reduction = reduction(cx, node)?;
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::MeanF32(MeanF32Op {
                reduction,
                input,
                output,
            })));
        }
        let ((si, zi), (so, zo)) = (cx.quant(input)?, cx.quant(out)?);
        let (multiplier, shift) = mean_multiplier(si, so, reduction.reduced_elements().max(1));
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::Mean(MeanOp {
            params: MeanParams {
                reduction,
                input_zero_point: zi,
                output_zero_point: zo,
                multiplier,
                shift,
            },
            input,
            output,
        })))
    }
}

/// Which axes the MEAN reduces (input 1: int32 axes).
fn reduction(cx: &Lowering, node: &Node) -> Lowered<Reduction> {
    let (input, out) = cx.input_output(node)?;
    let axes = cx.input(node, 1)?;
    let Some(axes) = cx.tensor(axes).data_i32() else {
        return unsupported("axes must be a constant int32 tensor");
    };
    let shape = cx.shape(input);
    let input_dims = padded_dims(shape)?;
    let lead = input_dims.len() - shape.len();
    let mut r = Reduction {
        input_dims,
        ..Default::default()
    };
    for &a in &axes {
        let a = if a < 0 { a + shape.len() as i32 } else { a };
        if !(0..shape.len() as i32).contains(&a) {
            return invalid(format!("axis {a} out of range"));
        }
        r.reduce[lead + a as usize] = true;
    }
    if cx.tensor(out).elements() as u64 * r.reduced_elements() != cx.tensor(input).elements() as u64
    {
        return invalid("output size does not match the reduced axes");
    }
    Ok(r)
}

/// `input_scale / output_scale` with the division by the number of reduced
/// elements folded into the multiplier, as TFLM's `QuantizedMeanOrSum` does.
fn mean_multiplier(input_scale: f32, output_scale: f32, reduced: u64) -> (i32, i32) {
    let (multiplier, shift) = quantize_multiplier(f64::from(input_scale) / f64::from(output_scale));
    let bits = 63 - reduced.leading_zeros() as i32;
    let bits = bits.min(32).min(31 + shift);
    let multiplier = ((i64::from(multiplier) << bits) / reduced as i64) as i32;
    (multiplier, shift - bits)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_folds_the_count() {
        // scale ratio 1 -> (2^30, 1); 4 elements -> 2^30 with shift -1.
        assert_eq!(super::mean_multiplier(0.5, 0.5, 4), (1 << 30, -1));
    }
}
