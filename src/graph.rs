//! The graph a model compiles to: plain, const-constructible data that the
//! firmware keeps in flash and the host builds at run time. Each op names the
//! arena spans it reads and writes, the weight spans of its constants, and the
//! params struct of its kernel; nothing is resolved at run time.
//!
//! Layer: graph; uses `tensor` and the params structs of `kernels`.

use crate::kernels::activation::{HardSwishParams, RequantizeParams, SigmoidParams};
use crate::kernels::conv2d::Conv2dParams;
use crate::kernels::depthwise_conv2d::DepthwiseConv2dParams;
use crate::kernels::elementwise::{AddParams, Broadcast, MulParams, PReluParams};
use crate::kernels::fully_connected::FullyConnectedParams;
use crate::kernels::mean::MeanParams;
use crate::kernels::pad::PadParams;
use crate::kernels::pooling::PoolParams;
use crate::kernels::quantize::AffineParams;
use crate::kernels::slice::SliceParams;
use crate::kernels::softmax::SoftmaxParams;
use crate::kernels::transpose::TransposeParams;
use crate::tensor::{DType, FloatRange, Quantization, Span, MAX_RANK};

/// A convolution-like op: activations in the arena, filter, bias and
/// per-channel requantization (`multiplier`, `shift`: i32 arrays) in the
/// weights. `bias` may be empty.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2dOp {
    pub params: Conv2dParams,
    pub input: Span,
    pub filter: Span,
    pub bias: Span,
    pub multiplier: Span,
    pub shift: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthwiseConv2dOp {
    pub params: DepthwiseConv2dParams,
    pub input: Span,
    pub filter: Span,
    pub bias: Span,
    pub multiplier: Span,
    pub shift: Span,
    pub output: Span,
}

/// `multiplier` and `shift` hold one i32 (per-tensor) or one per output channel.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FullyConnectedOp {
    pub params: FullyConnectedParams,
    pub input: Span,
    pub filter: Span,
    pub bias: Span,
    pub multiplier: Span,
    pub shift: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolOp {
    pub params: PoolParams,
    pub input: Span,
    pub output: Span,
}

/// int8 ADD or SUB; one operand may be a constant in the weights.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AddOp {
    pub params: AddParams,
    pub constant: ConstantOperand,
    pub input1: Span,
    pub input2: Span,
    pub output: Span,
}

/// int8 MUL; one operand may be a constant in the weights.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MulOp {
    pub params: MulParams,
    pub constant: ConstantOperand,
    pub input1: Span,
    pub input2: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxOp {
    pub params: SoftmaxParams,
    pub input: Span,
    pub output: Span,
}

/// LOGISTIC or TANH.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SigmoidOp {
    pub params: SigmoidParams,
    pub input: Span,
    pub output: Span,
}

/// int8 to int8 rescaling with a clamp: QUANTIZE between int8 scales and
/// the standalone RELU family.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequantizeOp {
    pub params: RequantizeParams,
    pub input: Span,
    pub output: Span,
}

/// LEAKY_RELU: `positive` rescales inputs at or above the zero point,
/// `negative` (alpha folded into its multiplier) those below.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReluOp {
    pub positive: RequantizeParams,
    pub negative: RequantizeParams,
    pub input: Span,
    pub output: Span,
}

/// PRELU: `alpha` (the slopes) may be a constant in the weights.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PReluOp {
    pub params: PReluParams,
    pub constant: ConstantOperand,
    pub input: Span,
    pub alpha: Span,
    pub output: Span,
}

/// HARD_SWISH.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardSwishOp {
    pub params: HardSwishParams,
    pub input: Span,
    pub output: Span,
}

/// The most inputs one CONCATENATION takes; the codegen rejects more.
pub const MAX_CONCAT_INPUTS: usize = 8;

/// The first `count` of `inputs` are copied, in order, into `outer` rows of
/// the output. A fixed array keeps ops free of borrowed data.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConcatenationOp {
    pub outer: u32,
    pub count: u32,
    pub inputs: [Span; MAX_CONCAT_INPUTS],
    pub output: Span,
}

impl ConcatenationOp {
    pub fn inputs(&self) -> &[Span] {
        &self.inputs[..(self.count as usize).min(MAX_CONCAT_INPUTS)]
    }
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PadOp {
    pub params: PadParams,
    pub input: Span,
    pub output: Span,
}

/// Float32 constant-mode PAD; `params.pad_value` is unused.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PadF32Op {
    pub params: PadParams,
    pub value: f32,
    pub input: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanOp {
    pub params: MeanParams,
    pub input: Span,
    pub output: Span,
}

/// float32 to int8 (QUANTIZE) or int8 to float32 (DEQUANTIZE).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineOp {
    pub params: AffineParams,
    pub input: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2dF32Op {
    /// Geometry; the int8 offsets are unused.
    pub params: Conv2dParams,
    pub activation: FloatRange,
    pub input: Span,
    pub filter: Span,
    pub bias: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthwiseConv2dF32Op {
    pub params: DepthwiseConv2dParams,
    pub activation: FloatRange,
    pub input: Span,
    pub filter: Span,
    pub bias: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FullyConnectedF32Op {
    pub params: FullyConnectedParams,
    pub activation: FloatRange,
    pub input: Span,
    pub filter: Span,
    pub bias: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolF32Op {
    pub params: PoolParams,
    pub activation: FloatRange,
    pub input: Span,
    pub output: Span,
}

/// Which operand of a binary op is a constant in the weights rather than a
/// value in the arena. PyTorch exports `(x - mean) / std` that way, Keras'
/// Rescaling and Normalization layers too, and a constant stays in flash
/// instead of being copied into RAM.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum ConstantOperand {
    /// Both operands are arena values.
    #[default]
    Neither,
    /// `input1` is a span of the weights.
    First,
    /// `input2` is a span of the weights.
    Second,
}

/// Written as a path, so that the codegen can print ops with `Debug` and get
/// Rust that compiles (a bare `Second` would not resolve).
impl core::fmt::Debug for ConstantOperand {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConstantOperand::Neither => "ConstantOperand::Neither",
            ConstantOperand::First => "ConstantOperand::First",
            ConstantOperand::Second => "ConstantOperand::Second",
        })
    }
}

/// Float32 ADD, MUL, SUB or DIV.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinaryF32Op {
    pub broadcast: Broadcast,
    pub activation: FloatRange,
    pub constant: ConstantOperand,
    pub input1: Span,
    pub input2: Span,
    pub output: Span,
}

#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxF32Op {
    pub outer: u32,
    pub depth: u32,
    pub beta: f32,
    pub input: Span,
    pub output: Span,
}

/// Float32 LOGISTIC, TANH, a clamp (standalone RELU family), LeakyRelu
/// (`alpha`), HardSigmoid and HardSwish (`alpha`, `beta`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnaryF32Op {
    pub activation: FloatRange,
    pub alpha: f32,
    pub beta: f32,
    pub input: Span,
    pub output: Span,
}

/// A permutation of dimensions, for any element type.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransposeOp {
    pub params: TransposeParams,
    pub input: Span,
    pub output: Span,
}

/// SLICE of int8 or float32 values (see `kernels::slice`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceOp {
    pub params: SliceParams,
    pub input: Span,
    pub output: Span,
}

/// One step of a graph. RESHAPE and SQUEEZE have no variant: the planner
/// gives their output the input's bytes, so they cost nothing.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Conv2d(Conv2dOp),
    DepthwiseConv2d(DepthwiseConv2dOp),
    FullyConnected(FullyConnectedOp),
    AveragePool2d(PoolOp),
    MaxPool2d(PoolOp),
    Add(AddOp),
    Mul(MulOp),
    Softmax(SoftmaxOp),
    Logistic(SigmoidOp),
    Tanh(SigmoidOp),
    Requantize(RequantizeOp),
    Concatenation(ConcatenationOp),
    Pad(PadOp),
    Mean(MeanOp),
    Quantize(AffineOp),
    Dequantize(AffineOp),
    Conv2dF32(Conv2dF32Op),
    DepthwiseConv2dF32(DepthwiseConv2dF32Op),
    FullyConnectedF32(FullyConnectedF32Op),
    AveragePool2dF32(PoolF32Op),
    MaxPool2dF32(PoolF32Op),
    AddF32(BinaryF32Op),
    MulF32(BinaryF32Op),
    SoftmaxF32(SoftmaxF32Op),
    LogisticF32(UnaryF32Op),
    TanhF32(UnaryF32Op),
    ClampF32(UnaryF32Op),
    Transpose(TransposeOp),
    SubF32(BinaryF32Op),
    DivF32(BinaryF32Op),
    LeakyReluF32(UnaryF32Op),
    HardSigmoidF32(UnaryF32Op),
    HardSwishF32(UnaryF32Op),
    /// ONNX PRelu: `input2` holds the slopes.
    PReluF32(BinaryF32Op),
    PadF32(PadF32Op),
    /// Float32 MEAN; the quantization fields of the params are unused.
    MeanF32(MeanOp),
    /// Float32 transposed convolution (see `kernels::transpose_conv2d`).
    TransposeConv2dF32(Conv2dF32Op),
    Slice(SliceOp),
    LeakyRelu(LeakyReluOp),
    HardSwish(HardSwishOp),
    Sub(AddOp),
    PRelu(PReluOp),
    /// int8 transposed convolution (see `kernels::transpose_conv2d`).
    TransposeConv2d(Conv2dOp),
}

impl Op {
    /// The op's name as TFLite spells it, for reports and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "CONV_2D",
            Op::DepthwiseConv2d(_) => "DEPTHWISE_CONV_2D",
            Op::FullyConnected(_) => "FULLY_CONNECTED",
            Op::AveragePool2d(_) => "AVERAGE_POOL_2D",
            Op::MaxPool2d(_) => "MAX_POOL_2D",
            Op::Add(_) => "ADD",
            Op::Mul(_) => "MUL",
            Op::Softmax(_) => "SOFTMAX",
            Op::Logistic(_) => "LOGISTIC",
            Op::Tanh(_) => "TANH",
            Op::Requantize(_) => "REQUANTIZE",
            Op::LeakyRelu(_) => "LEAKY_RELU",
            Op::HardSwish(_) => "HARD_SWISH",
            Op::Sub(_) => "SUB",
            Op::PRelu(_) => "PRELU",
            Op::TransposeConv2d(_) => "TRANSPOSE_CONV",
            Op::Concatenation(_) => "CONCATENATION",
            Op::Pad(_) => "PAD",
            Op::Mean(_) => "MEAN",
            Op::Quantize(_) => "QUANTIZE",
            Op::Dequantize(_) => "DEQUANTIZE",
            Op::Conv2dF32(_) => "CONV_2D (float32)",
            Op::DepthwiseConv2dF32(_) => "DEPTHWISE_CONV_2D (float32)",
            Op::FullyConnectedF32(_) => "FULLY_CONNECTED (float32)",
            Op::AveragePool2dF32(_) => "AVERAGE_POOL_2D (float32)",
            Op::MaxPool2dF32(_) => "MAX_POOL_2D (float32)",
            Op::AddF32(_) => "ADD (float32)",
            Op::MulF32(_) => "MUL (float32)",
            Op::SoftmaxF32(_) => "SOFTMAX (float32)",
            Op::LogisticF32(_) => "LOGISTIC (float32)",
            Op::TanhF32(_) => "TANH (float32)",
            Op::ClampF32(_) => "RELU (float32)",
            Op::Transpose(_) => "TRANSPOSE",
            Op::SubF32(_) => "SUB (float32)",
            Op::DivF32(_) => "DIV (float32)",
            Op::LeakyReluF32(_) => "LEAKY_RELU (float32)",
            Op::HardSigmoidF32(_) => "HARD_SIGMOID (float32)",
            Op::HardSwishF32(_) => "HARD_SWISH (float32)",
            Op::PReluF32(_) => "PRELU (float32)",
            Op::PadF32(_) => "PAD (float32)",
            Op::MeanF32(_) => "MEAN (float32)",
            Op::TransposeConv2dF32(_) => "TRANSPOSE_CONV (float32)",
            Op::Slice(_) => "SLICE",
        }
    }
}

/// A model input or output: where it lives in the arena and how to read it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorIo {
    pub span: Span,
    pub dtype: DType,
    /// The first `rank` entries are the shape.
    pub dims: [u32; MAX_RANK],
    pub rank: u32,
    pub quantization: Quantization,
}

impl TensorIo {
    pub fn shape(&self) -> &[u32] {
        &self.dims[..(self.rank as usize).min(MAX_RANK)]
    }

    pub fn elements(&self) -> usize {
        self.span.len as usize / self.dtype.size()
    }
}

/// A compiled model: ops in execution order over one arena of `arena_bytes`
/// bytes, and the constant bytes they reference (`weights`, in flash on a
/// microcontroller, 16-byte aligned).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Graph<'a> {
    pub ops: &'a [Op],
    pub inputs: &'a [TensorIo],
    pub outputs: &'a [TensorIo],
    pub arena_bytes: u32,
    pub weights: &'a [u8],
}

/// 16-byte aligned storage, for the weights of a generated model
/// (`static W: &Aligned<[u8]> = &Aligned(*include_bytes!(..))`) and for arenas.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Aligned<T: ?Sized>(pub T);

/// The alignment the planner gives every arena tensor and constant.
pub const ALIGNMENT: usize = 16;
