//! The lowering context: what an op sees while it lowers itself (its
//! tensors, their arena spans and quantization, the weights being laid
//! out), and the vocabulary of lowering errors.
//!
//! Layer: lower; uses `ir`, `plan` and the runtime's `tensor`.

use std::collections::HashMap;

use kiln::graph::{StateTensor, TensorIo};
use kiln::tensor::{FloatRange, Nhwc, MAX_RANK};
use kiln::{DType, Span};

use crate::error::Unsupported;
use crate::ir::{self, DataType, Graph, Node, TensorId};
use crate::plan::{self, ArenaPlan};

/// Why a node cannot be lowered: something kiln does not support (collected
/// and reported with every other), or a model that contradicts itself.
pub enum Problem {
    Unsupported(String),
    Invalid(String),
}

pub type Lowered<T> = std::result::Result<T, Problem>;

pub fn unsupported<T>(reason: impl Into<String>) -> Lowered<T> {
    Err(Problem::Unsupported(reason.into()))
}

pub fn invalid<T>(detail: impl Into<String>) -> Lowered<T> {
    Err(Problem::Invalid(detail.into()))
}

pub fn to_u32(v: usize) -> Lowered<u32> {
    u32::try_from(v).or_else(|_| invalid(format!("dimension {v} too large")))
}

/// The clamp of a float32 op's fused activation.
pub fn float_range(a: ir::Activation) -> FloatRange {
    match a {
        ir::Activation::None => FloatRange::NONE,
        ir::Activation::Relu => FloatRange {
            min: 0.0,
            max: f32::MAX,
        },
        ir::Activation::Relu6 => FloatRange { min: 0.0, max: 6.0 },
        ir::Activation::ReluN1To1 => FloatRange {
            min: -1.0,
            max: 1.0,
        },
    }
}

/// A shape padded on the left with ones to `MAX_RANK` dimensions.
pub fn padded_dims(shape: &[usize]) -> Lowered<[u32; MAX_RANK]> {
    if shape.len() > MAX_RANK {
        return unsupported(format!("rank {} tensors", shape.len()));
    }
    let mut dims = [1u32; MAX_RANK];
    for (d, &s) in dims[MAX_RANK - shape.len()..].iter_mut().zip(shape) {
        *d = to_u32(s)?;
    }
    Ok(dims)
}

/// What an op sees while it lowers: the graph, the arena plan, and the
/// weights being laid out.
pub struct Lowering<'g> {
    g: &'g Graph,
    plan: &'g ArenaPlan,
    /// Index of the node being lowered.
    node: usize,
    weights: Vec<u8>,
    /// Where each constant's bytes already are in `weights`.
    written: HashMap<Vec<u8>, Span>,
    problems: Vec<Unsupported>,
}

impl<'g> Lowering<'g> {
    pub(super) fn new(g: &'g Graph, plan: &'g ArenaPlan) -> Self {
        Lowering {
            g,
            plan,
            node: 0,
            weights: Vec::new(),
            written: HashMap::new(),
            problems: Vec::new(),
        }
    }

    /// The weights laid out, and every problem recorded.
    /// The weights, ending on a 16-byte boundary with at least three
    /// bytes after the last constant: a fast kernel reads the last group of
    /// four values of a filter row whole (`kiln::arch::filter_reach`).
    pub(super) fn finish(mut self) -> (Vec<u8>, Vec<Unsupported>) {
        let end = (self.weights.len() + 3).div_ceil(plan::ALIGNMENT) * plan::ALIGNMENT;
        self.weights.resize(end, 0);
        (self.weights, self.problems)
    }

    pub(super) fn record(&mut self, problem: Unsupported) {
        self.problems.push(problem);
    }

    /// Records that node `index` cannot be lowered, naming its tensors.
    pub(super) fn unsupported_node(&mut self, index: usize, node: &Node, reason: String) {
        let tensors = node
            .inputs
            .iter()
            .flatten()
            .chain(&node.outputs)
            .map(|&t| self.g.tensors[t].name.clone())
            .collect();
        self.record(Unsupported {
            op_index: Some(index),
            op_name: node.source_name.clone(),
            tensors,
            reason,
        });
    }

    pub fn tensor(&self, t: TensorId) -> &ir::Tensor {
        &self.g.tensors[t]
    }

    pub fn shape(&self, t: TensorId) -> &[usize] {
        &self.g.tensors[t].shape
    }

    pub fn dtype(&self, t: TensorId) -> DataType {
        self.g.tensors[t].dtype
    }

    pub fn input(&self, node: &Node, i: usize) -> Lowered<TensorId> {
        match node.input(i) {
            Some(t) => Ok(t),
            None => invalid(format!("missing input {i}")),
        }
    }

    /// Input `i`, which must be a variable tensor: state the op keeps
    /// across runs (its own, or one the importer added for a kernel that
    /// holds state, see `TfliteOp::state`).
    pub fn state(&self, node: &Node, i: usize) -> Lowered<TensorId> {
        let t = self.input(node, i)?;
        if !self.g.variables.contains(&t) {
            return invalid(format!(
                "the state (input {i}) is the non-variable tensor '{}'",
                self.tensor(t).name
            ));
        }
        Ok(t)
    }

    /// The output, which must be a variable tensor: state the op keeps
    /// and updates (see `TfliteOp::output_is_state`).
    pub fn output_state(&self, node: &Node) -> Lowered<TensorId> {
        let t = self.output(node)?;
        if !self.g.variables.contains(&t) {
            return invalid(format!(
                "the output '{}' is not a variable tensor",
                self.tensor(t).name
            ));
        }
        Ok(t)
    }

    pub fn output(&self, node: &Node) -> Lowered<TensorId> {
        match node.outputs.first() {
            Some(&t) => Ok(t),
            None => invalid("no output"),
        }
    }

    /// Input 0 and the output of a node.
    pub fn input_output(&self, node: &Node) -> Lowered<(TensorId, TensorId)> {
        Ok((self.input(node, 0)?, self.output(node)?))
    }

    /// Whether the op computes in float32 (its first input is float32).
    pub fn is_float(&self, node: &Node) -> bool {
        node.input(0)
            .is_some_and(|t| self.dtype(t) == DataType::F32)
    }

    /// An activation tensor's span in the arena, requiring `dtype`.
    pub fn activation(&self, t: TensorId, dtype: DataType) -> Lowered<Span> {
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
        // A streamed tensor is never stored: the ops of the stream name it
        // by a span past the arena, which the runtime checks as such
        // (`kiln::ops::Stream`, `kiln::ops::ResidualBlockOp`).
        let streamed = || self.plan.streamed.get(t).copied().flatten();
        let offset = match self.plan.offset(t).or_else(streamed) {
            Some(offset) => offset,
            None => {
                return invalid(format!(
                    "tensor '{}' has no place in the arena",
                    tensor.name
                ))
            }
        };
        Ok(Span::new(to_u32(offset)?, to_u32(tensor.bytes())?))
    }

    /// The graph being lowered.
    pub fn graph(&self) -> &'g Graph {
        self.g
    }

    /// Says which node is lowered next (the driver calls it).
    pub(super) fn start_node(&mut self, index: usize) {
        self.node = index;
    }

    /// The arena span of the scratch the planner gave the node being
    /// lowered (`IrOp::scratch_bytes`); empty when it asked for none.
    pub fn scratch(&self) -> Lowered<Span> {
        match self.plan.scratch(self.node) {
            Some((offset, bytes)) => Ok(Span::new(to_u32(offset)?, to_u32(bytes)?)),
            None => Ok(Span::EMPTY),
        }
    }

    /// The arena spans of a same-type op's input and output, of `dtype`.
    pub fn spans(
        &self,
        (input, output): (TensorId, TensorId),
        dtype: DataType,
    ) -> Lowered<(Span, Span)> {
        Ok((
            self.activation(input, dtype)?,
            self.activation(output, dtype)?,
        ))
    }

    /// Per-tensor scale and zero point of an int8 tensor.
    pub fn quant(&self, t: TensorId) -> Lowered<(f32, i32)> {
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
            None if matches!(
                tensor.dtype,
                DataType::U8 | DataType::U32 | DataType::U64 | DataType::I64 | DataType::Other(_)
            ) =>
            {
                unsupported(format!(
                    "tensor '{}' holds plain {} values (kiln computes on plain int8, int16 and int32, and on quantized and float32 tensors)",
                    tensor.name,
                    tensor.dtype.name()
                ))
            }
            _ => unsupported(format!(
                "tensor '{}' has no usable quantization parameters",
                tensor.name
            )),
        }
    }

    /// Ops whose output carries its input's quantization (TFLM requires it).
    pub fn same_quantization(&self, input: TensorId, output: TensorId, what: &str) -> Lowered<()> {
        if self.quant(input)? != self.quant(output)? {
            return unsupported(format!(
                "{what} with different input and output quantization"
            ));
        }
        Ok(())
    }

    /// Ops whose int8 output quantization TFLM fixes.
    pub fn fixed_output(&self, t: TensorId, scale: f32, zero_point: i32) -> Lowered<()> {
        let (s, z) = self.quant(t)?;
        if z != zero_point || (s - scale).abs() > scale * 1e-3 {
            return unsupported(format!("output quantization (scale {s}, zero point {z}); TFLM requires scale {scale}, zero point {zero_point}"));
        }
        Ok(())
    }

    pub fn same_elements(&self, a: TensorId, b: TensorId) -> Lowered<()> {
        if self.tensor(a).elements() != self.tensor(b).elements() {
            return invalid("input and output sizes differ");
        }
        Ok(())
    }

    /// Appends constant bytes to the weights, 16-byte aligned.
    /// Lays out a constant in the weights, once: ops given the same bytes
    /// (the layers of each pass of an unrolled loop) share them in flash.
    pub fn constant(&mut self, bytes: &[u8]) -> Lowered<Span> {
        if let Some(&span) = self.written.get(bytes) {
            return Ok(span);
        }
        let offset = self.weights.len().div_ceil(plan::ALIGNMENT) * plan::ALIGNMENT;
        self.weights.resize(offset, 0);
        self.weights.extend_from_slice(bytes);
        let span = Span::new(to_u32(offset)?, to_u32(bytes.len())?);
        self.written.insert(bytes.to_vec(), span);
        Ok(span)
    }

    pub fn i32s(&mut self, values: &[i32]) -> Lowered<Span> {
        self.constant(bytemuck::cast_slice(values))
    }

    /// A constant tensor's bytes, requiring `dtype`.
    pub fn weight_data(&self, t: TensorId, dtype: DataType) -> Lowered<&[u8]> {
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

    /// Constant tensor `t` of type `dtype`, copied into the weights.
    pub fn copied_constant(&mut self, t: TensorId, dtype: DataType) -> Lowered<Span> {
        let data = self.weight_data(t, dtype)?.to_vec();
        self.constant(&data)
    }

    /// Constant input `t` as `dtype`, `channels` values long, copied into
    /// the weights; an absent one (an optional bias) is an empty span.
    pub fn optional_constant(
        &mut self,
        t: Option<TensorId>,
        dtype: DataType,
        channels: usize,
    ) -> Lowered<Span> {
        let Some(t) = t else {
            return Ok(Span::EMPTY);
        };
        let data = self.weight_data(t, dtype)?.to_vec();
        if data.len() != channels * dtype.size() {
            return invalid(format!(
                "bias has {} values for {channels} channels",
                data.len() / dtype.size().max(1)
            ));
        }
        self.constant(&data)
    }

    /// An activation tensor's 4-D NHWC shape.
    pub fn nhwc(&self, t: TensorId) -> Lowered<Nhwc> {
        let tensor = self.tensor(t);
        match tensor.shape[..] {
            [n, h, w, c] => Ok(Nhwc::new(to_u32(n)?, to_u32(h)?, to_u32(w)?, to_u32(c)?)),
            _ => unsupported(format!(
                "tensor '{}' has shape {:?}; this op needs 4-D NHWC",
                tensor.name, tensor.shape
            )),
        }
    }

    /// Variable tensor `t`'s bytes and its reset value (`StateTensor`):
    /// its initial value, copied into the weights, when the graph gives it
    /// one.
    pub(super) fn state_tensor(&mut self, t: TensorId) -> Lowered<StateTensor> {
        let tensor = self.tensor(t);
        let Some(offset) = self.plan.offset(t) else {
            return invalid(format!("'{}' has no place in the arena", tensor.name));
        };
        // TFLM resets an int8 variable to its zero point, any other to 0.
        let zero_point = tensor.quantization.as_ref().map_or(0, |q| q.zero_point0());
        let fill = match (tensor.dtype, i8::try_from(zero_point)) {
            (DataType::I8, Ok(fill)) => fill,
            (DataType::I8, Err(_)) => {
                return invalid(format!(
                    "int8 variable '{}' has zero point {zero_point}",
                    tensor.name
                ))
            }
            _ => 0,
        };
        let span = Span::new(to_u32(offset)?, to_u32(tensor.bytes())?);
        let graph = self.g;
        let initial = match graph.variable_init.iter().find(|(v, _)| *v == t) {
            Some((_, bytes)) if bytes.len() == span.len as usize => self.constant(bytes)?,
            Some(_) => {
                return invalid(format!(
                    "the initial value of '{}' is not {} bytes",
                    tensor.name, span.len
                ))
            }
            None => Span::EMPTY,
        };
        Ok(StateTensor {
            span,
            fill,
            initial,
        })
    }

    /// Model input or output `t` (`is_input`): bools are outputs only, as
    /// the comparisons and logical ops give them (an input's bytes could
    /// hold other values than 0 and 1, which TFLM leaves undefined).
    pub(super) fn tensor_io(&self, t: TensorId, is_input: bool) -> Lowered<TensorIo> {
        let tensor = self.tensor(t);
        let dtype = match tensor.dtype {
            DataType::Bool if is_input => {
                return unsupported("bool model inputs (bool outputs are supported)")
            }
            DataType::Bool => DType::Bool,
            DataType::I8 => DType::I8,
            DataType::F32 => DType::F32,
            DataType::I16 => DType::I16,
            DataType::I32 => DType::I32,
            DataType::U32 => DType::U32,
            DataType::U64 => DType::U64,
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
}
