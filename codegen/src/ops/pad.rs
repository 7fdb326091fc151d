//! PAD (constant mode): int8 with the zero point, as TFLM pads (a real
//! zero), and float32 with any value (input 2, a scalar, or zero).
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::pad::PadParams;
use kiln::ops::{PadF32Op, PadOp};

use super::{IrOp, QuantRule};
use crate::ir::{DataType, Node};
use crate::lower::{invalid, padded_dims, unsupported, Lowered, Lowering};

/// PAD. Inputs: data, paddings `[rank, 2]` (int32 constant), optional
/// value (a float32 scalar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad;

impl IrOp for Pad {
    fn name(&self) -> &'static str {
        "PAD"
    }

    /// TFLM pads int8 with the zero point only: a valued PAD stays float32.
    fn quantization(&self, node: &Node) -> QuantRule {
        if node.input(2).is_some() {
            QuantRule::Float
        } else {
            QuantRule::KeepsInputParameters
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        if cx.is_float(node) {
            let value = match node.input(2) {
                Some(v) => match cx.weight_data(v, DataType::F32)? {
                    [a, b, c, d] => f32::from_le_bytes([*a, *b, *c, *d]),
                    _ => return invalid("the pad value must be one float32"),
                },
                None => 0.0,
            };
            let params = pad_params(cx, node)?;
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::PadF32(PadF32Op {
                params,
                value,
                input,
                output,
            })));
        }
        cx.same_quantization(input, out, "PAD")?;
        if node.input(2).is_some() {
            return unsupported(
                "int8 PAD with an explicit pad value (TFLM pads with the zero point)",
            );
        }
        let params = pad_params(cx, node)?;
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::Pad(PadOp {
            params,
            value: cx.quant(out)?.1 as i8,
            input,
            output,
        })))
    }
}

/// Where the input lands in the output (input 1: int32 paddings).
fn pad_params(cx: &Lowering, node: &Node) -> Lowered<PadParams> {
    let (input, out) = cx.input_output(node)?;
    let paddings = cx.input(node, 1)?;
    let Some(p) = cx.tensor(paddings).data_i32() else {
        return unsupported("paddings must be a constant int32 tensor");
    };
    let shape = cx.shape(input);
    if p.len() != 2 * shape.len() || p.iter().any(|&v| v < 0) {
        return invalid(format!("paddings {p:?} do not fit shape {shape:?}"));
    }
    let input_dims = padded_dims(shape)?;
    let lead = input_dims.len() - shape.len();
    let mut params = PadParams {
        input_dims,
        ..Default::default()
    };
    for i in 0..shape.len() {
        params.before[lead + i] = p[2 * i] as u32;
        params.after[lead + i] = p[2 * i + 1] as u32;
    }
    let expected: u64 = params.output_dims().iter().map(|&d| u64::from(d)).product();
    if expected != cx.tensor(out).elements() as u64 {
        return invalid("output shape does not match the paddings");
    }
    Ok(params)
}
