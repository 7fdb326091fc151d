//! The one graph IR every importer produces and every later stage reads:
//! tensors (shape, type, quantization, constant data) and nodes in
//! execution order.
//!
//! Layer: ir; plain data, uses only `std`.

use std::path::PathBuf;

pub type TensorId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    F32,
    F16,
    F64,
    I8,
    U8,
    I16,
    I32,
    I64,
    Bool,
    /// Any other type, by its name in the source format.
    Other(&'static str),
}

impl DataType {
    /// Size of one element in bytes (0 for types kiln cannot store).
    pub fn size(self) -> usize {
        match self {
            DataType::I8 | DataType::U8 | DataType::Bool => 1,
            DataType::F16 | DataType::I16 => 2,
            DataType::F32 | DataType::I32 => 4,
            DataType::F64 | DataType::I64 => 8,
            DataType::Other(_) => 0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::F32 => "float32",
            DataType::F16 => "float16",
            DataType::F64 => "float64",
            DataType::I8 => "int8",
            DataType::U8 => "uint8",
            DataType::I16 => "int16",
            DataType::I32 => "int32",
            DataType::I64 => "int64",
            DataType::Bool => "bool",
            DataType::Other(name) => name,
        }
    }
}

/// Affine quantization: per tensor (one scale) or per channel along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: usize,
}

impl Quantization {
    /// The per-tensor scale and zero point (the first entries).
    pub fn scale0(&self) -> f32 {
        self.scale.first().copied().unwrap_or(0.0)
    }

    pub fn zero_point0(&self) -> i32 {
        self.zero_point.first().copied().unwrap_or(0) as i32
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DataType,
    /// On an integer tensor, how its values map to reals. On a float32
    /// tensor, the parameters the source model chose for it (a pre-quantized
    /// ONNX model's QuantizeLinear/DequantizeLinear pairs, the scales of its
    /// dequantized weights): post-training quantization takes them instead of
    /// calibrated ones, and float execution ignores them.
    pub quantization: Option<Quantization>,
    /// Constant contents (little-endian), for weights, biases and shapes.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> usize {
        self.elements() * self.dtype.size()
    }

    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// Constant contents as i32 (for int32 biases, axes, paddings and shapes).
    pub fn data_i32(&self) -> Option<Vec<i32>> {
        let data = self.data.as_ref()?;
        match self.dtype {
            DataType::I32 => Some(
                data.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            DataType::I64 => Some(
                data.chunks_exact(8)
                    .map(|c| {
                        i64::from_le_bytes(c.try_into().expect("8 bytes"))
                            .clamp(i32::MIN.into(), i32::MAX.into()) as i32
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// TFLite's SAME (ONNX SAME_UPPER): the extra padding at the end.
    Same,
    Valid,
    /// Explicit amounts (ONNX `pads`): top, left, bottom, right.
    Explicit([usize; 4]),
}

impl Padding {
    /// A window (conv, pool) sliding over an `input`-long axis (0: height,
    /// 1: width): its output extent and the padding before the first
    /// position. SAME and VALID follow TFLite (the padding is the first
    /// half of the total), explicit amounts ONNX.
    pub fn window(
        self,
        axis: usize,
        input: usize,
        filter: usize,
        stride: usize,
        dilation: usize,
    ) -> (usize, usize) {
        let effective = (filter.max(1) - 1) * dilation + 1;
        if let Padding::Explicit(p) = self {
            let (before, after) = (p[axis], p[axis + 2]);
            let out = (input + before + after).saturating_sub(effective) / stride.max(1) + 1;
            return (out, before);
        }
        let out = match self {
            Padding::Same => input.div_ceil(stride.max(1)),
            _ => (input + stride).saturating_sub(effective) / stride.max(1),
        };
        let total = ((out.max(1) - 1) * stride + effective).saturating_sub(input);
        (out, total / 2)
    }

    /// Both axes: `([out_height, out_width], [pad_top, pad_left])`.
    pub fn windows(
        self,
        input: [usize; 2],
        filter: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> ([usize; 2], [usize; 2]) {
        let (h, top) = self.window(0, input[0], filter[0], stride[0], dilation[0]);
        let (w, left) = self.window(1, input[1], filter[1], stride[1], dilation[1]);
        ([h, w], [top, left])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dAttrs {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub activation: Activation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dAttrs {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub filter: [usize; 2],
    pub activation: Activation,
}

/// What a node computes. Inputs follow TFLite's order for each op.
#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// Inputs: data, filter `[O, KH, KW, I]`, optional bias.
    Conv2d(Conv2dAttrs),
    /// Inputs: data, filter `[1, KH, KW, O]`, optional bias.
    DepthwiseConv2d(Conv2dAttrs),
    /// Float32 only. Inputs: data, filter `[O, KH, KW, I / groups]`,
    /// optional bias; padding is `Explicit` and only its start is used (the
    /// output shape fixes the rest).
    TransposeConv2d(Conv2dAttrs),
    /// Inputs: data, filter `[O, I]`, optional bias.
    FullyConnected {
        activation: Activation,
        keep_num_dims: bool,
    },
    AveragePool2d(Pool2dAttrs),
    MaxPool2d(Pool2dAttrs),
    Add {
        activation: Activation,
    },
    Mul {
        activation: Activation,
    },
    Softmax {
        beta: f32,
    },
    Logistic,
    Tanh,
    Sub {
        activation: Activation,
    },
    /// `x < 0 ? x * slope : x`; the slope (input 1) broadcasts. (Div,
    /// HardSigmoid and TransposeConv2d are float32 only.)
    PRelu,
    Div,
    LeakyRelu {
        alpha: f32,
    },
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    /// Standalone activations.
    Relu(Activation),
    /// A clamp to any interval (ONNX Clip), float32 only.
    Clip {
        min: f32,
        max: f32,
    },
    Concatenation {
        axis: i32,
        activation: Activation,
    },
    /// Inputs: data, paddings `[rank, 2]`.
    Pad,
    /// Inputs: data, axes.
    Mean {
        keep_dims: bool,
    },
    /// Reshape and squeeze: same bytes, another shape.
    Reshape,
    Quantize,
    Dequantize,
    /// Output dimension `d` is input dimension `perm[d]`.
    /// Takes `begin[d] + k * step[d]` for every output coordinate `k` of
    /// each dimension (the output shape gives the count); steps positive.
    Slice {
        begin: Vec<usize>,
        step: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
}

impl OpKind {
    /// TFLite's name for the op.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Conv2d(_) => "CONV_2D",
            OpKind::TransposeConv2d(_) => "TRANSPOSE_CONV",
            OpKind::DepthwiseConv2d(_) => "DEPTHWISE_CONV_2D",
            OpKind::FullyConnected { .. } => "FULLY_CONNECTED",
            OpKind::AveragePool2d(_) => "AVERAGE_POOL_2D",
            OpKind::MaxPool2d(_) => "MAX_POOL_2D",
            OpKind::Add { .. } => "ADD",
            OpKind::Mul { .. } => "MUL",
            OpKind::Softmax { .. } => "SOFTMAX",
            OpKind::Logistic => "LOGISTIC",
            OpKind::Tanh => "TANH",
            OpKind::Relu(Activation::Relu6) => "RELU6",
            OpKind::Relu(Activation::ReluN1To1) => "RELU_N1_TO_1",
            OpKind::Relu(_) => "RELU",
            OpKind::Clip { .. } => "CLIP",
            OpKind::Sub { .. } => "SUB",
            OpKind::PRelu => "PRELU",
            OpKind::Div => "DIV",
            OpKind::LeakyRelu { .. } => "LEAKY_RELU",
            OpKind::HardSigmoid { .. } => "HARD_SIGMOID",
            OpKind::HardSwish => "HARD_SWISH",
            OpKind::Concatenation { .. } => "CONCATENATION",
            OpKind::Pad => "PAD",
            OpKind::Mean { .. } => "MEAN",
            OpKind::Reshape => "RESHAPE",
            OpKind::Quantize => "QUANTIZE",
            OpKind::Dequantize => "DEQUANTIZE",
            OpKind::Transpose { .. } => "TRANSPOSE",
            OpKind::Slice { .. } => "SLICE",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: OpKind,
    /// `None` for an optional input that is absent (TFLite's -1).
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
    /// The op's name in the source file (for example `SQUEEZE` for a node
    /// imported as `Reshape`).
    pub source_name: String,
}

impl Node {
    pub fn input(&self, i: usize) -> Option<TensorId> {
        self.inputs.get(i).copied().flatten()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// The file the graph was imported from, for messages.
    pub source: PathBuf,
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

impl Graph {
    /// Whether the source model was pre-quantized: some float32 activation
    /// carries the model's own quantization parameters.
    pub fn is_prequantized(&self) -> bool {
        self.tensors
            .iter()
            .any(|t| t.dtype == DataType::F32 && !t.is_constant() && t.quantization.is_some())
    }

    /// The float model alone: the source model's quantization parameters on
    /// float32 tensors dropped.
    pub fn without_quantization_hints(mut self) -> Graph {
        for t in &mut self.tensors {
            if t.dtype == DataType::F32 {
                t.quantization = None;
            }
        }
        self
    }
}
