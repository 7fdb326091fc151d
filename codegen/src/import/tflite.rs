//! TFLite flatbuffer importer: `.tflite` bytes to the IR.
//!
//! Layer: import; uses `flatbuffer` (the bounds-checked reader), `ir` and
//! `error`. Field slot numbers follow the TFLite schema (`schema.fbs`, schema
//! version 3). Every read is checked, so a truncated or corrupted file is an
//! error, never a panic. All unsupported operators and options are collected
//! and reported together.

mod custom_options;
mod fold;
mod pass_shapes;
mod subgraph;
mod variables;
mod while_loop;

use std::path::Path;

use super::flatbuffer::{FbError, Table};
use crate::error::{Error, Result, Unsupported};
use crate::ir::*;

/// The builtin code of a custom operator.
const CUSTOM: i32 = 32;

/// The builtin operators by code (enum BuiltinOperator): the names each op
/// file registers its TFLite converter under (`ops::Formats`), and the names
/// messages about unsupported operators use.
pub(crate) const BUILTIN_NAMES: &[&str] = &[
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    "CONV_3D",
    "IMAG",
    "REAL",
    "COMPLEX_ABS",
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "SIGN",
    "BITCAST",
    "BITWISE_XOR",
    "RIGHT_SHIFT",
];

fn builtin_name(code: i32, custom: Option<&str>) -> String {
    if code == CUSTOM {
        return format!("CUSTOM({})", custom.unwrap_or("?"));
    }
    match usize::try_from(code)
        .ok()
        .and_then(|c| BUILTIN_NAMES.get(c))
    {
        Some(name) => (*name).to_string(),
        None => format!("BUILTIN_{code}"),
    }
}

fn data_type(code: i8) -> DataType {
    match code {
        0 => DataType::F32,
        1 => DataType::F16,
        2 => DataType::I32,
        3 => DataType::U8,
        4 => DataType::I64,
        5 => DataType::Other("string"),
        6 => DataType::Bool,
        7 => DataType::I16,
        8 => DataType::Other("complex64"),
        9 => DataType::I8,
        10 => DataType::F64,
        12 => DataType::U64,
        13 => DataType::Other("resource"),
        15 => DataType::U32,
        16 => DataType::Other("uint16"),
        17 => DataType::Other("int4"),
        _ => DataType::Other("unknown"),
    }
}

/// Reads a `.tflite` file into the IR.
pub fn import_file(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    import_bytes(&bytes, path)
}

/// Imports a TFLite model held in memory; `path` is used in messages.
pub fn import_bytes(bytes: &[u8], path: &Path) -> Result<Graph> {
    let malformed = |e: FbError| Error::Malformed {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    if bytes.len() >= 8 && &bytes[4..8] != b"TFL3" {
        return Err(Error::Malformed {
            path: path.to_owned(),
            detail: "missing the TFLite file identifier \"TFL3\" (is this a .tflite file?)".into(),
        });
    }
    let mut reader = Reader {
        path,
        bytes,
        problems: Vec::new(),
    };
    let graph = reader.model().map_err(|e| match e {
        ReadError::Fb(e) => malformed(e),
        ReadError::Invalid(detail) => Error::Invalid {
            path: path.to_owned(),
            detail,
        },
    })?;
    if !reader.problems.is_empty() {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            problems: reader.problems,
        });
    }
    Ok(graph)
}

pub enum ReadError {
    Fb(FbError),
    Invalid(String),
}

impl From<FbError> for ReadError {
    fn from(e: FbError) -> Self {
        ReadError::Fb(e)
    }
}

pub type ReadResult<T> = std::result::Result<T, ReadError>;

pub fn invalid<T>(detail: impl Into<String>) -> ReadResult<T> {
    Err(ReadError::Invalid(detail.into()))
}

struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    problems: Vec<Unsupported>,
}

impl Reader<'_> {
    fn model(&mut self) -> ReadResult<Graph> {
        let model = Table::root(self.bytes)?;
        let version = model.u32(0, 0)?;
        if version != 3 {
            return invalid(format!("schema version {version}, expected 3"));
        }
        let Some(subgraphs) = model.vector(2, 4)? else {
            return invalid("no subgraphs");
        };
        if subgraphs.is_empty() {
            return invalid("no subgraphs");
        }
        let buffers = model.vector(4, 4)?;
        let opcodes = match model.vector(1, 4)? {
            Some(v) => v
                .tables()
                .map(|t| self.opcode(t?))
                .collect::<ReadResult<Vec<_>>>()?,
            None => vec![],
        };
        let sg = subgraphs.table(0)?;

        let mut tensors = Vec::new();
        let mut variables = Vec::new();
        if let Some(ts) = sg.vector(0, 4)? {
            for (i, t) in ts.tables().enumerate() {
                let t = t?;
                let mut tensor = self.tensor(i, t, buffers)?;
                // `is_variable`: state, whatever initial bytes the file
                // holds (TFLM starts every variable from its reset value).
                if t.bool(5, false)? {
                    tensor.data = None;
                    variables.push(i);
                }
                tensors.push(tensor);
            }
        }
        // The file's tensors: operators may refer to these, not to the
        // variable tensors appended below.
        let file_tensors = tensors.len();
        let resolved = self.variables(subgraphs, &opcodes, buffers, &mut tensors)?;
        variables.extend(&resolved.tensors);
        let index = |v: i32, what: &str| -> ReadResult<TensorId> {
            match usize::try_from(v) {
                Ok(i) if i < file_tensors => Ok(i),
                _ => invalid(format!(
                    "{what} refers to tensor {v}, but there are {file_tensors}"
                )),
            }
        };
        let inputs = sg.vector(1, 4)?.map(|v| v.i32s()).unwrap_or_default();
        let outputs = sg.vector(2, 4)?.map(|v| v.i32s()).unwrap_or_default();
        let inputs = inputs
            .iter()
            .map(|&i| index(i, "a subgraph input"))
            .collect::<ReadResult<Vec<_>>>()?;
        let outputs = outputs
            .iter()
            .map(|&i| index(i, "a subgraph output"))
            .collect::<ReadResult<Vec<_>>>()?;

        let parts = subgraph::ModelParts {
            subgraphs,
            opcodes: &opcodes,
            buffers,
            handles: &resolved.handles,
        };
        let mut g = subgraph::Reading {
            tensors,
            variables,
            nodes: Vec::new(),
            inlined: 0,
            pass_shapes: Default::default(),
            constants: Default::default(),
        };
        let main: Vec<TensorId> = (0..file_tensors).collect();
        let scope = subgraph::Scope {
            subgraph: 0,
            map: &main,
            first_own: 0,
        };
        self.operators(&parts, &scope, &mut Vec::new(), &mut g)?;
        let subgraph::Reading {
            tensors,
            variables,
            nodes,
            ..
        } = g;
        let _ = self.path;
        Ok(Graph {
            source: self.path.to_owned(),
            tensors,
            nodes,
            inputs,
            outputs,
            variables,
            variable_init: resolved.initial,
        })
    }

    fn opcode(&self, t: Table) -> ReadResult<(i32, Option<String>)> {
        let deprecated = i32::from(t.i8(0, 0)?);
        let builtin = t.i32(3, 0)?;
        Ok((deprecated.max(builtin), t.string(1)?.map(str::to_owned)))
    }

    fn tensor(
        &mut self,
        index: usize,
        t: Table,
        buffers: Option<super::flatbuffer::Vector>,
    ) -> ReadResult<Tensor> {
        let name = t.string(3)?.unwrap_or("").to_owned();
        let name = if name.is_empty() {
            format!("tensor{index}")
        } else {
            name
        };
        let raw_shape = t.vector(0, 4)?.map(|v| v.i32s()).unwrap_or_default();
        let mut shape = Vec::with_capacity(raw_shape.len());
        for &d in &raw_shape {
            match usize::try_from(d) {
                Ok(d) => shape.push(d),
                Err(_) => {
                    return invalid(format!("tensor '{name}' has dynamic shape {raw_shape:?}"))
                }
            }
        }
        // Reject sizes that could overflow arithmetic later (more than 2^31 elements).
        if shape
            .iter()
            .try_fold(1u64, |acc, &d| {
                acc.checked_mul(d as u64).filter(|&n| n <= i32::MAX as u64)
            })
            .is_none()
        {
            return invalid(format!(
                "tensor '{name}' has shape {raw_shape:?}, too large"
            ));
        }
        let dtype = data_type(t.i8(1, 0)?);
        let quantization = match t.table(4)? {
            Some(q) => {
                let scale = q.vector(2, 4)?.map(|v| v.f32s()).unwrap_or_default();
                let zero_point = q.vector(3, 8)?.map(|v| v.i64s()).unwrap_or_default();
                let axis = q.i32(6, 0)?;
                // Real files carry quantized_dimension values that do not fit
                // the tensor (3 on a 1-D bias); TFLM ignores them, and so do we
                // unless there is more than one scale.
                let axis = if scale.len() > 1 {
                    usize::try_from(axis).unwrap_or(0)
                } else {
                    0
                };
                (!scale.is_empty()).then_some(Quantization {
                    scale,
                    zero_point,
                    axis,
                })
            }
            None => None,
        };
        let buffer = t.u32(2, 0)? as usize;
        let data = match buffers {
            Some(b) if buffer != 0 => {
                if buffer >= b.len() {
                    return invalid(format!(
                        "tensor '{name}' refers to buffer {buffer}, but there are {}",
                        b.len()
                    ));
                }
                let bt = b.table(buffer)?;
                let offset = bt.u64(1, 0)?;
                let bytes = if offset > 1 {
                    let size = bt.u64(2, 0)?;
                    let end = offset
                        .checked_add(size)
                        .filter(|&e| e <= self.bytes.len() as u64);
                    match end {
                        Some(end) => Some(self.bytes[offset as usize..end as usize].to_vec()),
                        None => {
                            return invalid(format!(
                                "tensor '{name}': external buffer lies outside the file"
                            ))
                        }
                    }
                } else {
                    bt.vector(0, 1)?.map(|v| v.bytes().to_vec())
                };
                bytes.filter(|b| !b.is_empty())
            }
            _ => None,
        };
        // A file's bool is true wherever it is not zero; kiln's kernels
        // compare bool bytes as integers, so a constant holds 0 or 1 from
        // here on, for every op that reads it.
        let data = match dtype {
            DataType::Bool => data.map(|d| d.into_iter().map(|b| u8::from(b != 0)).collect()),
            _ => data,
        };
        // TFLM ignores parameters on float tensors; in the IR they would
        // read as the model's own choice for quantizing them (see `Tensor`).
        let quantization = quantization.filter(|_| dtype != DataType::F32);
        let tensor = Tensor {
            name,
            shape,
            dtype,
            quantization,
            data,
        };
        if let Some(data) = &tensor.data {
            if dtype.size() != 0 && data.len() != tensor.bytes() {
                return invalid(format!(
                    "constant '{}' holds {} bytes, but shape {:?} of {} needs {}",
                    tensor.name,
                    data.len(),
                    tensor.shape,
                    dtype.name(),
                    tensor.bytes()
                ));
            }
        }
        Ok(tensor)
    }
}

/// One TFLite operator as its converter (in its op's file under `ops/`)
/// sees it: its options table (when absent every field takes its default),
/// its inputs and outputs, and the model's tensors. A converter returns the
/// IR op and may rearrange `inputs` into the IR's order; options kiln cannot
/// honour are recorded with [`TfliteOp::unsupported`] and reported with every
/// other problem of the model.
pub struct TfliteOp<'a> {
    options: Option<Table<'a>>,
    /// A custom operator's options, and their format (0: FLEXBUFFERS).
    custom_options: &'a [u8],
    custom_format: i8,
    /// `None` for an optional input that is absent (TFLite's -1).
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
    pub tensors: &'a [Tensor],
    problems: Vec<String>,
    /// Set by [`TfliteOp::runs_as`] (and [`TfliteOp::one_node_per_output`]).
    chain: Vec<ChainNode>,
    /// Set by [`TfliteOp::intermediate`]: ids from `tensors.len()` on.
    intermediates: Vec<Tensor>,
    /// Set by [`TfliteOp::state`].
    states: Vec<(&'static str, Vec<usize>, DataType)>,
    /// Set by [`TfliteOp::output_is_state`].
    output_state: bool,
}

/// One IR node of an operator that runs as several ([`TfliteOp::runs_as`]):
/// its kind, inputs and outputs, each one of the operator's tensors.
pub type ChainNode = (OpKind, Vec<Option<TensorId>>, Vec<TensorId>);

/// Converts one TFLite operator to the IR.
pub type TfliteConverter = fn(&mut TfliteOp) -> ReadResult<OpKind>;

impl TfliteOp<'_> {
    /// Whether the operator has an options table.
    pub fn has_options(&self) -> bool {
        self.options.is_some()
    }

    pub fn i8(&self, slot: usize, default: i8) -> ReadResult<i8> {
        Ok(self.options.map_or(Ok(default), |t| t.i8(slot, default))?)
    }

    pub fn i32(&self, slot: usize, default: i32) -> ReadResult<i32> {
        Ok(self.options.map_or(Ok(default), |t| t.i32(slot, default))?)
    }

    pub fn f32(&self, slot: usize, default: f32) -> ReadResult<f32> {
        Ok(self.options.map_or(Ok(default), |t| t.f32(slot, default))?)
    }

    pub fn bool(&self, slot: usize) -> ReadResult<bool> {
        Ok(self.options.map_or(Ok(false), |t| t.bool(slot, false))?)
    }

    /// A strictly positive integer option (a stride, a filter size).
    pub fn positive(&self, slot: usize, default: i32, what: &str) -> ReadResult<usize> {
        let v = self.i32(slot, default)?;
        match usize::try_from(v) {
            Ok(v) if v > 0 => Ok(v),
            _ => invalid(format!("{what} is {v}, must be positive")),
        }
    }

    /// A fused activation option (enum ActivationFunctionType).
    pub fn activation(&mut self, slot: usize) -> ReadResult<Activation> {
        Ok(match self.i8(slot, 0)? {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            4 => self.unsupported_activation("fused TANH activation".into()),
            5 => self.unsupported_activation("fused SIGN_BIT activation".into()),
            other => self.unsupported_activation(format!("unknown fused activation {other}")),
        })
    }

    fn unsupported_activation(&mut self, reason: String) -> Activation {
        self.unsupported(reason);
        Activation::None
    }

    /// A padding option (enum Padding).
    pub fn padding(&mut self, slot: usize) -> ReadResult<Padding> {
        Ok(match self.i8(slot, 0)? {
            0 => Padding::Same,
            1 => Padding::Valid,
            other => {
                self.unsupported(format!("unknown padding {other}"));
                Padding::Valid
            }
        })
    }

    /// The operator runs as one node per output, each reading the same
    /// inputs (SPLIT and UNPACK: a slice each); `kinds[k]` computes output
    /// `k`: a chain ([`TfliteOp::runs_as`]) whose nodes all read the
    /// operator's inputs. Returns the first kind, which the converter
    /// returns.
    pub fn one_node_per_output(&mut self, kinds: Vec<OpKind>) -> ReadResult<OpKind> {
        if kinds.len() != self.outputs.len() || kinds.is_empty() {
            return invalid(format!(
                "{} outputs where the options give {}",
                self.outputs.len(),
                kinds.len()
            ));
        }
        let nodes = kinds
            .into_iter()
            .zip(&self.outputs)
            .map(|(kind, &output)| (kind, self.inputs.clone(), vec![output]))
            .collect();
        self.runs_as(nodes)
    }

    /// The operator runs as `nodes`, in order, each reading and writing
    /// the operator's own tensors (one output may feed a later node: TFLM's
    /// BasicClassifier is a GATHER whose output a comparison reads). Returns
    /// the first node's kind, which the converter returns (the reader then
    /// uses `nodes` instead). Such an operator keeps no state of its own
    /// ([`TfliteOp::state`] applies to single nodes): the reader refuses
    /// both together.
    pub fn runs_as(&mut self, nodes: Vec<ChainNode>) -> ReadResult<OpKind> {
        // Each node reads what the operator reads or an earlier node wrote,
        // and writes outputs of the operator's or its intermediates.
        let own_ids = self.tensors.len()..self.tensors.len() + self.intermediates.len();
        let mut written: Vec<TensorId> = Vec::new();
        let mut tensors_are_own = true;
        for (_, inputs, outputs) in &nodes {
            let readable = |t: &TensorId| self.inputs.contains(&Some(*t)) || written.contains(t);
            tensors_are_own &= inputs.iter().flatten().all(readable);
            tensors_are_own &= outputs
                .iter()
                .all(|o| self.outputs.contains(o) || own_ids.contains(o));
            written.extend(outputs);
        }
        let every_output_written = self
            .outputs
            .iter()
            .all(|o| nodes.iter().any(|(_, _, outputs)| outputs.contains(o)));
        match nodes.first() {
            Some((kind, _, _)) if tensors_are_own && every_output_written => {
                let kind = kind.clone();
                self.chain = nodes;
                Ok(kind)
            }
            _ => invalid("an operator run as nodes that do not follow from its tensors"),
        }
    }

    /// A tensor of the operator's own between the nodes it runs as
    /// ([`TfliteOp::runs_as`]), which the reader adds to the graph: its id.
    pub fn intermediate(&mut self, name: String, shape: Vec<usize>, dtype: DataType) -> TensorId {
        self.intermediates.push(Tensor {
            name,
            shape,
            dtype,
            quantization: None,
            data: None,
        });
        self.tensors.len() + self.intermediates.len() - 1
    }

    /// The operator keeps state of `shape` from one inference to the next,
    /// which the model has no tensor for (TFLM's signal library allocates
    /// it in the kernel): the importer adds a variable tensor, zero at
    /// reset, as the node's next input.
    pub fn state(&mut self, what: &'static str, shape: Vec<usize>, dtype: DataType) {
        self.states.push((what, shape, dtype));
    }

    /// The operator keeps its first output from one inference to the next
    /// and updates it (CIRCULAR_BUFFER's slots, which streaming models mark
    /// as a variable tensor so that TFLM's planner leaves it alone): the
    /// importer makes that output a variable tensor (its zero point at
    /// reset) if the file did not.
    pub fn output_is_state(&mut self) {
        self.output_state = true;
    }

    /// The tensor of input `i`, if the operator has that input.
    pub fn input_tensor(&self, i: usize) -> Option<&Tensor> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .map(|t| &self.tensors[t])
    }

    /// Records an option kiln cannot honour.
    pub fn unsupported(&mut self, reason: String) {
        self.problems.push(reason);
    }
}
