//! The runtime's ops. Each file holds one op, or one family that shares its
//! arithmetic: the op's descriptor (its params and the arena and weight spans
//! it reads and writes), its one-time check, and the kernel it calls. The
//! list at the bottom of this file is the op set: [`Op`], its dispatch, its
//! names and its checks come from it, and its order is the blob wire format
//! (append new ops at the end, and bump [`BLOB_VERSION`] whenever a
//! descriptor changes; `tests/blob_format.rs` holds the format to it).
//!
//! Descriptors are [`wire_struct!`](crate::wire) plain data, so the same
//! value is a `const` in generated Rust, a record in a model blob and the
//! parameter block of a CUDA kernel. A float32 op and its int8 twin share
//! their geometry struct; each carries only the arithmetic it uses.
//!
//! Layer: ops; uses `kernels`, `tensor`, `wire` and `error`.

use crate::error::Error;
use crate::wire::{Wire, WireType};

mod add_n;
mod arena;
mod check;
mod circular_buffer;

pub use crate::arch::KernelChoice;
pub use arena::ConstantOperand;
pub use check::Checker;
pub use circular_buffer::*;

// The op files; each re-exports its types, so that generated code (and
// every other module) finds them in `ops`.
mod arg_extreme;
mod batch_matmul;
mod cast;
mod compare;
mod concatenation;
mod conv2d;
mod cumsum;
mod depthwise_conv2d;
mod detection_postprocess;
mod dynamic_update_slice;
mod elementwise;
mod fill;
mod fully_connected;
mod gather;
mod gru;
mod hard_swish;
mod in_place;
mod integer;
mod l2_norm;
mod leaky_relu;
mod lookup;
mod lstm;
mod mean;
mod pad;
mod pool2d;
mod prelu;
mod quantize;
mod requantize;
mod residual;
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
mod slice;
mod softmax;
mod space_batch;
mod streamed;
mod svdf;
mod tiled;
mod transpose;
mod transpose_conv2d;
mod unary;

pub use add_n::*;
pub use arg_extreme::*;
pub use batch_matmul::*;
pub use cast::*;
pub use compare::*;
pub use concatenation::*;
pub use conv2d::*;
pub use cumsum::*;
pub use depthwise_conv2d::*;
pub use detection_postprocess::*;
pub use dynamic_update_slice::*;
pub use elementwise::*;
pub use fill::*;
pub use fully_connected::*;
pub use gather::*;
pub use gru::*;
pub use hard_swish::*;
pub use in_place::*;
pub use integer::*;
pub use l2_norm::*;
pub use leaky_relu::*;
pub use lookup::*;
pub use lstm::*;
pub use mean::*;
pub use pad::*;
pub use pool2d::*;
pub use prelu::*;
pub use quantize::*;
pub use requantize::*;
pub use residual::*;
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
pub use streamed::*;
pub use svdf::*;
pub use tiled::*;
pub use transpose::*;
pub use transpose_conv2d::*;
pub use unary::*;

/// The ops a GPU runs for one op that has no kernel of its own
/// ([`OpDescriptor::gpu_steps`]), and how many bytes past the arena they
/// use.
#[cfg(feature = "host")]
#[derive(Clone, Debug)]
pub struct GpuSteps {
    pub ops: heapless::Vec<Op, 4>,
    pub spilled_bytes: u32,
}

/// What every op descriptor provides. Generated code calls `run` on each
/// op's `const` descriptor directly, in order; [`Op`] dispatches to the same
/// functions for the interpreter, the blob loader and the host.
pub trait OpDescriptor: Wire {
    /// The op's name as TFLite spells it (float variants add " (float32)"),
    /// for reports and errors.
    const NAME: &'static str;

    /// The CUDA kernel (in `host/cuda/*.cu`) that runs this op on a GPU. Every op has
    /// its own, which reads this descriptor as the C struct
    /// `host::cuda::header` declares for it, and nothing else.
    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str;

    /// How many threads that kernel needs per sample: one per output
    /// element (per row for SOFTMAX).
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64;

    /// Checks, once, that running this op can neither index out of bounds
    /// nor overflow, whatever the arena holds.
    fn check(&self, c: &Checker) -> Result<(), Error>;

    /// How a GPU runs this op when its own kernel cannot: an in-place op
    /// runs out of place, its output spilled to `spill` (past the arena)
    /// and copied back; a stream runs as its two ops, the tensor between
    /// them spilled. `None`: the op's kernel runs it.
    #[cfg(feature = "host")]
    fn gpu_steps(&self, _spill: u32) -> Option<GpuSteps> {
        None
    }

    /// The implementation the codegen chose for this layer (ops with one
    /// implementation: the reference kernel).
    fn kernel(&self) -> KernelChoice {
        KernelChoice::Reference
    }

    /// Runs the op on an arena and weights its `check` accepted. Never
    /// inlined: one call per op costs nothing measurable, and it keeps each
    /// kernel's stack frame the same in every model, which is what lets
    /// `kiln inspect` predict the stack an inference needs.
    fn run(&self, arena: &mut [u8], weights: &[u8]);

    /// Whether the op, having just run, ended this run early: the ops
    /// after it must not run (TFLite Micro's `kTfLiteAbort`; only
    /// CIRCULAR_BUFFER does it). Reads the op's state in `arena`.
    fn ends_run(&self, _arena: &[u8]) -> bool {
        false
    }

    /// Whether the op ends any run early; if it does, it ends the first
    /// run after a reset. Generated code checks [`Self::ends_run`] only
    /// after such ops.
    fn can_end_run(&self) -> bool {
        false
    }
}

/// Defines [`Op`] from the list of `Variant(Descriptor)` pairs.
macro_rules! op_list {
    ($( $(#[$doc:meta])* $variant:ident($descriptor:ty), )*) => {
        /// One step of a graph. RESHAPE and SQUEEZE have no variant: the
        /// planner gives their output the input's bytes, so they cost nothing.
        /// The variant order is the blob wire format.
        // Every op is a value (in flash in generated code, in a blob
        // graph's slots in RAM), with no heap to box the largest: a
        // residual block, which holds its three ops, sets the size.
        #[allow(clippy::large_enum_variant)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Op {
            $( $(#[$doc])* $variant($descriptor), )*
        }

        impl Op {
            /// Every variant in wire order, with its descriptor's layout.
            pub const VARIANTS: &'static [(&'static str, fn() -> WireType)] = &[
                $( (stringify!($variant), <$descriptor as Wire>::wire_type), )*
            ];

            /// The op's name as TFLite spells it, for reports and errors.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Op::$variant(_) => <$descriptor as OpDescriptor>::NAME, )*
                }
            }

            /// The variant's name, as generated Rust writes it.
            pub fn variant(&self) -> &'static str {
                match self {
                    $( Op::$variant(_) => stringify!($variant), )*
                }
            }

            /// The descriptor's type name, as generated Rust writes it.
            pub fn descriptor_type(&self) -> &'static str {
                match self {
                    $( Op::$variant(_) => stringify!($descriptor), )*
                }
            }

            /// The descriptor; its `Debug` form is a Rust struct literal.
            pub fn descriptor(&self) -> &dyn core::fmt::Debug {
                match self {
                    $( Op::$variant(o) => o, )*
                }
            }

            /// Writes the descriptor as C lays it out (for the CUDA kernels).
            pub fn write_c(&self, out: &mut [u8]) {
                match self {
                    $( Op::$variant(o) => o.write_c(out), )*
                }
            }

            /// The descriptor's layout.
            pub fn wire_type(&self) -> WireType {
                match self {
                    $( Op::$variant(_) => <$descriptor as Wire>::wire_type(), )*
                }
            }

            /// Runs this op on an arena and weights that `validate` accepted.
            pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
                match self {
                    $( Op::$variant(o) => o.run(arena, weights), )*
                }
            }

            /// Whether it ended this run early (see [`OpDescriptor::ends_run`]).
            pub fn ends_run(&self, arena: &[u8]) -> bool {
                match self {
                    $( Op::$variant(o) => o.ends_run(arena), )*
                }
            }

            /// Whether it ends any run early (see [`OpDescriptor::can_end_run`]).
            pub fn can_end_run(&self) -> bool {
                match self {
                    $( Op::$variant(o) => o.can_end_run(), )*
                }
            }

            /// The op's one-time check (see [`OpDescriptor::check`]).
            pub fn check(&self, c: &Checker) -> Result<(), Error> {
                match self {
                    $( Op::$variant(o) => o.check(c), )*
                }
            }

            /// The implementation chosen for this layer (see
            /// [`OpDescriptor::kernel`]).
            pub fn kernel(&self) -> KernelChoice {
                match self {
                    $( Op::$variant(o) => o.kernel(), )*
                }
            }
        }

        #[cfg(feature = "host")]
        impl Op {
            /// Every CUDA kernel, one per variant, in wire order.
            pub const CUDA_KERNELS: &'static [&'static str] = &[
                $( <$descriptor as OpDescriptor>::CUDA_KERNEL, )*
            ];

            /// The CUDA kernel that runs this op (see [`OpDescriptor::CUDA_KERNEL`]).
            pub fn cuda_kernel(&self) -> &'static str {
                match self {
                    $( Op::$variant(_) => <$descriptor as OpDescriptor>::CUDA_KERNEL, )*
                }
            }

            /// The ops a GPU runs instead (see [`OpDescriptor::gpu_steps`]).
            pub fn gpu_steps(&self, spill: u32) -> Option<GpuSteps> {
                match self {
                    $( Op::$variant(o) => o.gpu_steps(spill), )*
                }
            }

            /// Its threads per sample (see [`OpDescriptor::cuda_items`]).
            pub fn cuda_items(&self) -> u64 {
                match self {
                    $( Op::$variant(o) => o.cuda_items(), )*
                }
            }
        }
    };
}

/// The blob format version this runtime reads (3: one descriptor per op,
/// float ops without int8 fields; 4: int8 CONV_2D and FULLY_CONNECTED name
/// their kernel and scratch; 5: int8 FULLY_CONNECTED takes a folded bias
/// instead of scratch; 6: in-place CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB and
/// MUL; 7: a convolution streamed into a fully connected layer, and a
/// residual block streamed; 8: variable tensors (state) in the header;
/// 9: SVDF; 10: SOFTMAX from int8 to int16; 11: QUANTIZE between integer
/// widths; 12: float32 SVDF; 13: UNIDIRECTIONAL_SEQUENCE_LSTM; 14: float32
/// SUM; 15: REDUCE_MAX; 16: float32 EXP; 17: BATCH_MATMUL; 18: the
/// comparisons, SELECT_V2, MAXIMUM and MINIMUM; 19: dilated pools; 20: PAD's
/// modes (MIRROR_PAD, ONNX's edge and wrap); 21: float32 EXP became one
/// of the unary functions (SQRT, RSQRT, LOG, ABS, NEG, SQUARE, SIN, COS);
/// 22: plain-integer ADD, SUB, MUL, MAXIMUM, MINIMUM and comparisons, and
/// SELECT_V2 and PAD of int16 and int32; 23: SLICE's steps signed
/// (REVERSE_V2, negative strides), GATHER and CAST in the slots float32
/// LOGISTIC and TANH left when they became unary functions, REDUCE_MIN
/// beside REDUCE_MAX, ARG_MAX and ARG_MIN; 24: a tiled pair of
/// convolutions; 25: in-place int8 REQUANTIZE, LOGISTIC, TANH, HARD_SWISH
/// and LEAKY_RELU; 26: RESIZE_NEAREST_NEIGHBOR,
/// RESIZE_BILINEAR, the int8 LOOKUP table (ABS, ELU, RSQRT) and
/// SQUARED_DIFFERENCE; 27: SLICE's zero step (BROADCAST_TO),
/// SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, L2_NORMALIZATION,
/// LOG_SOFTMAX, ADD_N, GATHER_ND; 28: float32
/// UNIDIRECTIONAL_SEQUENCE_LSTM, GRU, FLOOR_DIV, FLOOR_MOD, L2_POOL_2D;
/// 29: a variable tensor's initial value (`StateTensor::initial`, for
/// resource variables), CUMSUM; 30: FILL (ZEROS_LIKE, SHAPE), DYNAMIC_UPDATE_SLICE,
/// int8 DIV; 31: int16 FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D,
/// AVERAGE_POOL_2D, MAX_POOL_2D, LEAKY_RELU, ADD, SUB, MUL, LOGISTIC,
/// TANH, REQUANTIZE (RELU, RELU6), QUANTIZE from float32, DEQUANTIZE and
/// MEAN (SUM), ABS, SQUARED_DIFFERENCE, BATCH_MATMUL, PRELU,
/// TRANSPOSE_CONV and SOFTMAX; 32: the signal library's SignalWindow,
/// SignalFftAutoScale, SignalDelay and SignalOverlapAdd; 33: uint32 and
/// uint64 tensors, SignalEnergy, SignalFilterBankLog, SignalPCAN and
/// SignalFilterBankSquareRoot and SignalFilterBank; 34: SignalRfft,
/// SignalIrfft, SignalFilterBankSpectralSubtraction, SignalFramer,
/// SignalStacker; 35: int16 UNIDIRECTIONAL_SEQUENCE_LSTM (the LSTM's
/// activation type), TFLite_Detection_PostProcess,
/// SignalFilterBankSquareRoot's computed shift (its bits span); 36: the
/// float32 LSTM's and GRU's initial states (ONNX's, inputs of the run);
/// 37: CIRCULAR_BUFFER, the float32 LSTM's peepholes; 38: bool model
/// outputs (`DType::Bool`); 39: CONCATENATION over its first or last
/// input; 40: tiled chains of two or three convolutions in place of tiled
/// pairs;
/// `tests/blob_format.rs` pins it). It lives beside the
/// list because appending an op is the usual bump.
pub const BLOB_VERSION: u32 = 40;

op_list! {
    Conv2d(Conv2dOp),
    DepthwiseConv2d(DepthwiseConv2dOp),
    FullyConnected(FullyConnectedOp),
    AveragePool2d(AveragePool2dOp),
    MaxPool2d(MaxPool2dOp),
    Add(AddOp),
    Mul(MulOp),
    Softmax(SoftmaxOp),
    Logistic(LogisticOp),
    Tanh(TanhOp),
    Requantize(RequantizeOp),
    Concatenation(ConcatenationOp),
    Pad(PadOp),
    Mean(MeanOp),
    Quantize(QuantizeOp),
    Dequantize(DequantizeOp),
    Conv2dF32(Conv2dF32Op),
    DepthwiseConv2dF32(DepthwiseConv2dF32Op),
    FullyConnectedF32(FullyConnectedF32Op),
    AveragePool2dF32(AveragePool2dF32Op),
    MaxPool2dF32(MaxPool2dF32Op),
    AddF32(AddF32Op),
    MulF32(MulF32Op),
    SoftmaxF32(SoftmaxF32Op),
    Gather(GatherOp),
    Cast(CastOp),
    ClampF32(ClampF32Op),
    Transpose(TransposeOp),
    SubF32(SubF32Op),
    DivF32(DivF32Op),
    LeakyReluF32(LeakyReluF32Op),
    HardSigmoidF32(HardSigmoidF32Op),
    HardSwishF32(HardSwishF32Op),
    PReluF32(PReluF32Op),
    PadF32(PadF32Op),
    MeanF32(MeanF32Op),
    TransposeConv2dF32(TransposeConv2dF32Op),
    Slice(SliceOp),
    LeakyRelu(LeakyReluOp),
    HardSwish(HardSwishOp),
    Sub(SubOp),
    PRelu(PReluOp),
    TransposeConv2d(TransposeConv2dOp),
    Conv2dInPlace(Conv2dInPlaceOp),
    DepthwiseConv2dInPlace(DepthwiseConv2dInPlaceOp),
    AddInPlace(AddInPlaceOp),
    SubInPlace(SubInPlaceOp),
    MulInPlace(MulInPlaceOp),
    Conv2dIntoFullyConnected(Conv2dIntoFullyConnectedOp),
    DepthwiseConv2dIntoFullyConnected(DepthwiseConv2dIntoFullyConnectedOp),
    ResidualBlock(ResidualBlockOp),
    Svdf(SvdfOp),
    SoftmaxS16(SoftmaxS16Op),
    RequantizeInt(RequantizeIntOp),
    SvdfF32(SvdfF32Op),
    Lstm(LstmOp),
    SumF32(SumF32Op),
    ReduceExtreme(ReduceExtremeOp),
    ReduceExtremeF32(ReduceExtremeF32Op),
    UnaryF32(UnaryF32Op),
    BatchMatMul(BatchMatMulOp),
    BatchMatMulF32(BatchMatMulF32Op),
    Compare(CompareOp),
    CompareF32(CompareF32Op),
    Select(SelectOp),
    MaxMin(MaxMinOp),
    MaxMinF32(MaxMinF32Op),
    IntegerBinary(IntegerBinaryOp),
    IntegerCompare(IntegerCompareOp),
    ArgExtreme(ArgExtremeOp),
    TiledChain(TiledChainOp),
    RequantizeInPlace(RequantizeInPlaceOp),
    LogisticInPlace(LogisticInPlaceOp),
    TanhInPlace(TanhInPlaceOp),
    HardSwishInPlace(HardSwishInPlaceOp),
    LeakyReluInPlace(LeakyReluInPlaceOp),
    ResizeNearest(ResizeNearestOp),
    ResizeBilinear(ResizeBilinearOp),
    Lookup(LookupOp),
    SquaredDifference(SquaredDifferenceOp),
    SquaredDifferenceF32(SquaredDifferenceF32Op),
    SpaceToBatch(SpaceToBatchOp),
    BatchToSpace(BatchToSpaceOp),
    L2Norm(L2NormOp),
    LogSoftmax(LogSoftmaxOp),
    AddN(AddNOp),
    GatherNd(GatherNdOp),
    LstmF32(LstmF32Op),
    GruF32(GruF32Op),
    FloorDivF32(FloorDivF32Op),
    FloorModF32(FloorModF32Op),
    L2Pool2dF32(L2Pool2dF32Op),
    CumSum(CumSumOp),
    Fill(FillOp),
    DynamicUpdateSlice(DynamicUpdateSliceOp),
    Div(DivOp),
    FullyConnectedS16(FullyConnectedS16Op),
    Conv2dS16(Conv2dS16Op),
    DepthwiseConv2dS16(DepthwiseConv2dS16Op),
    AveragePool2dS16(AveragePool2dS16Op),
    MaxPool2dS16(MaxPool2dS16Op),
    LeakyReluS16(LeakyReluS16Op),
    AddS16(AddS16Op),
    SubS16(SubS16Op),
    MulS16(MulS16Op),
    LogisticS16(LogisticS16Op),
    TanhS16(TanhS16Op),
    RequantizeS16(RequantizeS16Op),
    QuantizeS16(QuantizeS16Op),
    DequantizeS16(DequantizeS16Op),
    MeanS16(MeanS16Op),
    AbsS16(AbsS16Op),
    SquaredDifferenceS16(SquaredDifferenceS16Op),
    BatchMatMulS16(BatchMatMulS16Op),
    PReluS16(PReluS16Op),
    TransposeConv2dS16(TransposeConv2dS16Op),
    SoftmaxInt16(SoftmaxInt16Op),
    SignalWindow(SignalWindowOp),
    SignalFftAutoScale(SignalFftAutoScaleOp),
    SignalDelay(SignalDelayOp),
    SignalOverlapAdd(SignalOverlapAddOp),
    SignalEnergy(SignalEnergyOp),
    SignalFilterBankLog(SignalFilterBankLogOp),
    SignalPcan(SignalPcanOp),
    SignalFilterBankSquareRoot(SignalFilterBankSquareRootOp),
    SignalFilterBank(SignalFilterBankOp),
    SignalRfft(SignalRfftOp),
    SignalIrfft(SignalIrfftOp),
    SignalSpectralSubtraction(SignalSpectralSubtractionOp),
    SignalFramer(SignalFramerOp),
    SignalStacker(SignalStackerOp),
    DetectionPostProcess(DetectionPostProcessOp),
    CircularBuffer(CircularBufferOp),
    ConcatenationInPlace(ConcatenationInPlaceOp),
}
