//! The ops the codegen knows. Each file holds one op (or one family that
//! shares its preparation): its attributes in the IR, how TFLite and ONNX
//! spell it and the converters that read it ([`Formats`]), how
//! post-training quantization treats it, its lowering to the runtime's op
//! for int8 and float32 (one description, the arithmetic picked by the
//! tensors' types), its multiply-accumulates and the stack its runtime op
//! needs. The list at the bottom of this file is the IR's op set: [`OpKind`],
//! its dispatch and both importers' tables come from it.
//!
//! Layer: ops; uses `ir`, `lower` (the lowering context), `quantize`
//! (TFLite's parameter derivations), the importers' converter contexts
//! (`import::tflite::TfliteOp`, `import::onnx::Importer`) and the runtime's
//! `ops`.

use std::fmt::Debug;

use kiln::graph::Op;

use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::TfliteConverter;
use crate::ir::{Activation, Graph, Node, TensorId};
use crate::lower::{Lowered, Lowering};
use crate::stack::Stack;
use kiln::arch::KernelChoice;

/// How the file formats spell an op, and the converters that read it into
/// the IR. The importers look converters up by name in these tables, and
/// `kiln ops` prints the TFLite names with their `dtypes`.
pub(crate) struct Formats {
    /// TFLite builtin operator names (as `schema.fbs` spells them).
    pub tflite: &'static [(&'static str, TfliteConverter)],
    /// ONNX op types.
    pub onnx: &'static [OnnxConverter],
    /// The activation types the op's lowering takes.
    pub dtypes: Dtypes,
}

/// The activation types an op runs in: what its `lower` accepts, which
/// its fixtures check (`support` prints it beside TFLM's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtypes {
    pub int8: bool,
    pub int16: bool,
    pub float32: bool,
    /// Runs in the types outside those three that TFLM's kernel takes (the
    /// signal library's uint32 and uint64 channels), which the note names.
    pub other: bool,
    /// What the three marks leave out, or an empty string.
    pub note: &'static str,
    /// Members of a family that share one IR op (the functions of one
    /// value) that run in int8 although the family, `int8`, does not; the
    /// note is the family's and does not apply to them.
    pub int8_names: &'static [&'static str],
    /// Members that run in int16 although the family, `int16`, does not.
    pub int16_names: &'static [&'static str],
}

impl Dtypes {
    /// The types of family member `name`.
    pub fn of(self, name: &str) -> Dtypes {
        let int8 = !self.int8 && self.int8_names.contains(&name);
        let int16 = !self.int16 && self.int16_names.contains(&name);
        if !int8 && !int16 {
            return self;
        }
        Dtypes {
            int8: self.int8 || int8,
            int16: self.int16 || int16,
            note: "",
            ..self
        }
    }

    pub const INT8_FLOAT32: Dtypes = Dtypes {
        int8: true,
        int16: false,
        float32: true,
        other: false,
        note: "",
        int8_names: &[],
        int16_names: &[],
    };

    /// A kernel that moves bytes: any quantized or float type.
    pub const INT8_INT16_FLOAT32: Dtypes = Dtypes {
        int8: true,
        int16: true,
        float32: true,
        other: false,
        note: "",
        int8_names: &[],
        int16_names: &[],
    };

    /// A float32 kernel only: in an int8 model the op runs in float32
    /// between DEQUANTIZE and QUANTIZE.
    pub const FLOAT32_BETWEEN_QUANTIZE: Dtypes = Dtypes {
        int8: false,
        int16: false,
        float32: true,
        other: false,
        note: "int8 models run it in float32 between DEQUANTIZE and QUANTIZE",
        int8_names: &[],
        int16_names: &[],
    };

    /// An int16 kernel only (TFLM's signal library, on plain int16 samples).
    pub const INT16: Dtypes = Dtypes {
        int8: false,
        int16: true,
        float32: false,
        other: false,
        note: "",
        int8_names: &[],
        int16_names: &[],
    };

    /// An int8 kernel only (TFLM's CIRCULAR_BUFFER).
    pub const INT8: Dtypes = Dtypes {
        int8: true,
        int16: false,
        ..Dtypes::INT16
    };

    /// An int16 and a float32 kernel (TFLM's signal library ops that also
    /// take float32 samples).
    pub const INT16_FLOAT32: Dtypes = Dtypes {
        float32: true,
        ..Dtypes::INT16
    };

    /// Only types outside int8, int16 and float32 (bools, int32 shapes),
    /// which `note` names.
    pub const fn other(note: &'static str) -> Dtypes {
        Dtypes {
            int8: false,
            int16: false,
            float32: false,
            other: true,
            note,
            int8_names: &[],
            int16_names: &[],
        }
    }

    /// A float32 op that only ONNX models have (folded before lowering).
    pub const FLOAT32: Dtypes = Dtypes {
        int8: false,
        int16: false,
        float32: true,
        other: false,
        note: "",
        int8_names: &[],
        int16_names: &[],
    };
}

/// Converts one ONNX node, which has at least `inputs` non-empty inputs and
/// one output, pushing its IR nodes through the importer.
pub(crate) struct OnnxConverter {
    pub op_type: &'static str,
    pub inputs: usize,
    pub convert: fn(&mut Importer, &OnnxNode) -> Step<()>,
}

/// What the codegen knows about one IR op.
pub trait IrOp: Debug {
    /// The op's name as TFLite spells it.
    fn name(&self) -> &'static str;

    /// Its attributes as `kiln inspect` shows them.
    fn attributes(&self) -> String {
        String::new()
    }

    /// How post-training quantization treats it.
    fn quantization(&self, node: &Node) -> QuantRule;

    /// The runtime op, int8 or float32 by its tensors' types; `None` for an
    /// op that costs nothing at run time.
    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>>;

    /// Multiply-accumulates of one node (convolutions and fully connected
    /// layers; other ops count zero, as is customary).
    fn macs(&self, _g: &Graph, _node: &Node) -> u64 {
        0
    }

    /// Arena bytes the op's runtime kernel works in while it runs (its
    /// scratch, for example the columns of a matrix-product convolution):
    /// the planner gives them a buffer alive during this op only, and
    /// `Lowering::scratch` hands its span to `lower`.
    fn scratch_bytes(&self, _g: &Graph, _node: &Node) -> usize {
        0
    }

    /// Whether every output element is a function of the input elements at
    /// the same position, after numpy broadcasting: such an op computes the
    /// same values in any layout, given its constant operands permuted
    /// likewise (`passes::nchw_to_nhwc`).
    fn broadcasting(&self) -> bool {
        false
    }

    /// The op run on inputs whose dimensions were permuted (old dimension
    /// `d` is new dimension `to_new[d]`), for an op that has axes to
    /// rewrite (`passes::nchw_to_nhwc`); `None` if it cannot.
    fn permuted(&self, _node: &Node, _to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        None
    }

    /// Whether the op has an output (ASSIGN_VARIABLE has none: it writes
    /// a variable, which is its input).
    fn has_output(&self) -> bool {
        true
    }

    /// Whether the op's output is its input's bytes under another shape
    /// (RESHAPE): the planner gives both one buffer, nothing runs, and
    /// calibration observes one tensor for both.
    fn aliases_input(&self) -> bool {
        false
    }

    /// The op's fused activation, if it has one (conv, depthwise, fully
    /// connected, ADD, SUB, MUL, a batch norm before folding): fusion passes
    /// write to it.
    fn fused_activation(&mut self) -> Option<&mut Activation> {
        None
    }

    /// The kernel an int8 node of this op runs (`kiln::arch`), which the
    /// stack figures depend on: `Reference` for ops without a fast one.
    fn int8_kernel(&self, _g: &Graph, _node: &Node) -> KernelChoice {
        KernelChoice::Reference
    }

    /// Bytes of stack its runtime op needs on each core: the kernel's
    /// frame and the call chain above it, as measured by stack painting on
    /// the emulated cores (`crate::stack` says how). Op `run`s are never
    /// inlined, so the figure holds in every model, except where link-time
    /// optimization specializes a kernel that few layers call
    /// (`crate::stack::FEW_CALLERS`); `tests/firmware.rs` checks the
    /// estimate against every model's measurement on every core.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        crate::stack::SMALL_OP
    }
}

/// How an op runs on inputs whose dimensions were permuted: its new
/// attributes, replacements for its parameter inputs, and where each
/// dimension of its output went.
pub struct Permuted {
    pub kind: OpKind,
    /// Inputs that follow the layout (the others are parameters).
    pub data_inputs: Vec<usize>,
    /// New constants for parameter inputs: `(input index, tensor)`.
    pub params: Vec<(usize, TensorId)>,
    /// Output dimension `d` becomes dimension `output[d]`.
    pub output: Vec<usize>,
}

/// `shape` (in the old layout) in the new layout.
pub fn permute_shape<T: Copy + Default>(shape: &[T], to_new: &[usize]) -> Vec<T> {
    let mut out = vec![T::default(); shape.len()];
    for (d, &len) in shape.iter().enumerate() {
        out[to_new[d]] = len;
    }
    out
}

/// How post-training quantization (`quantize::ptq`) treats an op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QuantRule {
    /// Calibrated (or the model's own) parameters on every activation.
    Calibrated,
    /// Weights (input 1) symmetric per channel along `axis`, the optional
    /// bias (input 2) int32 at input scale times weight scale.
    Weights { axis: usize },
    /// TFLM fixes the output's parameters.
    FixedOutput { scale: f32, zero_point: i64 },
    /// The output has the input's parameters (TFLM requires it).
    KeepsInputParameters,
    /// Every input and the output share one interval (CONCATENATION).
    SharedInterval,
    /// A constant operand is quantized per tensor, as TFLite's converter does.
    ConstantOperands,
    /// No int8 kernel: the op runs in float32 between DEQUANTIZE and QUANTIZE.
    Float,
    /// The op only exists in quantized models.
    QuantizedOnly,
}

/// Defines [`OpKind`] from the list of `Variant(Attributes)` pairs; each
/// attributes type implements [`IrOp`].
macro_rules! op_list {
    ($( $variant:ident($attrs:ty), )*) => {
        /// What an IR node computes. Inputs follow TFLite's order for each op.
        #[derive(Clone, Debug, PartialEq)]
        pub enum OpKind {
            $( $variant($attrs), )*
        }

        impl OpKind {
            /// The op behind this kind.
            pub fn op(&self) -> &dyn IrOp {
                match self {
                    $( OpKind::$variant(a) => a, )*
                }
            }

            /// The op behind this kind, to change its attributes.
            pub fn op_mut(&mut self) -> &mut dyn IrOp {
                match self {
                    $( OpKind::$variant(a) => a, )*
                }
            }

            /// TFLite's name for the op.
            pub fn name(&self) -> &'static str {
                self.op().name()
            }
        }

        $( impl From<$attrs> for OpKind {
            fn from(a: $attrs) -> Self {
                OpKind::$variant(a)
            }
        } )*

        /// Every op's file formats, in list order.
        const FORMATS: &[&Formats] = &[$( &<$attrs>::FORMATS, )*];
    };
}

/// The converter of TFLite builtin operator `name`, if kiln reads it.
pub(crate) fn tflite_converter(name: &str) -> Option<TfliteConverter> {
    FORMATS
        .iter()
        .flat_map(|f| f.tflite)
        .find(|(n, _)| *n == name)
        .map(|&(_, convert)| convert)
}

/// The activation types of TFLite builtin `name`, if kiln reads it.
pub fn tflite_dtypes(name: &str) -> Option<Dtypes> {
    FORMATS
        .iter()
        .find(|f| f.tflite.iter().any(|(n, _)| *n == name))
        .map(|f| f.dtypes.of(name))
}

/// Every TFLite builtin name kiln reads.
pub fn tflite_names() -> impl Iterator<Item = &'static str> {
    FORMATS.iter().flat_map(|f| f.tflite).map(|(n, _)| *n)
}

/// Every ONNX op type kiln reads through a converter (QuantizeLinear and
/// DequantizeLinear are read as QDQ pairs, not as ops of their own).
pub fn onnx_names() -> impl Iterator<Item = &'static str> {
    FORMATS.iter().flat_map(|f| f.onnx).map(|c| c.op_type)
}

/// The converter of ONNX op type `op_type`, if kiln reads it.
pub(crate) fn onnx_converter(op_type: &str) -> Option<&'static OnnxConverter> {
    FORMATS
        .iter()
        .flat_map(|f| f.onnx)
        .find(|c| c.op_type == op_type)
}

// The op files; each re-exports its types, so that generated code (and
// every other module) finds them in `ops`.
mod add_n;
mod arg_extreme;
mod basic_classifier;
mod batch_matmul;
mod batch_norm;
mod broadcast_to;
mod cast;
mod circular_buffer;
mod compare;
mod concatenation;
mod conv2d;
mod cumsum;
mod decode;
mod depthwise_conv2d;
mod detection_postprocess;
mod dynamic_update_slice;
mod elementwise;
mod fill;
mod floor_div;
mod fully_connected;
mod gather;
mod gru;
mod hard_swish;
mod l2_norm;
mod leaky_relu;
mod logical;
mod lstm;
mod mean;
mod pad;
mod pool2d;
mod prelu;
mod quantize;
mod relu;
mod reshape;
mod resize;
mod sigmoid;
mod signal_delay;
mod signal_energy;
mod signal_fft_auto_scale;
mod signal_filter_bank;
mod signal_filter_bank_log;
mod signal_filter_bank_square_root;
mod signal_framer;
mod signal_irfft;
mod signal_overlap_add;
mod signal_pcan;
mod signal_rfft;
mod signal_spectral_subtraction;
mod signal_stacker;
mod signal_window;
pub(crate) mod slice;
mod softmax;
mod space_batch;
mod space_depth;
mod svdf;
mod transpose;
mod transpose_conv2d;
mod unary;
mod variable;

pub use add_n::*;
pub use arg_extreme::*;
pub use basic_classifier::*;
pub use batch_matmul::*;
pub use batch_norm::*;
pub use broadcast_to::*;
pub use cast::*;
pub use circular_buffer::*;
pub use compare::*;
pub use concatenation::*;
pub use conv2d::*;
pub use cumsum::*;
pub use decode::*;
pub use depthwise_conv2d::*;
pub use detection_postprocess::*;
pub use dynamic_update_slice::*;
pub use elementwise::*;
pub use fill::*;
pub use floor_div::*;
pub use fully_connected::*;
pub use gather::*;
pub use gru::*;
pub use hard_swish::*;
pub use l2_norm::*;
pub use leaky_relu::*;
pub use logical::*;
pub use lstm::*;
pub use mean::*;
pub use pad::*;
pub use pool2d::*;
pub use prelu::*;
pub use quantize::*;
pub use relu::*;
pub use reshape::*;
pub use resize::*;
pub use sigmoid::*;
pub use signal_delay::*;
pub use signal_energy::*;
pub use signal_fft_auto_scale::*;
pub use signal_filter_bank::*;
pub use signal_filter_bank_log::*;
pub use signal_filter_bank_square_root::*;
pub use signal_framer::*;
pub use signal_irfft::*;
pub use signal_overlap_add::*;
pub use signal_pcan::*;
pub use signal_rfft::*;
pub use signal_spectral_subtraction::*;
pub use signal_stacker::*;
pub use signal_window::*;
pub use slice::*;
pub use softmax::*;
pub use space_batch::*;
pub use space_depth::*;
pub use svdf::*;
pub use transpose::*;
pub use transpose_conv2d::*;
pub use unary::*;
pub use variable::*;

op_list! {
    Conv2d(Conv2d),
    DepthwiseConv2d(DepthwiseConv2d),
    TransposeConv2d(TransposeConv2d),
    FullyConnected(FullyConnected),
    BatchMatMul(BatchMatMul),
    Comparison(Comparison),
    Logical(Logical),
    ReduceAll(ReduceAll),
    Select(Select),
    MaxMin(MaxMin),
    AveragePool2d(AveragePool2d),
    MaxPool2d(MaxPool2d),
    Add(Add),
    AddN(AddN),
    Mul(Mul),
    Sub(Sub),
    Div(Div),
    SquaredDifference(SquaredDifference),
    PRelu(PRelu),
    Softmax(Softmax),
    LogSoftmax(LogSoftmax),
    Logistic(Logistic),
    Tanh(Tanh),
    Unary(Unary),
    LeakyRelu(LeakyRelu),
    HardSigmoid(HardSigmoid),
    HardSwish(HardSwish),
    Relu(Relu),
    Clip(Clip),
    Concatenation(Concatenation),
    Pad(Pad),
    Reduce(Reduce),
    Reshape(Reshape),
    Resize(Resize),
    Quantize(Quantize),
    Dequantize(Dequantize),
    Slice(Slice),
    Transpose(Transpose),
    SpaceDepth(SpaceDepth),
    BroadcastTo(BroadcastTo),
    BroadcastArgs(BroadcastArgs),
    SpaceBatch(SpaceBatch),
    L2Normalization(L2Normalization),
    Gather(Gather),
    BasicClassifier(BasicClassifier),
    GatherNd(GatherNd),
    Cast(Cast),
    ArgExtreme(ArgExtreme),
    BatchNorm(BatchNorm),
    Svdf(Svdf),
    UnidirectionalSequenceLstm(UnidirectionalSequenceLstm),
    Gru(Gru),
    FloorDivMod(FloorDivMod),
    L2Pool2d(L2Pool2d),
    VariableAccess(VariableAccess),
    CumSum(CumSum),
    Fill(Fill),
    DynamicUpdateSlice(DynamicUpdateSlice),
    SignalWindow(SignalWindow),
    SignalFftAutoScale(SignalFftAutoScale),
    SignalDelay(SignalDelay),
    SignalOverlapAdd(SignalOverlapAdd),
    SignalEnergy(SignalEnergy),
    SignalFilterBankLog(SignalFilterBankLog),
    SignalPcan(SignalPcan),
    SignalFilterBankSquareRoot(SignalFilterBankSquareRoot),
    SignalFilterBank(SignalFilterBank),
    SignalRfft(SignalRfft),
    SignalIrfft(SignalIrfft),
    SignalSpectralSubtraction(SignalSpectralSubtraction),
    SignalFramer(SignalFramer),
    SignalStacker(SignalStacker),
    DetectionPostProcess(DetectionPostProcess),
    Decode(Decode),
    CircularBuffer(CircularBuffer),
}

#[cfg(test)]
mod tests {
    use super::FORMATS;
    use crate::import::tflite::BUILTIN_NAMES;

    #[test]
    fn every_format_name_is_registered_once_and_exists() {
        let tflite: Vec<&str> = FORMATS
            .iter()
            .flat_map(|f| f.tflite)
            .map(|(n, _)| *n)
            .collect();
        let onnx: Vec<&str> = FORMATS
            .iter()
            .flat_map(|f| f.onnx)
            .map(|c| c.op_type)
            .collect();
        for names in [&tflite, &onnx] {
            for (i, name) in names.iter().enumerate() {
                assert!(!names[..i].contains(name), "{name} registered twice");
            }
        }
        let custom = |name: &&str| {
            crate::support::TFLM_OPS
                .iter()
                .any(|(n, kind, _)| n == name && *kind == crate::support::Kind::Custom)
        };
        for name in &tflite {
            assert!(
                BUILTIN_NAMES.contains(name) || custom(name),
                "{name} is no TFLite builtin nor a custom op TFLM registers"
            );
        }
        assert!(
            tflite.len() >= 25 && onnx.len() >= 30,
            "{tflite:?} {onnx:?}"
        );
    }
}
