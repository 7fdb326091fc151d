//! FULLY_CONNECTED (and ONNX Gemm and MatMul with constant weights), int8
//! with per-tensor or per-channel requantization, and float32.
//!
//! Layer: ops; uses `lower`, the weighted-op lowering of `ops::conv2d` and
//! `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::fully_connected::{FullyConnectedParams, FullyConnectedShape};
use kiln::ops::{FullyConnectedF32Op, FullyConnectedOp};

use super::conv2d::{output_elements, WeightsS8};
use super::{IrOp, QuantRule};
use crate::ir::{Activation, DataType, Graph, Node};
use crate::lower::{float_range, invalid, to_u32, Lowered, Lowering};
use crate::quantize::multiplier::{
    activation_range, fully_connected_multiplier, per_channel_multipliers,
};

/// FULLY_CONNECTED. Inputs: data, filter `[O, I]`, optional bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FullyConnected {
    pub activation: Activation,
    pub keep_num_dims: bool,
}

impl IrOp for FullyConnected {
    fn name(&self) -> &'static str {
        "FULLY_CONNECTED"
    }

    fn attributes(&self) -> String {
        format!("{:?}", self.activation)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Weights { axis: 0 }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let filter = cx.input(node, 1)?;
        let fshape = cx.shape(filter).to_vec();
        let [output_depth, depth] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [O, I]"));
        };
        let in_elements = cx.tensor(input).elements();
        if depth == 0 || in_elements % depth != 0 {
            return invalid(format!(
                "input of {in_elements} values does not split into rows of {depth}"
            ));
        }
        let batches = in_elements / depth;
        if cx.tensor(out).elements() != batches * output_depth {
            return invalid("output size is not batches x output depth");
        }
        let shape = FullyConnectedShape {
            batches: to_u32(batches)?,
            input_depth: to_u32(depth)?,
            output_depth: to_u32(output_depth)?,
        };
        if cx.is_float(node) {
            return Ok(Some(Op::FullyConnectedF32(FullyConnectedF32Op {
                shape,
                activation: float_range(self.activation),
                input: cx.activation(input, DataType::F32)?,
                filter: cx.copied_constant(filter, DataType::F32)?,
                bias: cx.optional_constant(node.input(2), DataType::F32, output_depth)?,
                output: cx.activation(out, DataType::F32)?,
            })));
        }
        let w = WeightsS8::lower(cx, node, output_depth)?;
        let (multipliers, shifts) = if w.scales.len() > 1 {
            per_channel_multipliers(w.input_scale, &w.scales, w.output_scale, output_depth)
        } else {
            let (m, s) = fully_connected_multiplier(w.input_scale, w.scales[0], w.output_scale);
            (vec![m], vec![s])
        };
        let (activation_min, activation_max) =
            activation_range(self.activation, w.output_scale, w.output_zero_point);
        Ok(Some(Op::FullyConnected(FullyConnectedOp {
            params: FullyConnectedParams {
                shape,
                input_offset: -w.input_zero_point,
                filter_offset: 0,
                output_offset: w.output_zero_point,
                activation_min,
                activation_max,
            },
            input: cx.activation(input, DataType::I8)?,
            filter: w.filter,
            bias: w.bias,
            multiplier: cx.i32s(&multipliers)?,
            shift: cx.i32s(&shifts)?,
            output: cx.activation(out, DataType::I8)?,
        })))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let filter = node.input(1).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        output_elements(g, node) * filter.get(1).copied().unwrap_or(0) as u64
    }
}
