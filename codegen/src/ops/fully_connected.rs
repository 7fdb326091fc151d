//! FULLY_CONNECTED (and ONNX Gemm and MatMul with constant weights), int8
//! with per-tensor or per-channel requantization, int16 (16x8) and
//! float32.
//!
//! Layer: ops; uses `lower`, the weighted-op lowering of `ops::conv2d` and
//! `quantize::multiplier`.

use kiln::arch::{folded_bias, KernelChoice};
use kiln::graph::Op;
use kiln::kernels::fully_connected::{
    FullyConnectedParams, FullyConnectedS16Params, FullyConnectedShape,
};
use kiln::ops::{FullyConnectedF32Op, FullyConnectedOp, FullyConnectedS16Op};

use super::conv2d::{output_elements, shifts_16x8, weights_16x8, WeightsS8};
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Activation, DataType, Graph, Node, OpKind};
use crate::lower::{float_range, invalid, to_u32, Lowered, Lowering};
use crate::quantize::multiplier::{
    activation_range, activation_range_i16, fully_connected_multiplier, per_channel_multipliers,
};
use crate::stack::Stack;

/// FULLY_CONNECTED. Inputs: data, filter `[O, I]`, optional bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FullyConnected {
    pub activation: Activation,
    pub keep_num_dims: bool,
}

impl FullyConnected {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("FULLY_CONNECTED", from_tflite)],
        onnx: &[
            OnnxConverter {
                op_type: "Gemm",
                inputs: 2,
                convert: gemm_from_onnx,
            },
            OnnxConverter {
                op_type: "MatMul",
                inputs: 2,
                convert: gemm_from_onnx,
            },
        ],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
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
        if depth == 0 || !in_elements.is_multiple_of(depth) {
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
        if cx.dtype(input) == DataType::I16 {
            return lower_s16(cx, node, shape, self.activation).map(Some);
        }
        let w = WeightsS8::lower(cx, node, output_depth)?;
        let (multipliers, shifts) = multipliers(&w, output_depth);
        let (activation_min, activation_max) =
            activation_range(self.activation, w.output_scale, w.output_zero_point);
        let kernel = int8_kernel(cx.graph(), node);
        let folded = match kernel {
            KernelChoice::Gemm => {
                let filter: Vec<i8> =
                    bytemuck::cast_slice(cx.weight_data(filter, DataType::I8)?).to_vec();
                let bias: Vec<i32> = match node.input(2) {
                    Some(b) => cx
                        .weight_data(b, DataType::I32)?
                        .chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                    None => Vec::new(),
                };
                let mut folded = vec![0i32; output_depth];
                folded_bias(&filter, &bias, depth, -w.input_zero_point, &mut folded);
                cx.i32s(&folded)?
            }
            _ => kiln::tensor::Span::default(),
        };
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
            kernel,
            folded_bias: folded,
        })))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let filter = node.input(1).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        output_elements(g, node) * filter.get(1).copied().unwrap_or(0) as u64
    }

    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }

    fn int8_kernel(&self, g: &Graph, node: &Node) -> KernelChoice {
        int8_kernel(g, node)
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let input = node.input(0).map(|t| g.tensors[t].dtype);
        if input == Some(DataType::I16) {
            // Painted on fully_connected_int16.
            return Stack::new(296, 192, 192, 112);
        }
        match int8_kernel(g, node) {
            // Painted on ad01 (the M0's on hello_world: ad01 does not fit).
            KernelChoice::Gemm => Stack::new(388, 372, 372, 216),
            _ => Stack::new(296, 192, 192, 96),
        }
    }
}

/// TFLM's requantization multipliers: per channel from double-precision
/// scales, or one from the scales' single-precision product.
fn multipliers(w: &WeightsS8, output_depth: usize) -> (Vec<i32>, Vec<i32>) {
    if w.scales.len() > 1 {
        per_channel_multipliers(w.input_scale, &w.scales, w.output_scale, output_depth)
    } else {
        let (m, s) = fully_connected_multiplier(w.input_scale, w.scales[0], w.output_scale);
        (vec![m], vec![s])
    }
}

/// int16 FULLY_CONNECTED (TFLite's 16x8 scheme), TFLM's reference kernel.
fn lower_s16(
    cx: &mut Lowering,
    node: &Node,
    shape: FullyConnectedShape,
    activation: Activation,
) -> Lowered<Op> {
    let (input, out) = cx.input_output(node)?;
    let (w, int64_accumulator) = weights_16x8(cx, node, shape.output_depth as usize)?;
    let (multipliers, shifts) = multipliers(&w, shape.output_depth as usize);
    shifts_16x8(int64_accumulator, &shifts)?;
    let (activation_min, activation_max) = activation_range_i16(activation, w.output_scale);
    Ok(Op::FullyConnectedS16(FullyConnectedS16Op {
        params: FullyConnectedS16Params {
            shape,
            activation_min,
            activation_max,
        },
        int64_accumulator,
        input: cx.activation(input, DataType::I16)?,
        filter: w.filter,
        bias: w.bias,
        multiplier: cx.i32s(&multipliers)?,
        shift: cx.i32s(&shifts)?,
        output: cx.activation(out, DataType::I16)?,
    }))
}

/// The implementation of an int8 FULLY_CONNECTED: four filter rows at a
/// time against the input as stored, the input offset folded into the bias
/// (`kiln::arch`; the codegen writes symmetric weights only), when the layer
/// has at least [`GEMM_MIN_OUTPUTS`] outputs; the reference kernel for
/// narrower ones, where the repeated rows of a last group would be most of
/// the work. Neither takes scratch.
fn int8_kernel(g: &Graph, node: &Node) -> KernelChoice {
    let input = node.input(0).map(|t| &g.tensors[t]);
    let filter = node.input(1).map(|t| &g.tensors[t].shape[..]);
    match (input, filter) {
        (Some(x), Some(&[outputs, _]))
            if x.dtype == DataType::I8 && outputs >= GEMM_MIN_OUTPUTS =>
        {
            KernelChoice::Gemm
        }
        _ => KernelChoice::Reference,
    }
}

/// Outputs from which the four-row kernel pays off.
const GEMM_MIN_OUTPUTS: usize = 4;

fn from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    if op.i8(1, 0)? != 0 {
        op.unsupported("shuffled weights format".into());
    }
    Ok(OpKind::FullyConnected(FullyConnected {
        activation: op.activation(0)?,
        keep_num_dims: op.bool(2)?,
    }))
}

/// ONNX Gemm and MatMul with a constant 2-D weight: `alpha` folds into the
/// weights, `beta` into the bias, and the weights become `[N, K]`. A
/// transposed `A` goes through a TRANSPOSE; a bias `C` that is not one
/// value per output (a matrix, a column) is an ADD after the layer. Any
/// other MatMul (two activations, a batched or 1-D constant) is a
/// BATCH_MATMUL.
fn gemm_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let op = n.op_type.as_str();
    let weight_2d = cx
        .constants
        .get(&n.inputs[1])
        .is_some_and(|b| b.dims.len() == 2);
    if op == "MatMul" && (!weight_2d || !cx.values.contains_key(&n.inputs[0])) {
        return super::batch_matmul::matmul_from_onnx(cx, n);
    }
    let mut a = cx.value(&n.inputs[0])?;
    let b = cx.constant(&n.inputs[1])?.clone();
    let sb = b
        .shape()
        .filter(|s| s.len() == 2)
        .ok_or("the weight must be a 2-D constant")?;
    let values = b.f32s().ok_or("weights must be float32")?;
    let (trans_a, trans_b) = (
        n.int("transA", 0),
        if op == "Gemm" { n.int("transB", 0) } else { 0 },
    );
    // A transposed `A` ([K, M]) goes through a TRANSPOSE first.
    if trans_a != 0 {
        if cx.shape(a).len() != 2 {
            return Err(format!("transA of a rank-{} input", cx.shape(a).len()));
        }
        a = cx.relayout(a, &[1, 0], format!("{} (A transposed)", n.outputs[0]), op);
    }
    let sa = cx.shape(a);
    let (alpha, beta) = (n.float("alpha", 1.0), n.float("beta", 1.0));
    // The filter is [N, K].
    let (k, nn) = if trans_b != 0 {
        (sb[1], sb[0])
    } else {
        (sb[0], sb[1])
    };
    if sa.last() != Some(&k) || (op == "Gemm" && sa.len() != 2) {
        return Err(format!("input {sa:?} does not fit weights {sb:?}"));
    }
    let mut filter = vec![0f32; k * nn];
    for o in 0..nn {
        for i in 0..k {
            filter[o * k + i] = alpha
                * if trans_b != 0 {
                    values[o * k + i]
                } else {
                    values[i * nn + o]
                };
        }
    }
    let filter = cx.f32_constant(b.name.clone(), vec![nn, k], &filter);
    let mut out_shape = sa.clone();
    *out_shape.last_mut().expect("rank >= 1") = nn;
    // `C` as the layer's bias where it is one value per output (or one
    // value), or else added after the layer with broadcasting.
    let mut matrix_bias = None;
    let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(c) => {
            let c = cx.constant(c)?.clone();
            let v = c.f32s().ok_or("bias must be float32")?;
            let shape = c.shape().unwrap_or_default();
            let full: Vec<f32> = match v.len() {
                1 => vec![v[0] * beta; nn],
                len if len == nn
                    && shape.iter().product::<usize>() == nn
                    && shape.last() == Some(&nn) =>
                {
                    v.iter().map(|x| x * beta).collect()
                }
                _ => {
                    let scaled: Vec<f32> = v.iter().map(|x| x * beta).collect();
                    matrix_bias =
                        Some(cx.f32_constant(format!("{} (C)", n.outputs[0]), shape, &scaled));
                    vec![0.0; nn]
                }
            };
            Some(cx.f32_constant(format!("{} (bias)", n.name), vec![nn], &full))
        }
        None => None,
    };
    let name = n.outputs[0].clone();
    let out = match matrix_bias {
        Some(_) => cx.new_value(format!("{name} (A B)"), out_shape),
        None => cx.new_output(n, out_shape),
    };
    cx.push(
        OpKind::FullyConnected(FullyConnected {
            activation: Activation::None,
            keep_num_dims: true,
        }),
        vec![Some(a), Some(filter), bias],
        vec![out],
        op,
    );
    if let Some(c) = matrix_bias {
        let add = OpKind::Add(crate::ops::Add {
            activation: Activation::None,
        });
        cx.binary(add, out, c, name, op)?;
    }
    Ok(())
}
