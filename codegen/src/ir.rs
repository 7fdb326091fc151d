//! The one graph IR every importer produces and every later stage reads:
//! tensors (shape, type, quantization, constant data) and nodes in
//! execution order.
//!
//! Layer: ir; plain data, uses `std`; the op kinds (`OpKind`) are defined
//! with their ops, in `ops`.

use std::path::PathBuf;

pub use crate::ops::OpKind;

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
    /// Unsigned 32-bit values (TFLM's signal library: energies, filter bank
    /// channels).
    U32,
    /// Unsigned 64-bit values (the signal library's filter-bank sums).
    U64,
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
            DataType::F32 | DataType::I32 | DataType::U32 => 4,
            DataType::F64 | DataType::I64 | DataType::U64 => 8,
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
            DataType::U32 => "uint32",
            DataType::U64 => "uint64",
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

/// The most elements a tensor may have (as many as TFLite's `int32`
/// sizes allow), so that element and byte counts, and their sums in the
/// planner, never overflow. Both importers refuse larger tensors.
pub const MAX_ELEMENTS: usize = i32::MAX as usize;

/// The element count of `shape`, or `None` when it exceeds [`MAX_ELEMENTS`]
/// (however far: the product is checked at every step).
pub fn checked_elements(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

/// The numpy broadcast of `shapes`: aligned on their last dimensions, each
/// dimension the length they all have where it is not 1 (and 1 where every
/// one has 1); `None` where two lengths other than 1 differ. Every importer
/// and op that broadcasts computes its output shape here.
pub fn broadcast_shape(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for shape in shapes {
        for (o, &len) in out[rank - shape.len()..].iter_mut().zip(*shape) {
            match (*o, len) {
                (1, _) => *o = len,
                (_, 1) => {}
                (a, b) if a == b => {}
                _ => return None,
            }
        }
    }
    Some(out)
}

/// The element count of `shape`, saturating at `usize::MAX`: shapes that
/// converters compute from a model's attributes and constants may be
/// hostile, and must be compared, not wrapped.
pub fn saturating_elements(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

impl Tensor {
    /// Saturating, so that a shape no importer would accept cannot wrap.
    pub fn elements(&self) -> usize {
        saturating_elements(&self.shape)
    }

    pub fn bytes(&self) -> usize {
        self.elements().saturating_mul(self.dtype.size())
    }

    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// Constant contents as f32 (empty for a tensor without data).
    pub fn data_f32(&self) -> Vec<f32> {
        self.data
            .as_deref()
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
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
    /// As `kiln inspect` shows it: `SAME`, `VALID`, `EXPLICIT([..])`.
    pub fn describe(self) -> String {
        format!("{self:?}").to_uppercase()
    }

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

/// The attributes every 2-D convolution has (plain, depthwise, transposed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dAttrs {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub activation: Activation,
}

impl Conv2dAttrs {
    /// As `kiln inspect` shows them.
    pub fn describe(&self) -> String {
        format!(
            "stride {}x{} dilation {}x{} {} {:?}",
            self.stride[0],
            self.stride[1],
            self.dilation[0],
            self.dilation[1],
            self.padding.describe(),
            self.activation
        )
    }
}

/// The attributes of a 2-D pool (average or max).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dAttrs {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub filter: [usize; 2],
    /// Input steps between taps (1 in TFLite; ONNX may dilate a pool).
    pub dilation: [usize; 2],
    pub activation: Activation,
}

impl Pool2dAttrs {
    /// As `kiln inspect` shows them.
    pub fn describe(&self) -> String {
        format!(
            "filter {}x{} stride {}x{} {} {:?}{}",
            self.filter[0],
            self.filter[1],
            self.stride[0],
            self.stride[1],
            self.padding.describe(),
            self.activation,
            if self.dilation == [1, 1] {
                String::new()
            } else {
                format!(" dilation {}x{}", self.dilation[0], self.dilation[1])
            }
        )
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
    /// Variable tensors (TFLite's `is_variable`): state an op reads and
    /// writes that persists from one inference to the next, such as SVDF's
    /// memory. The planner keeps their bytes for them alone.
    pub variables: Vec<TensorId>,
    /// The initial values of some variables (little-endian bytes, as many
    /// as the variable has): what a TFLite model's `CALL_ONCE` subgraph
    /// assigns its resource variables before the first inference. A
    /// variable not listed starts from its reset fill (zero point or 0).
    pub variable_init: Vec<(TensorId, Vec<u8>)>,
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

#[cfg(test)]
mod tests {
    use super::broadcast_shape;

    #[test]
    fn shapes_broadcast_as_numpy_does() {
        assert_eq!(broadcast_shape(&[&[2, 1, 3], &[4, 1]]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shape(&[&[5], &[3, 1, 5]]), Some(vec![3, 1, 5]));
        assert_eq!(broadcast_shape(&[&[], &[2]]), Some(vec![2]));
        assert_eq!(broadcast_shape(&[&[2, 3], &[3, 3]]), None);
        // Three shapes (ONNX Where), and numpy's zero-length dimensions.
        assert_eq!(broadcast_shape(&[&[1, 4], &[3, 1], &[4]]), Some(vec![3, 4]));
        assert_eq!(broadcast_shape(&[&[0, 1], &[1, 5]]), Some(vec![0, 5]));
        assert_eq!(broadcast_shape(&[&[0], &[3]]), None);
        assert_eq!(broadcast_shape(&[]), Some(vec![]));
    }
}
