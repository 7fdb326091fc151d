//! Lowering: IR nodes to the runtime's op descriptors. Here every derived
//! constant of TFLM's kernel `Prepare` step is computed (padding,
//! requantization multipliers, activation clamps, broadcast strides), the
//! constants are laid out in one 16-byte aligned weights blob, and the arena
//! plan gives each tensor its span.
//!
//! Layer: lower; uses `ir`, `plan`, `quantize` and the runtime's `graph`.
//! The resulting [`CompiledModel`] is what the emitter prints as Rust and
//! what the host CLI runs through `kiln::Executor`: the same ops either way.

use std::path::PathBuf;

use kiln::graph::*;
use kiln::kernels::activation::{HardSwishParams, RequantizeParams, SigmoidParams};
use kiln::kernels::conv2d::Conv2dParams;
use kiln::kernels::depthwise_conv2d::DepthwiseConv2dParams;
use kiln::kernels::elementwise::{AddParams, Broadcast, MulParams, PReluParams};
use kiln::kernels::fully_connected::FullyConnectedParams;
use kiln::kernels::mean::MeanParams;
use kiln::kernels::pad::PadParams;
use kiln::kernels::pooling::PoolParams;
use kiln::kernels::quantize::AffineParams;
use kiln::kernels::slice::SliceParams;
use kiln::kernels::softmax::SoftmaxParams;
use kiln::kernels::transpose::TransposeParams;
use kiln::tensor::{FloatRange, Nhwc, MAX_RANK};
use kiln::{DType, Span};

use crate::error::{Error, Result, Unsupported};
use crate::ir::{self, Activation, DataType, Graph, Node, OpKind, Padding, TensorId};
use crate::plan::{self, ArenaPlan};
use crate::quantize::multiplier::*;

/// Larger arenas are rejected: no microcontroller has them, and the arena
/// must be addressable with `u32` offsets.
pub const MAX_ARENA_BYTES: usize = 1 << 30;

/// A model ready to run or emit.
pub struct CompiledModel {
    pub graph: Graph,
    pub plan: ArenaPlan,
    pub ops: Vec<Op>,
    /// The IR node each op came from.
    pub op_nodes: Vec<usize>,
    pub inputs: Vec<TensorIo>,
    pub outputs: Vec<TensorIo>,
    /// Backing store of the weights; `u128` for 16-byte alignment.
    weights: Vec<u128>,
    weights_len: usize,
}

impl CompiledModel {
    pub fn source(&self) -> &PathBuf {
        &self.graph.source
    }

    pub fn weights(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.weights)[..self.weights_len]
    }

    pub fn arena_bytes(&self) -> usize {
        self.plan.arena_bytes
    }

    /// The runtime view, borrowing this model's ops and weights.
    pub fn runtime_graph(&self) -> kiln::Graph<'_> {
        kiln::Graph {
            ops: &self.ops,
            inputs: &self.inputs,
            outputs: &self.outputs,
            arena_bytes: self.plan.arena_bytes as u32,
            weights: self.weights(),
        }
    }
}

/// Lowers an imported graph. Unsupported types and options are collected
/// over all nodes and reported together.
pub fn compile(graph: Graph) -> Result<CompiledModel> {
    let plan = plan::plan(&graph);
    if plan.arena_bytes > MAX_ARENA_BYTES {
        return Err(Error::Invalid {
            path: graph.source.clone(),
            detail: format!(
                "the arena would need {} bytes (over {MAX_ARENA_BYTES})",
                plan.arena_bytes
            ),
        });
    }
    let mut lowering = Lowering {
        g: &graph,
        plan: &plan,
        weights: Vec::new(),
        problems: Vec::new(),
    };
    let mut ops = Vec::new();
    let mut op_nodes = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        match lowering.node(node) {
            Ok(Some(op)) => {
                ops.push(op);
                op_nodes.push(i);
            }
            Ok(None) => {}
            Err(Problem::Unsupported(reason)) => lowering.unsupported(i, node, reason),
            Err(Problem::Invalid(detail)) => {
                return Err(Error::Invalid {
                    path: graph.source.clone(),
                    detail: format!("op #{i} {}: {detail}", node.source_name),
                })
            }
        }
    }
    let io = |ids: &[TensorId], lowering: &mut Lowering| -> Vec<TensorIo> {
        ids.iter()
            .filter_map(|&t| match lowering.tensor_io(t) {
                Ok(io) => Some(io),
                Err(Problem::Unsupported(reason)) | Err(Problem::Invalid(reason)) => {
                    lowering.problems.push(Unsupported {
                        op_index: None,
                        op_name: "model input/output".into(),
                        tensors: vec![graph.tensors[t].name.clone()],
                        reason,
                    });
                    None
                }
            })
            .collect()
    };
    let inputs = io(&graph.inputs, &mut lowering);
    let outputs = io(&graph.outputs, &mut lowering);
    if !lowering.problems.is_empty() {
        return Err(Error::Unsupported {
            path: graph.source.clone(),
            problems: lowering.problems,
        });
    }
    let weights_len = lowering.weights.len();
    let mut weights = vec![0u128; weights_len.div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut weights)[..weights_len]
        .copy_from_slice(&lowering.weights);
    let model = CompiledModel {
        graph,
        plan,
        ops,
        op_nodes,
        inputs,
        outputs,
        weights,
        weights_len,
    };
    kiln::exec::validate(&model.runtime_graph()).map_err(|error| Error::Runtime {
        path: model.graph.source.clone(),
        error,
    })?;
    Ok(model)
}

enum Problem {
    Unsupported(String),
    Invalid(String),
}

type Lowered<T> = std::result::Result<T, Problem>;

fn unsupported<T>(reason: impl Into<String>) -> Lowered<T> {
    Err(Problem::Unsupported(reason.into()))
}

fn invalid<T>(detail: impl Into<String>) -> Lowered<T> {
    Err(Problem::Invalid(detail.into()))
}

fn to_u32(v: usize) -> Lowered<u32> {
    u32::try_from(v).or_else(|_| invalid(format!("dimension {v} too large")))
}

struct Lowering<'g> {
    g: &'g Graph,
    plan: &'g ArenaPlan,
    weights: Vec<u8>,
    problems: Vec<Unsupported>,
}

impl Lowering<'_> {
    fn unsupported(&mut self, index: usize, node: &Node, reason: String) {
        let tensors = node
            .inputs
            .iter()
            .flatten()
            .chain(&node.outputs)
            .map(|&t| self.g.tensors[t].name.clone())
            .collect();
        self.problems.push(Unsupported {
            op_index: Some(index),
            op_name: node.source_name.clone(),
            tensors,
            reason,
        });
    }

    fn tensor(&self, t: TensorId) -> &ir::Tensor {
        &self.g.tensors[t]
    }

    fn input(&self, node: &Node, i: usize) -> Lowered<TensorId> {
        match node.input(i) {
            Some(t) => Ok(t),
            None => invalid(format!("missing input {i}")),
        }
    }

    fn output(&self, node: &Node) -> Lowered<TensorId> {
        match node.outputs.first() {
            Some(&t) => Ok(t),
            None => invalid("no output"),
        }
    }

    /// An activation tensor's span in the arena, requiring `dtype`.
    fn activation(&self, t: TensorId, dtype: DataType) -> Lowered<Span> {
        let tensor = self.tensor(t);
        if tensor.is_constant() {
            return unsupported(format!(
                "constant tensor '{}' used as an activation input",
                tensor.name
            ));
        }
        if tensor.dtype != dtype {
            return unsupported(format!(
                "tensor '{}' is {}, kiln needs {} here",
                tensor.name,
                tensor.dtype.name(),
                dtype.name()
            ));
        }
        let Some(offset) = self.plan.offset(t) else {
            return invalid(format!(
                "tensor '{}' has no place in the arena",
                tensor.name
            ));
        };
        Ok(Span::new(to_u32(offset)?, to_u32(tensor.bytes())?))
    }

    fn i8_activation(&self, t: TensorId) -> Lowered<Span> {
        self.activation(t, DataType::I8)
    }

    /// Per-tensor scale and zero point of an int8 tensor.
    fn quant(&self, t: TensorId) -> Lowered<(f32, i32)> {
        let tensor = self.tensor(t);
        match &tensor.quantization {
            Some(q) if q.scale0() > 0.0 && q.scale0().is_finite() => {
                let zp = q.zero_point0();
                if !(-128..=127).contains(&zp) {
                    return invalid(format!(
                        "tensor '{}' has zero point {zp} outside int8",
                        tensor.name
                    ));
                }
                Ok((q.scale0(), zp))
            }
            _ => unsupported(format!(
                "tensor '{}' has no usable quantization parameters",
                tensor.name
            )),
        }
    }

    /// Appends constant bytes to the weights, 16-byte aligned.
    fn constant(&mut self, bytes: &[u8]) -> Lowered<Span> {
        let offset = self.weights.len().div_ceil(plan::ALIGNMENT) * plan::ALIGNMENT;
        self.weights.resize(offset, 0);
        self.weights.extend_from_slice(bytes);
        Ok(Span::new(to_u32(offset)?, to_u32(bytes.len())?))
    }

    fn i32s(&mut self, values: &[i32]) -> Lowered<Span> {
        self.constant(bytemuck::cast_slice(values))
    }

    fn weight_data(&self, t: TensorId, dtype: DataType) -> Lowered<&[u8]> {
        let tensor = self.tensor(t);
        if tensor.dtype != dtype {
            return unsupported(format!(
                "constant '{}' is {}, kiln needs {}",
                tensor.name,
                tensor.dtype.name(),
                dtype.name()
            ));
        }
        match &tensor.data {
            Some(d) => Ok(d),
            None => unsupported(format!(
                "'{}' must be a constant (weights computed at run time are not supported)",
                tensor.name
            )),
        }
    }

    fn filter_scales(&self, t: TensorId, channels: usize) -> Lowered<Vec<f32>> {
        let tensor = self.tensor(t);
        let Some(q) = &tensor.quantization else {
            return unsupported(format!("filter '{}' is not quantized", tensor.name));
        };
        if q.zero_point.iter().any(|&z| z != 0) {
            return unsupported(format!(
                "filter '{}' is asymmetric (non-zero zero point)",
                tensor.name
            ));
        }
        if q.scale.len() != 1 && q.scale.len() != channels {
            return invalid(format!(
                "filter '{}' has {} scales for {channels} channels",
                tensor.name,
                q.scale.len()
            ));
        }
        Ok(q.scale.clone())
    }

    /// Bias (optional input 2) as an int32 constant.
    fn bias(&mut self, node: &Node, channels: usize) -> Lowered<Span> {
        let Some(t) = node.input(2) else {
            return Ok(Span::EMPTY);
        };
        let data = self.weight_data(t, DataType::I32)?.to_vec();
        if data.len() != channels * 4 {
            return invalid(format!(
                "bias has {} values for {channels} channels",
                data.len() / 4
            ));
        }
        self.constant(&data)
    }

    fn nhwc(&self, t: TensorId) -> Lowered<Nhwc> {
        let tensor = self.tensor(t);
        match tensor.shape[..] {
            [n, h, w, c] => Ok(Nhwc::new(to_u32(n)?, to_u32(h)?, to_u32(w)?, to_u32(c)?)),
            _ => unsupported(format!(
                "tensor '{}' has shape {:?}; this op needs 4-D NHWC",
                tensor.name, tensor.shape
            )),
        }
    }

    fn tensor_io(&self, t: TensorId) -> Lowered<TensorIo> {
        let tensor = self.tensor(t);
        let dtype = match tensor.dtype {
            DataType::I8 => DType::I8,
            DataType::F32 => DType::F32,
            DataType::I16 => DType::I16,
            DataType::I32 => DType::I32,
            other => return unsupported(format!("{} model inputs and outputs", other.name())),
        };
        if tensor.shape.len() > MAX_RANK {
            return unsupported(format!("rank {} inputs and outputs", tensor.shape.len()));
        }
        let mut dims = [0u32; MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(&tensor.shape) {
            *d = to_u32(s)?;
        }
        let quantization = tensor
            .quantization
            .as_ref()
            .map(|q| kiln::Quantization {
                scale: q.scale0(),
                zero_point: q.zero_point0(),
            })
            .unwrap_or_default();
        let Some(offset) = self.plan.offset(t) else {
            return unsupported("a constant model output");
        };
        Ok(TensorIo {
            span: Span::new(to_u32(offset)?, to_u32(tensor.bytes())?),
            dtype,
            dims,
            rank: tensor.shape.len() as u32,
            quantization,
        })
    }

    fn node(&mut self, node: &Node) -> Lowered<Option<Op>> {
        let out = self.output(node)?;
        let float_input = node
            .input(0)
            .is_some_and(|t| self.tensor(t).dtype == DataType::F32);
        if float_input
            && !matches!(
                node.kind,
                OpKind::Quantize
                    | OpKind::Reshape
                    | OpKind::Transpose { .. }
                    | OpKind::Slice { .. }
            )
        {
            return self.float_node(node, out).map(Some);
        }
        Ok(Some(match &node.kind {
            OpKind::Conv2d(a) => Op::Conv2d(self.conv(node, a)?),
            OpKind::TransposeConv2d(a) => Op::TransposeConv2d(self.transpose_conv(node, a)?),
            OpKind::DepthwiseConv2d(a) => Op::DepthwiseConv2d(self.depthwise(node, a)?),
            OpKind::FullyConnected { activation, .. } => {
                Op::FullyConnected(self.fully_connected(node, *activation)?)
            }
            OpKind::AveragePool2d(a) => Op::AveragePool2d(self.pool(node, a)?),
            OpKind::MaxPool2d(a) => Op::MaxPool2d(self.pool(node, a)?),
            OpKind::Add { activation } => Op::Add(self.add(node, *activation)?),
            OpKind::Sub { activation } => Op::Sub(self.add(node, *activation)?),
            OpKind::Mul { activation } => Op::Mul(self.mul(node, *activation)?),
            OpKind::Softmax { beta } => {
                let input = self.input(node, 0)?;
                let (in_scale, _) = self.quant(input)?;
                self.fixed_output(out, 1.0 / 256.0, -128)?;
                let (input_multiplier, input_left_shift, diff_min) =
                    softmax_params(*beta, in_scale);
                let shape = &self.tensor(input).shape;
                let depth = *shape.last().unwrap_or(&1);
                let outer = self.tensor(input).elements() / depth.max(1);
                Op::Softmax(SoftmaxOp {
                    params: SoftmaxParams {
                        outer: to_u32(outer)?,
                        depth: to_u32(depth)?,
                        input_multiplier,
                        input_left_shift,
                        diff_min,
                    },
                    input: self.i8_activation(input)?,
                    output: self.i8_activation(out)?,
                })
            }
            OpKind::Logistic | OpKind::Tanh => {
                let input = self.input(node, 0)?;
                let (in_scale, in_zp) = self.quant(input)?;
                let (input_multiplier, input_left_shift, input_range_radius) =
                    sigmoid_params(in_scale);
                let op = SigmoidOp {
                    params: SigmoidParams {
                        input_zero_point: in_zp,
                        input_range_radius,
                        input_multiplier,
                        input_left_shift,
                    },
                    input: self.i8_activation(input)?,
                    output: self.i8_activation(out)?,
                };
                self.same_elements(input, out)?;
                if node.kind == OpKind::Logistic {
                    self.fixed_output(out, 1.0 / 256.0, -128)?;
                    Op::Logistic(op)
                } else {
                    self.fixed_output(out, 1.0 / 128.0, 0)?;
                    Op::Tanh(op)
                }
            }
            // TFLM's RELU6 clamps the input bytes to the input's own 0
            // and 6 without rescaling, whatever the output's quantization.
            OpKind::Relu(Activation::Relu6) => Op::Requantize(self.clamp_bytes(node, 0.0, 6.0)?),
            // ONNX Clip, which TFLM has no kernel for: the same clamp, with
            // the output sharing the input's parameters (PTQ makes it so).
            OpKind::Clip { min, max } => {
                let input = self.input(node, 0)?;
                if self.quant(input)? != self.quant(out)? {
                    return unsupported("CLIP with different input and output quantization");
                }
                Op::Requantize(self.clamp_bytes(node, *min, *max)?)
            }
            OpKind::Relu(Activation::Relu) => {
                let input = self.input(node, 0)?;
                self.same_elements(input, out)?;
                Op::Requantize(self.requantize(input, out, Activation::Relu)?)
            }
            OpKind::LeakyRelu { alpha } => {
                let input = self.input(node, 0)?;
                self.same_elements(input, out)?;
                let positive = self.requantize(input, out, Activation::None)?;
                // TFLM: alpha enters the multiplier in double precision.
                let (in_scale, _) = self.quant(input)?;
                let (out_scale, _) = self.quant(out)?;
                let (multiplier, shift) = quantize_multiplier(
                    f64::from(in_scale) * f64::from(*alpha) / f64::from(out_scale),
                );
                Op::LeakyRelu(LeakyReluOp {
                    positive: positive.params,
                    negative: RequantizeParams {
                        multiplier,
                        shift,
                        ..positive.params
                    },
                    input: positive.input,
                    output: positive.output,
                })
            }
            OpKind::HardSwish => {
                let input = self.input(node, 0)?;
                self.same_elements(input, out)?;
                let (in_scale, input_zero_point) = self.quant(input)?;
                let (out_scale, output_zero_point) = self.quant(out)?;
                let (reluish_multiplier, reluish_exponent, output_multiplier, output_exponent) =
                    hard_swish_multipliers(in_scale, out_scale);
                if output_exponent > 0 || !(-15..=15).contains(&reluish_exponent) {
                    return unsupported(format!(
                        "HARD_SWISH with input scale {in_scale} and output scale {out_scale} \
                         (TFLM needs the output no coarser than 1/128 of the input)"
                    ));
                }
                Op::HardSwish(HardSwishOp {
                    params: HardSwishParams {
                        input_zero_point,
                        output_zero_point,
                        reluish_multiplier,
                        reluish_exponent,
                        output_multiplier,
                        output_exponent,
                    },
                    input: self.i8_activation(input)?,
                    output: self.i8_activation(out)?,
                })
            }
            OpKind::PRelu => Op::PRelu(self.prelu(node)?),
            OpKind::Div | OpKind::HardSigmoid { .. } => {
                return unsupported(format!("int8 {} (float32 only for now)", node.kind.name()))
            }
            OpKind::Relu(other) => {
                return unsupported(format!(
                    "standalone {other:?} (TFLite Micro has no kernel to match)"
                ))
            }
            OpKind::Quantize => {
                let input = self.input(node, 0)?;
                self.same_elements(input, out)?;
                match self.tensor(input).dtype {
                    DataType::F32 => {
                        let (scale, zero_point) = self.quant(out)?;
                        Op::Quantize(AffineOp {
                            params: AffineParams { scale, zero_point },
                            input: self.activation(input, DataType::F32)?,
                            output: self.i8_activation(out)?,
                        })
                    }
                    DataType::I8 => {
                        Op::Requantize(self.requantize(input, out, Activation::None)?)
                    }
                    other => return unsupported(format!("QUANTIZE from {}", other.name())),
                }
            }
            OpKind::Dequantize => {
                let input = self.input(node, 0)?;
                self.same_elements(input, out)?;
                let (scale, zero_point) = self.quant(input)?;
                Op::Dequantize(AffineOp {
                    params: AffineParams { scale, zero_point },
                    input: self.i8_activation(input)?,
                    output: self.activation(out, DataType::F32)?,
                })
            }
            OpKind::Concatenation { axis, activation } => {
                Op::Concatenation(self.concatenation(node, *axis, *activation)?)
            }
            OpKind::Pad => Op::Pad(self.pad(node)?),
            OpKind::Mean { .. } => Op::Mean(self.mean(node)?),
            OpKind::Reshape => {
                let input = self.input(node, 0)?;
                if self.tensor(input).is_constant() {
                    return unsupported("RESHAPE of a constant");
                }
                if self.tensor(input).bytes() != self.tensor(out).bytes()
                    || self.tensor(input).dtype != self.tensor(out).dtype
                {
                    return invalid("RESHAPE changes the number of bytes");
                }
                // Shares its input's bytes (see plan): nothing to run.
                return Ok(None);
            }
            OpKind::Transpose { perm } => self.transpose(node, perm, out)?,
            OpKind::Slice { begin, step } => self.slice(node, begin, step, out)?,
        }))
    }

    fn same_elements(&self, a: TensorId, b: TensorId) -> Lowered<()> {
        if self.tensor(a).elements() != self.tensor(b).elements() {
            return invalid("input and output sizes differ");
        }
        Ok(())
    }

    /// Ops whose int8 output quantization TFLM fixes.
    fn fixed_output(&self, t: TensorId, scale: f32, zero_point: i32) -> Lowered<()> {
        let (s, z) = self.quant(t)?;
        if z != zero_point || (s - scale).abs() > scale * 1e-3 {
            return unsupported(format!("output quantization (scale {s}, zero point {z}); TFLM requires scale {scale}, zero point {zero_point}"));
        }
        Ok(())
    }

    /// An int8 clamp of the input's bytes to the reals `[lo, hi]` on the
    /// input's scale, with no rescaling.
    fn clamp_bytes(&self, node: &Node, lo: f32, hi: f32) -> Lowered<RequantizeOp> {
        let out = self.output(node)?;
        let input = self.input(node, 0)?;
        self.same_elements(input, out)?;
        let (scale, zp) = self.quant(input)?;
        let bound = |b: f32| {
            zp.saturating_add((b / scale).round() as i32)
                .clamp(-128, 127)
        };
        Ok(RequantizeOp {
            params: RequantizeParams {
                input_zero_point: 0,
                output_zero_point: 0,
                // 2^30 with a left shift of one multiplies by exactly 1.
                multiplier: 1 << 30,
                shift: 1,
                activation_min: bound(lo),
                activation_max: bound(hi),
            },
            input: self.i8_activation(input)?,
            output: self.i8_activation(out)?,
        })
    }

    fn requantize(
        &self,
        input: TensorId,
        out: TensorId,
        activation: Activation,
    ) -> Lowered<RequantizeOp> {
        let (in_scale, in_zp) = self.quant(input)?;
        let (out_scale, out_zp) = self.quant(out)?;
        let (multiplier, shift) = quantize_multiplier(f64::from(in_scale) / f64::from(out_scale));
        let (activation_min, activation_max) = activation_range(activation, out_scale, out_zp);
        Ok(RequantizeOp {
            params: RequantizeParams {
                input_zero_point: in_zp,
                output_zero_point: out_zp,
                multiplier,
                shift,
                activation_min,
                activation_max,
            },
            input: self.i8_activation(input)?,
            output: self.i8_activation(out)?,
        })
    }

    /// Requantization constants shared by the convolution-like ops.
    fn conv_common(&mut self, node: &Node, channels: usize) -> Lowered<ConvCommon> {
        let input = self.input(node, 0)?;
        let filter = self.input(node, 1)?;
        let out = self.output(node)?;
        let (in_scale, in_zp) = self.quant(input)?;
        let (out_scale, out_zp) = self.quant(out)?;
        let scales = self.filter_scales(filter, channels)?;
        let filter_span = {
            let data = self.weight_data(filter, DataType::I8)?.to_vec();
            self.constant(&data)?
        };
        let bias = self.bias(node, channels)?;
        Ok(ConvCommon {
            input,
            out,
            in_scale,
            in_zp,
            out_scale,
            out_zp,
            scales,
            filter_span,
            bias,
        })
    }

    fn conv(&mut self, node: &Node, a: &ir::Conv2dAttrs) -> Lowered<Conv2dOp> {
        let filter = self.input(node, 1)?;
        let fshape = self.tensor(filter).shape.clone();
        let [oc, kh, kw, fc] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [O, KH, KW, I]"));
        };
        let c = self.conv_common(node, oc)?;
        let (input, output) = (self.nhwc(c.input)?, self.nhwc(c.out)?);
        let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
            [input.height as usize, input.width as usize],
            [kh, kw],
            [a.stride[0], a.stride[1]],
            [a.dilation[0], a.dilation[1]],
        );
        if (oh, ow, oc)
            != (
                output.height as usize,
                output.width as usize,
                output.channels as usize,
            )
            || fc == 0
            || input.channels as usize % fc != 0
        {
            return invalid(format!("output shape {output:?} does not follow from input {input:?} and filter {fshape:?}"));
        }
        self.conv_s8(c, a, (input, output), [kh, kw, fc], [pad_top, pad_left])
    }

    /// int8 TRANSPOSE_CONV: the filter `[O, KH, KW, I / groups]`, padding
    /// explicit (its start), the output shape given.
    fn transpose_conv(&mut self, node: &Node, a: &ir::Conv2dAttrs) -> Lowered<Conv2dOp> {
        let filter = self.input(node, 1)?;
        let fshape = self.tensor(filter).shape.clone();
        let [oc, kh, kw, fc] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [O, KH, KW, I]"));
        };
        let Padding::Explicit([pad_top, pad_left, _, _]) = a.padding else {
            return invalid("transposed convolution without explicit padding");
        };
        let c = self.conv_common(node, oc)?;
        let (input, output) = (self.nhwc(c.input)?, self.nhwc(c.out)?);
        if output.channels as usize != oc
            || fc == 0
            || input.channels as usize % fc != 0
            || oc % (input.channels as usize / fc) != 0
        {
            return invalid(format!(
                "filter {fshape:?} does not fit input {input:?} and output {output:?}"
            ));
        }
        self.conv_s8(c, a, (input, output), [kh, kw, fc], [pad_top, pad_left])
    }

    /// The int8 op of a convolution, plain or transposed, with its geometry.
    fn conv_s8(
        &mut self,
        c: ConvCommon,
        a: &ir::Conv2dAttrs,
        (input, output): (Nhwc, Nhwc),
        [kh, kw, fc]: [usize; 3],
        [pad_top, pad_left]: [usize; 2],
    ) -> Lowered<Conv2dOp> {
        let oc = output.channels as usize;
        let (multipliers, shifts) = per_channel_multipliers(c.in_scale, &c.scales, c.out_scale, oc);
        let (activation_min, activation_max) =
            activation_range(a.activation, c.out_scale, c.out_zp);
        Ok(Conv2dOp {
            params: Conv2dParams {
                input,
                output,
                filter_height: to_u32(kh)?,
                filter_width: to_u32(kw)?,
                filter_channels: to_u32(fc)?,
                stride_height: to_u32(a.stride[0])?,
                stride_width: to_u32(a.stride[1])?,
                dilation_height: to_u32(a.dilation[0])?,
                dilation_width: to_u32(a.dilation[1])?,
                padding_top: to_u32(pad_top)?,
                padding_left: to_u32(pad_left)?,
                input_offset: -c.in_zp,
                output_offset: c.out_zp,
                activation_min,
                activation_max,
            },
            input: self.i8_activation(c.input)?,
            filter: c.filter_span,
            bias: c.bias,
            multiplier: self.i32s(&multipliers)?,
            shift: self.i32s(&shifts)?,
            output: self.i8_activation(c.out)?,
        })
    }

    fn depthwise(&mut self, node: &Node, a: &ir::Conv2dAttrs) -> Lowered<DepthwiseConv2dOp> {
        let filter = self.input(node, 1)?;
        let fshape = self.tensor(filter).shape.clone();
        let [1, kh, kw, oc] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [1, KH, KW, O]"));
        };
        let c = self.conv_common(node, oc)?;
        let (input, output) = (self.nhwc(c.input)?, self.nhwc(c.out)?);
        let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
            [input.height as usize, input.width as usize],
            [kh, kw],
            [a.stride[0], a.stride[1]],
            [a.dilation[0], a.dilation[1]],
        );
        let in_c = input.channels as usize;
        if (oh, ow, oc)
            != (
                output.height as usize,
                output.width as usize,
                output.channels as usize,
            )
            || in_c == 0
            || oc % in_c != 0
        {
            return invalid(format!("output shape {output:?} does not follow from input {input:?} and filter {fshape:?}"));
        }
        let (multipliers, shifts) = per_channel_multipliers(c.in_scale, &c.scales, c.out_scale, oc);
        let (activation_min, activation_max) =
            activation_range(a.activation, c.out_scale, c.out_zp);
        Ok(DepthwiseConv2dOp {
            params: DepthwiseConv2dParams {
                input,
                output,
                filter_height: to_u32(kh)?,
                filter_width: to_u32(kw)?,
                depth_multiplier: to_u32(oc / in_c)?,
                stride_height: to_u32(a.stride[0])?,
                stride_width: to_u32(a.stride[1])?,
                dilation_height: to_u32(a.dilation[0])?,
                dilation_width: to_u32(a.dilation[1])?,
                padding_top: to_u32(pad_top)?,
                padding_left: to_u32(pad_left)?,
                input_offset: -c.in_zp,
                output_offset: c.out_zp,
                activation_min,
                activation_max,
            },
            input: self.i8_activation(c.input)?,
            filter: c.filter_span,
            bias: c.bias,
            multiplier: self.i32s(&multipliers)?,
            shift: self.i32s(&shifts)?,
            output: self.i8_activation(c.out)?,
        })
    }

    fn fully_connected(
        &mut self,
        node: &Node,
        activation: Activation,
    ) -> Lowered<FullyConnectedOp> {
        let filter = self.input(node, 1)?;
        let fshape = self.tensor(filter).shape.clone();
        let [out_depth, depth] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [O, I]"));
        };
        let c = self.conv_common(node, out_depth)?;
        let in_elements = self.tensor(c.input).elements();
        if depth == 0 || in_elements % depth != 0 {
            return invalid(format!(
                "input of {in_elements} values does not split into rows of {depth}"
            ));
        }
        let batches = in_elements / depth;
        if self.tensor(c.out).elements() != batches * out_depth {
            return invalid("output size is not batches x output depth");
        }
        let (multipliers, shifts) = if c.scales.len() > 1 {
            per_channel_multipliers(c.in_scale, &c.scales, c.out_scale, out_depth)
        } else {
            let (m, s) = fully_connected_multiplier(c.in_scale, c.scales[0], c.out_scale);
            (vec![m], vec![s])
        };
        let (activation_min, activation_max) = activation_range(activation, c.out_scale, c.out_zp);
        Ok(FullyConnectedOp {
            params: FullyConnectedParams {
                batches: to_u32(batches)?,
                input_depth: to_u32(depth)?,
                output_depth: to_u32(out_depth)?,
                input_offset: -c.in_zp,
                filter_offset: 0,
                output_offset: c.out_zp,
                activation_min,
                activation_max,
            },
            input: self.i8_activation(c.input)?,
            filter: c.filter_span,
            bias: c.bias,
            multiplier: self.i32s(&multipliers)?,
            shift: self.i32s(&shifts)?,
            output: self.i8_activation(c.out)?,
        })
    }

    fn pool(&mut self, node: &Node, a: &ir::Pool2dAttrs) -> Lowered<PoolOp> {
        let input = self.input(node, 0)?;
        let out = self.output(node)?;
        let (in_s, out_s) = (self.nhwc(input)?, self.nhwc(out)?);
        if self.quant(input)? != self.quant(out)? {
            return unsupported("pooling with different input and output quantization");
        }
        let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
            [in_s.height as usize, in_s.width as usize],
            [a.filter[0], a.filter[1]],
            [a.stride[0], a.stride[1]],
            [1, 1],
        );
        if (oh, ow) != (out_s.height as usize, out_s.width as usize)
            || in_s.channels != out_s.channels
        {
            return invalid(format!(
                "output shape {out_s:?} does not follow from input {in_s:?}"
            ));
        }
        let (scale, zp) = self.quant(out)?;
        let (activation_min, activation_max) = activation_range(a.activation, scale, zp);
        Ok(PoolOp {
            params: PoolParams {
                input: in_s,
                output: out_s,
                filter_height: to_u32(a.filter[0])?,
                filter_width: to_u32(a.filter[1])?,
                stride_height: to_u32(a.stride[0])?,
                stride_width: to_u32(a.stride[1])?,
                padding_top: to_u32(pad_top)?,
                padding_left: to_u32(pad_left)?,
                activation_min,
                activation_max,
            },
            input: self.i8_activation(input)?,
            output: self.i8_activation(out)?,
        })
    }

    /// Numpy-style broadcasting of two inputs onto the output shape.
    fn broadcast(&self, a: TensorId, b: TensorId, out: TensorId) -> Lowered<Broadcast> {
        let (sa, sb, so) = (
            &self.tensor(a).shape,
            &self.tensor(b).shape,
            &self.tensor(out).shape,
        );
        if so.len() > MAX_RANK || sa.len() > so.len() || sb.len() > so.len() {
            return unsupported(format!("broadcasting {sa:?} and {sb:?} to {so:?}"));
        }
        let pad = |s: &[usize]| -> [usize; MAX_RANK] {
            let mut d = [1; MAX_RANK];
            d[MAX_RANK - s.len()..].copy_from_slice(s);
            d
        };
        let (da, db, dout) = (pad(sa), pad(sb), pad(so));
        let strides = |d: &[usize; MAX_RANK]| -> Lowered<[u32; MAX_RANK]> {
            let mut s = [0u32; MAX_RANK];
            let mut stride = 1usize;
            for i in (0..MAX_RANK).rev() {
                if d[i] == dout[i] {
                    s[i] = if d[i] == 1 { 0 } else { to_u32(stride)? };
                } else if d[i] == 1 {
                    s[i] = 0;
                } else {
                    return invalid(format!("cannot broadcast {sa:?} and {sb:?} to {so:?}"));
                }
                stride *= d[i];
            }
            Ok(s)
        };
        let mut output_dims = [0u32; MAX_RANK];
        for (o, &d) in output_dims.iter_mut().zip(&dout) {
            *o = to_u32(d)?;
        }
        Ok(Broadcast {
            output_dims,
            input1_strides: strides(&da)?,
            input2_strides: strides(&db)?,
            same_shape: sa == so && sb == so,
        })
    }

    /// The operands of a binary op: arena values, or one constant copied
    /// into the weights.
    fn binary_operands(
        &mut self,
        a: TensorId,
        b: TensorId,
        dtype: DataType,
    ) -> Lowered<(ConstantOperand, Span, Span)> {
        let is_constant = |t: TensorId| self.tensor(t).data.is_some();
        Ok(match (is_constant(a), is_constant(b)) {
            (false, false) => (
                ConstantOperand::Neither,
                self.activation(a, dtype)?,
                self.activation(b, dtype)?,
            ),
            (true, false) => (
                ConstantOperand::First,
                self.copied_constant(a, dtype)?,
                self.activation(b, dtype)?,
            ),
            (false, true) => (
                ConstantOperand::Second,
                self.activation(a, dtype)?,
                self.copied_constant(b, dtype)?,
            ),
            (true, true) => {
                return unsupported(
                    "both operands are constants (fold them before converting the model)",
                )
            }
        })
    }

    /// PRELU; the slopes (input 1) broadcast and may be a constant.
    fn prelu(&mut self, node: &Node) -> Lowered<PReluOp> {
        let (x, alpha, out) = (
            self.input(node, 0)?,
            self.input(node, 1)?,
            self.output(node)?,
        );
        let ((sx, zx), (sa, za), (so, zo)) = (self.quant(x)?, self.quant(alpha)?, self.quant(out)?);
        let (identity_multiplier, identity_shift) =
            quantize_multiplier(f64::from(sx) / f64::from(so));
        let (alpha_multiplier, alpha_shift) =
            quantize_multiplier(f64::from(sx) * f64::from(sa) / f64::from(so));
        let (constant, input, alpha_span) = self.binary_operands(x, alpha, DataType::I8)?;
        if constant == ConstantOperand::First {
            return unsupported("PRELU of a constant input");
        }
        Ok(PReluOp {
            params: PReluParams {
                broadcast: self.broadcast(x, alpha, out)?,
                input_offset: -zx,
                alpha_offset: -za,
                identity_multiplier,
                identity_shift,
                alpha_multiplier,
                alpha_shift,
                output_offset: zo,
            },
            constant,
            input,
            alpha: alpha_span,
            output: self.i8_activation(out)?,
        })
    }

    /// ADD or SUB (TFLM prepares both alike).
    fn add(&mut self, node: &Node, activation: Activation) -> Lowered<AddOp> {
        let (a, b, out) = (
            self.input(node, 0)?,
            self.input(node, 1)?,
            self.output(node)?,
        );
        let ((sa, za), (sb, zb), (so, zo)) = (self.quant(a)?, self.quant(b)?, self.quant(out)?);
        let m = add_multipliers(sa, sb, so);
        let (activation_min, activation_max) = activation_range(activation, so, zo);
        let (constant, input1, input2) = self.binary_operands(a, b, DataType::I8)?;
        Ok(AddOp {
            params: AddParams {
                broadcast: self.broadcast(a, b, out)?,
                input1_offset: -za,
                input2_offset: -zb,
                left_shift: m.left_shift,
                input1_multiplier: m.input1.0,
                input1_shift: m.input1.1,
                input2_multiplier: m.input2.0,
                input2_shift: m.input2.1,
                output_multiplier: m.output.0,
                output_shift: m.output.1,
                output_offset: zo,
                activation_min,
                activation_max,
            },
            constant,
            input1,
            input2,
            output: self.i8_activation(out)?,
        })
    }

    fn mul(&mut self, node: &Node, activation: Activation) -> Lowered<MulOp> {
        let (a, b, out) = (
            self.input(node, 0)?,
            self.input(node, 1)?,
            self.output(node)?,
        );
        let ((sa, za), (sb, zb), (so, zo)) = (self.quant(a)?, self.quant(b)?, self.quant(out)?);
        let (output_multiplier, output_shift) =
            quantize_multiplier(f64::from(sa) * f64::from(sb) / f64::from(so));
        let (activation_min, activation_max) = activation_range(activation, so, zo);
        let (constant, input1, input2) = self.binary_operands(a, b, DataType::I8)?;
        Ok(MulOp {
            params: MulParams {
                broadcast: self.broadcast(a, b, out)?,
                input1_offset: -za,
                input2_offset: -zb,
                output_multiplier,
                output_shift,
                output_offset: zo,
                activation_min,
                activation_max,
            },
            constant,
            input1,
            input2,
            output: self.i8_activation(out)?,
        })
    }

    fn concatenation(
        &mut self,
        node: &Node,
        axis: i32,
        activation: Activation,
    ) -> Lowered<ConcatenationOp> {
        let out = self.output(node)?;
        let oq = self.quant(out)?;
        let shape = self.tensor(out).shape.clone();
        let rank = shape.len() as i32;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) {
            return invalid(format!("axis {axis} out of range for rank {rank}"));
        }
        if activation != Activation::None {
            return unsupported("fused activation on CONCATENATION");
        }
        let inputs: Vec<TensorId> = node.inputs.iter().flatten().copied().collect();
        if inputs.len() > MAX_CONCAT_INPUTS {
            return unsupported(format!(
                "{} inputs (at most {MAX_CONCAT_INPUTS})",
                inputs.len()
            ));
        }
        let mut spans = [Span::EMPTY; MAX_CONCAT_INPUTS];
        for (slot, &t) in spans.iter_mut().zip(&inputs) {
            if self.quant(t)? != oq {
                return unsupported("inputs quantized differently from the output (TFLM requires equal scales for int8)");
            }
            *slot = self.i8_activation(t)?;
        }
        let outer: usize = shape[..axis as usize].iter().product();
        Ok(ConcatenationOp {
            outer: to_u32(outer)?,
            count: inputs.len() as u32,
            inputs: spans,
            output: self.i8_activation(out)?,
        })
    }

    fn pad(&mut self, node: &Node) -> Lowered<PadOp> {
        let (input, out) = (self.input(node, 0)?, self.output(node)?);
        if self.quant(input)? != self.quant(out)? {
            return unsupported("PAD with different input and output quantization");
        }
        if node.input(2).is_some() {
            return unsupported(
                "int8 PAD with an explicit pad value (TFLM pads with the zero point)",
            );
        }
        let params = PadParams {
            pad_value: self.quant(out)?.1 as i8,
            ..self.pad_params(node)?
        };
        Ok(PadOp {
            params,
            input: self.i8_activation(input)?,
            output: self.i8_activation(out)?,
        })
    }

    /// Float32 constant-mode PAD; the value is input 2 (a scalar), or zero.
    fn pad_f32(&mut self, node: &Node) -> Lowered<PadF32Op> {
        let (input, out) = (self.input(node, 0)?, self.output(node)?);
        let value = match node.input(2) {
            Some(v) => match self.weight_data(v, DataType::F32)? {
                [a, b, c, d] => f32::from_le_bytes([*a, *b, *c, *d]),
                _ => return invalid("the pad value must be one float32"),
            },
            None => 0.0,
        };
        Ok(PadF32Op {
            params: self.pad_params(node)?,
            value,
            input: self.f32_activation(input)?,
            output: self.f32_activation(out)?,
        })
    }

    /// The geometry of a PAD (input 1: int32 paddings, `[rank, 2]`).
    fn pad_params(&self, node: &Node) -> Lowered<PadParams> {
        let (input, paddings, out) = (
            self.input(node, 0)?,
            self.input(node, 1)?,
            self.output(node)?,
        );
        let Some(p) = self.tensor(paddings).data_i32() else {
            return unsupported("paddings must be a constant int32 tensor");
        };
        let shape = self.tensor(input).shape.clone();
        if p.len() != 2 * shape.len() || shape.len() > MAX_RANK || p.iter().any(|&v| v < 0) {
            return invalid(format!("paddings {p:?} do not fit shape {shape:?}"));
        }
        let mut params = PadParams::default();
        let lead = MAX_RANK - shape.len();
        params.input_dims = [1; MAX_RANK];
        for (i, &d) in shape.iter().enumerate() {
            params.input_dims[lead + i] = to_u32(d)?;
            params.before[lead + i] = p[2 * i] as u32;
            params.after[lead + i] = p[2 * i + 1] as u32;
        }
        let expected: u64 = params.output_dims().iter().map(|&d| u64::from(d)).product();
        if expected != self.tensor(out).elements() as u64 {
            return invalid("output shape does not match the paddings");
        }
        Ok(params)
    }

    fn mean(&mut self, node: &Node) -> Lowered<MeanOp> {
        let (input, out) = (self.input(node, 0)?, self.output(node)?);
        let mut params = self.mean_params(node)?;
        let ((si, zi), (so, zo)) = (self.quant(input)?, self.quant(out)?);
        let (multiplier, shift) = mean_multiplier(si, so, params.reduced_elements().max(1));
        params.input_zero_point = zi;
        params.output_zero_point = zo;
        params.multiplier = multiplier;
        params.shift = shift;
        Ok(MeanOp {
            params,
            input: self.i8_activation(input)?,
            output: self.i8_activation(out)?,
        })
    }

    fn mean_f32(&mut self, node: &Node) -> Lowered<MeanOp> {
        let (input, out) = (self.input(node, 0)?, self.output(node)?);
        Ok(MeanOp {
            params: self.mean_params(node)?,
            input: self.f32_activation(input)?,
            output: self.f32_activation(out)?,
        })
    }

    /// The geometry of a MEAN (input 1: int32 axes); no quantization.
    fn mean_params(&self, node: &Node) -> Lowered<MeanParams> {
        let (input, axes, out) = (
            self.input(node, 0)?,
            self.input(node, 1)?,
            self.output(node)?,
        );
        let Some(axes) = self.tensor(axes).data_i32() else {
            return unsupported("axes must be a constant int32 tensor");
        };
        let shape = self.tensor(input).shape.clone();
        if shape.len() > MAX_RANK {
            return unsupported(format!("rank {} input", shape.len()));
        }
        let lead = MAX_RANK - shape.len();
        let mut params = MeanParams {
            input_dims: [1; MAX_RANK],
            ..Default::default()
        };
        for (i, &d) in shape.iter().enumerate() {
            params.input_dims[lead + i] = to_u32(d)?;
        }
        for &a in &axes {
            let a = if a < 0 { a + shape.len() as i32 } else { a };
            if !(0..shape.len() as i32).contains(&a) {
                return invalid(format!("axis {a} out of range"));
            }
            params.reduce[lead + a as usize] = true;
        }
        let reduced = params.reduced_elements();
        if self.tensor(out).elements() as u64 * reduced != self.tensor(input).elements() as u64 {
            return invalid("output size does not match the reduced axes");
        }
        Ok(params)
    }
}

fn float_range(a: Activation) -> FloatRange {
    match a {
        Activation::None => FloatRange::NONE,
        Activation::Relu => FloatRange {
            min: 0.0,
            max: f32::MAX,
        },
        Activation::Relu6 => FloatRange { min: 0.0, max: 6.0 },
        Activation::ReluN1To1 => FloatRange {
            min: -1.0,
            max: 1.0,
        },
    }
}

impl Lowering<'_> {
    fn f32_activation(&self, t: TensorId) -> Lowered<Span> {
        self.activation(t, DataType::F32)
    }

    fn f32_constant(&mut self, t: TensorId) -> Lowered<Span> {
        self.copied_constant(t, DataType::F32)
    }

    /// Constant tensor `t` of type `dtype`, copied into the weights.
    fn copied_constant(&mut self, t: TensorId, dtype: DataType) -> Lowered<Span> {
        let data = self.weight_data(t, dtype)?.to_vec();
        self.constant(&data)
    }

    /// A float32 convolution's op (plain or transposed, the same geometry):
    /// filter `[O, kh, kw, fc]` from input 1, optional bias from input 2.
    fn conv_f32(
        &mut self,
        node: &Node,
        a: &crate::ir::Conv2dAttrs,
        (input_shape, output_shape): (Nhwc, Nhwc),
        [kh, kw, fc]: [usize; 3],
        [pad_top, pad_left]: [usize; 2],
    ) -> Lowered<Conv2dF32Op> {
        let (input, filter, out) = (
            self.input(node, 0)?,
            self.input(node, 1)?,
            self.output(node)?,
        );
        Ok(Conv2dF32Op {
            params: Conv2dParams {
                input: input_shape,
                output: output_shape,
                filter_height: to_u32(kh)?,
                filter_width: to_u32(kw)?,
                filter_channels: to_u32(fc)?,
                stride_height: to_u32(a.stride[0])?,
                stride_width: to_u32(a.stride[1])?,
                dilation_height: to_u32(a.dilation[0])?,
                dilation_width: to_u32(a.dilation[1])?,
                padding_top: to_u32(pad_top)?,
                padding_left: to_u32(pad_left)?,
                activation_min: -128,
                activation_max: 127,
                ..Default::default()
            },
            activation: float_range(a.activation),
            input: self.f32_activation(input)?,
            filter: self.f32_constant(filter)?,
            bias: self.f32_bias(node, output_shape.channels as usize)?,
            output: self.f32_activation(out)?,
        })
    }

    /// A float32 binary op; either operand (not both) may be a constant,
    /// which then stays in the weights.
    fn binary_f32(
        &mut self,
        node: &Node,
        input: TensorId,
        out: TensorId,
        activation: FloatRange,
    ) -> Lowered<BinaryF32Op> {
        let other = self.input(node, 1)?;
        let (constant, input1, input2) = self.binary_operands(input, other, DataType::F32)?;
        Ok(BinaryF32Op {
            broadcast: self.broadcast(input, other, out)?,
            activation,
            constant,
            input1,
            input2,
            output: self.f32_activation(out)?,
        })
    }

    fn f32_bias(&mut self, node: &Node, channels: usize) -> Lowered<Span> {
        let Some(t) = node.input(2) else {
            return Ok(Span::EMPTY);
        };
        if self.tensor(t).elements() != channels {
            return invalid(format!(
                "bias has {} values for {channels} channels",
                self.tensor(t).elements()
            ));
        }
        self.f32_constant(t)
    }

    /// float32 ops: the same geometry as the int8 ones, no quantization.
    fn float_node(&mut self, node: &Node, out: TensorId) -> Lowered<Op> {
        let input = self.input(node, 0)?;
        Ok(match &node.kind {
            OpKind::Conv2d(a) => {
                let filter = self.input(node, 1)?;
                let fshape = self.tensor(filter).shape.clone();
                let [oc, kh, kw, fc] = fshape[..] else {
                    return invalid(format!("filter shape {fshape:?} is not [O, KH, KW, I]"));
                };
                let (in_s, out_s) = (self.nhwc(input)?, self.nhwc(out)?);
                let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
                    [in_s.height as usize, in_s.width as usize],
                    [kh, kw],
                    [a.stride[0], a.stride[1]],
                    [a.dilation[0], a.dilation[1]],
                );
                if (oh, ow, oc)
                    != (
                        out_s.height as usize,
                        out_s.width as usize,
                        out_s.channels as usize,
                    )
                    || fc == 0
                    || in_s.channels as usize % fc != 0
                {
                    return invalid(format!("output shape {out_s:?} does not follow from input {in_s:?} and filter {fshape:?}"));
                }
                Op::Conv2dF32(self.conv_f32(
                    node,
                    a,
                    (in_s, out_s),
                    [kh, kw, fc],
                    [pad_top, pad_left],
                )?)
            }
            OpKind::TransposeConv2d(a) => {
                let filter = self.input(node, 1)?;
                let fshape = self.tensor(filter).shape.clone();
                let [oc, kh, kw, fc] = fshape[..] else {
                    return invalid(format!("filter shape {fshape:?} is not [O, KH, KW, I]"));
                };
                let Padding::Explicit([pad_top, pad_left, _, _]) = a.padding else {
                    return invalid("transposed convolution without explicit padding");
                };
                let (in_s, out_s) = (self.nhwc(input)?, self.nhwc(out)?);
                if out_s.channels as usize != oc
                    || fc == 0
                    || in_s.channels as usize % fc != 0
                    || oc % (in_s.channels as usize / fc) != 0
                {
                    return invalid(format!(
                        "filter {fshape:?} does not fit input {in_s:?} and output {out_s:?}"
                    ));
                }
                Op::TransposeConv2dF32(self.conv_f32(
                    node,
                    a,
                    (in_s, out_s),
                    [kh, kw, fc],
                    [pad_top, pad_left],
                )?)
            }
            OpKind::DepthwiseConv2d(a) => {
                let filter = self.input(node, 1)?;
                let fshape = self.tensor(filter).shape.clone();
                let [1, kh, kw, oc] = fshape[..] else {
                    return invalid(format!("filter shape {fshape:?} is not [1, KH, KW, O]"));
                };
                let (in_s, out_s) = (self.nhwc(input)?, self.nhwc(out)?);
                let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
                    [in_s.height as usize, in_s.width as usize],
                    [kh, kw],
                    [a.stride[0], a.stride[1]],
                    [a.dilation[0], a.dilation[1]],
                );
                let in_c = in_s.channels as usize;
                if (oh, ow, oc)
                    != (
                        out_s.height as usize,
                        out_s.width as usize,
                        out_s.channels as usize,
                    )
                    || in_c == 0
                    || oc % in_c != 0
                {
                    return invalid(format!("output shape {out_s:?} does not follow from input {in_s:?} and filter {fshape:?}"));
                }
                Op::DepthwiseConv2dF32(DepthwiseConv2dF32Op {
                    params: DepthwiseConv2dParams {
                        input: in_s,
                        output: out_s,
                        filter_height: to_u32(kh)?,
                        filter_width: to_u32(kw)?,
                        depth_multiplier: to_u32(oc / in_c)?,
                        stride_height: to_u32(a.stride[0])?,
                        stride_width: to_u32(a.stride[1])?,
                        dilation_height: to_u32(a.dilation[0])?,
                        dilation_width: to_u32(a.dilation[1])?,
                        padding_top: to_u32(pad_top)?,
                        padding_left: to_u32(pad_left)?,
                        activation_min: -128,
                        activation_max: 127,
                        ..Default::default()
                    },
                    activation: float_range(a.activation),
                    input: self.f32_activation(input)?,
                    filter: self.f32_constant(filter)?,
                    bias: self.f32_bias(node, oc)?,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::FullyConnected { activation, .. } => {
                let filter = self.input(node, 1)?;
                let fshape = self.tensor(filter).shape.clone();
                let [out_depth, depth] = fshape[..] else {
                    return invalid(format!("filter shape {fshape:?} is not [O, I]"));
                };
                let in_elements = self.tensor(input).elements();
                if depth == 0
                    || in_elements % depth != 0
                    || self.tensor(out).elements() != in_elements / depth * out_depth
                {
                    return invalid("input and output sizes do not fit the filter");
                }
                Op::FullyConnectedF32(FullyConnectedF32Op {
                    params: FullyConnectedParams {
                        batches: to_u32(in_elements / depth)?,
                        input_depth: to_u32(depth)?,
                        output_depth: to_u32(out_depth)?,
                        activation_min: -128,
                        activation_max: 127,
                        ..Default::default()
                    },
                    activation: float_range(*activation),
                    input: self.f32_activation(input)?,
                    filter: self.f32_constant(filter)?,
                    bias: self.f32_bias(node, out_depth)?,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::AveragePool2d(a) | OpKind::MaxPool2d(a) => {
                let (in_s, out_s) = (self.nhwc(input)?, self.nhwc(out)?);
                let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
                    [in_s.height as usize, in_s.width as usize],
                    [a.filter[0], a.filter[1]],
                    [a.stride[0], a.stride[1]],
                    [1, 1],
                );
                if (oh, ow) != (out_s.height as usize, out_s.width as usize)
                    || in_s.channels != out_s.channels
                {
                    return invalid(format!(
                        "output shape {out_s:?} does not follow from input {in_s:?}"
                    ));
                }
                let op = PoolF32Op {
                    params: PoolParams {
                        input: in_s,
                        output: out_s,
                        filter_height: to_u32(a.filter[0])?,
                        filter_width: to_u32(a.filter[1])?,
                        stride_height: to_u32(a.stride[0])?,
                        stride_width: to_u32(a.stride[1])?,
                        padding_top: to_u32(pad_top)?,
                        padding_left: to_u32(pad_left)?,
                        activation_min: -128,
                        activation_max: 127,
                    },
                    activation: float_range(a.activation),
                    input: self.f32_activation(input)?,
                    output: self.f32_activation(out)?,
                };
                if matches!(node.kind, OpKind::AveragePool2d(_)) {
                    Op::AveragePool2dF32(op)
                } else {
                    Op::MaxPool2dF32(op)
                }
            }
            OpKind::Div | OpKind::PRelu => {
                let op = self.binary_f32(node, input, out, FloatRange::NONE)?;
                match node.kind {
                    OpKind::Div => Op::DivF32(op),
                    _ => Op::PReluF32(op),
                }
            }
            OpKind::LeakyRelu { alpha } => {
                self.same_elements(input, out)?;
                Op::LeakyReluF32(UnaryF32Op {
                    activation: FloatRange::NONE,
                    alpha: *alpha,
                    beta: 0.0,
                    input: self.f32_activation(input)?,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::HardSigmoid { alpha, beta } => {
                self.same_elements(input, out)?;
                Op::HardSigmoidF32(UnaryF32Op {
                    activation: FloatRange::NONE,
                    alpha: *alpha,
                    beta: *beta,
                    input: self.f32_activation(input)?,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::HardSwish => {
                self.same_elements(input, out)?;
                Op::HardSwishF32(UnaryF32Op {
                    activation: FloatRange::NONE,
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                    input: self.f32_activation(input)?,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::Add { activation }
            | OpKind::Mul { activation }
            | OpKind::Sub { activation } => {
                let op = self.binary_f32(node, input, out, float_range(*activation))?;
                match node.kind {
                    OpKind::Add { .. } => Op::AddF32(op),
                    OpKind::Mul { .. } => Op::MulF32(op),
                    _ => Op::SubF32(op),
                }
            }
            OpKind::Softmax { beta } => {
                let shape = &self.tensor(input).shape;
                let depth = *shape.last().unwrap_or(&1);
                let outer = self.tensor(input).elements() / depth.max(1);
                Op::SoftmaxF32(SoftmaxF32Op {
                    outer: to_u32(outer)?,
                    depth: to_u32(depth)?,
                    beta: *beta,
                    input: self.f32_activation(input)?,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::Logistic | OpKind::Tanh | OpKind::Relu(_) | OpKind::Clip { .. } => {
                self.same_elements(input, out)?;
                let activation = match node.kind {
                    OpKind::Relu(a) => float_range(a),
                    OpKind::Clip { min, max } => FloatRange { min, max },
                    _ => FloatRange::NONE,
                };
                let op = UnaryF32Op {
                    activation,
                    alpha: 0.0,
                    beta: 0.0,
                    input: self.f32_activation(input)?,
                    output: self.f32_activation(out)?,
                };
                match node.kind {
                    OpKind::Logistic => Op::LogisticF32(op),
                    OpKind::Tanh => Op::TanhF32(op),
                    _ => Op::ClampF32(op),
                }
            }
            OpKind::Concatenation { axis, activation } => {
                let shape = self.tensor(out).shape.clone();
                let rank = shape.len() as i32;
                let axis = if *axis < 0 { axis + rank } else { *axis };
                if !(0..rank).contains(&axis) || *activation != Activation::None {
                    return unsupported("this CONCATENATION (axis or fused activation)");
                }
                let inputs: Vec<TensorId> = node.inputs.iter().flatten().copied().collect();
                if inputs.len() > MAX_CONCAT_INPUTS {
                    return unsupported(format!(
                        "{} inputs (at most {MAX_CONCAT_INPUTS})",
                        inputs.len()
                    ));
                }
                let mut spans = [Span::EMPTY; MAX_CONCAT_INPUTS];
                for (slot, &t) in spans.iter_mut().zip(&inputs) {
                    *slot = self.f32_activation(t)?;
                }
                let outer: usize = shape[..axis as usize].iter().product();
                Op::Concatenation(ConcatenationOp {
                    outer: to_u32(outer)?,
                    count: inputs.len() as u32,
                    inputs: spans,
                    output: self.f32_activation(out)?,
                })
            }
            OpKind::Pad => Op::PadF32(self.pad_f32(node)?),
            OpKind::Mean { .. } => Op::MeanF32(self.mean_f32(node)?),
            other => return unsupported(format!("float32 {} (not yet)", other.name())),
        })
    }
}

impl Lowering<'_> {
    /// SLICE of int8 (quantization unchanged) or float32 values.
    fn slice(
        &mut self,
        node: &Node,
        begin: &[usize],
        step: &[usize],
        out: TensorId,
    ) -> Lowered<Op> {
        let input = self.input(node, 0)?;
        let (in_shape, out_shape) = (
            self.tensor(input).shape.clone(),
            self.tensor(out).shape.clone(),
        );
        let dtype = self.tensor(input).dtype;
        let rank = in_shape.len();
        if rank > MAX_RANK || out_shape.len() != rank || begin.len() != rank || step.len() != rank {
            return invalid(format!("slice of {in_shape:?} to {out_shape:?}"));
        }
        if dtype != DataType::I8 && dtype != DataType::F32 {
            return unsupported(format!("SLICE of {}", dtype.name()));
        }
        if dtype == DataType::I8 && self.quant(input)? != self.quant(out)? {
            return unsupported("SLICE with different input and output quantization");
        }
        let lead = MAX_RANK - rank;
        let mut params = SliceParams {
            input_dims: [1; MAX_RANK],
            output_dims: [1; MAX_RANK],
            begin: [0; MAX_RANK],
            step: [1; MAX_RANK],
            element_size: dtype.size() as u32,
        };
        for d in 0..rank {
            params.input_dims[lead + d] = to_u32(in_shape[d])?;
            params.output_dims[lead + d] = to_u32(out_shape[d])?;
            params.begin[lead + d] = to_u32(begin[d])?;
            params.step[lead + d] = to_u32(step[d])?;
            let fits = params
                .last_read(lead + d)
                .is_none_or(|last| last < in_shape[d] as u64);
            if step[d] == 0 || !fits {
                return invalid(format!("slice of {in_shape:?} reads past axis {d}"));
            }
        }
        Ok(Op::Slice(SliceOp {
            params,
            input: self.activation(input, dtype)?,
            output: self.activation(out, dtype)?,
        }))
    }

    fn transpose(&mut self, node: &Node, perm: &[usize], out: TensorId) -> Lowered<Op> {
        let input = self.input(node, 0)?;
        let shape = self.tensor(input).shape.clone();
        let dtype = self.tensor(input).dtype;
        let rank = shape.len();
        if rank > MAX_RANK || perm.len() != rank || (0..rank).any(|d| !perm.contains(&d)) {
            return invalid(format!("permutation {perm:?} does not fit shape {shape:?}"));
        }
        if dtype != DataType::I8 && dtype != DataType::F32 {
            return unsupported(format!("TRANSPOSE of {}", dtype.name()));
        }
        let lead = MAX_RANK - rank;
        let mut params = TransposeParams {
            input_dims: [1; MAX_RANK],
            perm: core::array::from_fn(|d| d as u8),
            element_size: dtype.size() as u32,
        };
        for (d, &s) in shape.iter().enumerate() {
            params.input_dims[lead + d] = to_u32(s)?;
            params.perm[lead + d] = (lead + perm[d]) as u8;
        }
        if self.tensor(out).elements() != self.tensor(input).elements() {
            return invalid("output size differs from the input's");
        }
        Ok(Op::Transpose(TransposeOp {
            params,
            input: self.activation(input, dtype)?,
            output: self.activation(out, dtype)?,
        }))
    }
}

struct ConvCommon {
    input: TensorId,
    out: TensorId,
    in_scale: f32,
    in_zp: i32,
    out_scale: f32,
    out_zp: i32,
    scales: Vec<f32>,
    filter_span: Span,
    bias: Span,
}
