//! Lowering: IR nodes to the runtime's op descriptors. The driver walks the
//! nodes in order and asks each node's op (`ops/`) for its runtime op; the
//! [`Lowering`] context gives an op what every op needs: its tensors' arena
//! spans and quantization, and a place for its constants in one 16-byte
//! aligned weights blob.
//!
//! Layer: lower; uses `ir`, `plan`, `ops` and the runtime's `graph`.
//! The resulting [`CompiledModel`] is what the emitter prints as Rust and
//! what the host CLI runs through `kiln::Executor`: the same ops either way.

use std::path::PathBuf;

use kiln::graph::{Op, TensorIo};
use kiln::tensor::{FloatRange, Nhwc, MAX_RANK};
use kiln::{DType, Span};

use crate::error::{Error, Result, Unsupported};
use crate::ir::{self, DataType, Graph, Node, TensorId};
use crate::plan::{self, ArenaPlan};

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
    let mut cx = Lowering {
        g: &graph,
        plan: &plan,
        weights: Vec::new(),
        problems: Vec::new(),
    };
    let mut ops = Vec::new();
    let mut op_nodes = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        match cx
            .output(node)
            .and_then(|_| node.kind.op().lower(&mut cx, node))
        {
            Ok(Some(op)) => {
                ops.push(op);
                op_nodes.push(i);
            }
            Ok(None) => {}
            Err(Problem::Unsupported(reason)) => cx.unsupported(i, node, reason),
            Err(Problem::Invalid(detail)) => {
                return Err(Error::Invalid {
                    path: graph.source.clone(),
                    detail: format!("op #{i} {}: {detail}", node.source_name),
                })
            }
        }
    }
    let io = |ids: &[TensorId], cx: &mut Lowering| -> Vec<TensorIo> {
        ids.iter()
            .filter_map(|&t| match cx.tensor_io(t) {
                Ok(io) => Some(io),
                Err(Problem::Unsupported(reason)) | Err(Problem::Invalid(reason)) => {
                    cx.problems.push(Unsupported {
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
    let inputs = io(&graph.inputs, &mut cx);
    let outputs = io(&graph.outputs, &mut cx);
    if !cx.problems.is_empty() {
        return Err(Error::Unsupported {
            path: graph.source.clone(),
            problems: cx.problems,
        });
    }
    let weights_len = cx.weights.len();
    let mut weights = vec![0u128; weights_len.div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut weights)[..weights_len].copy_from_slice(&cx.weights);
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
        let Some(offset) = self.plan.offset(t) else {
            return invalid(format!(
                "tensor '{}' has no place in the arena",
                tensor.name
            ));
        };
        Ok(Span::new(to_u32(offset)?, to_u32(tensor.bytes())?))
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
    pub fn constant(&mut self, bytes: &[u8]) -> Lowered<Span> {
        let offset = self.weights.len().div_ceil(plan::ALIGNMENT) * plan::ALIGNMENT;
        self.weights.resize(offset, 0);
        self.weights.extend_from_slice(bytes);
        Ok(Span::new(to_u32(offset)?, to_u32(bytes.len())?))
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
        if self.tensor(t).elements() != channels {
            return invalid(format!(
                "bias has {} values for {channels} channels",
                self.tensor(t).elements()
            ));
        }
        self.copied_constant(t, dtype)
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
}
