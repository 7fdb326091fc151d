//! RESIZE_NEAREST_NEIGHBOR (int8, int16, float32) and RESIZE_BILINEAR
//! (int8, float32) of an NHWC tensor to a constant size, the output in the
//! input's quantization.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::resize::ResizeParams;
use kiln::ops::{ResizeBilinearOp, ResizeNearestOp};
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// How a resize computes an output value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMethod {
    /// A copy of the nearest input value.
    Nearest,
    /// The four input values around the sampled position, weighted.
    Bilinear,
}

/// Input 0 (`[batches, height, width, depth]`) resized to the height and
/// width of input 1, a constant int32 pair, with TFLite's options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    pub method: ResizeMethod,
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

impl Resize {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("RESIZE_NEAREST_NEIGHBOR", |op| {
                Ok(OpKind::Resize(Resize {
                    method: ResizeMethod::Nearest,
                    align_corners: op.bool(0)?,
                    half_pixel_centers: op.bool(1)?,
                }))
            }),
            // Slots 0 and 1 are the deprecated new_height and new_width.
            ("RESIZE_BILINEAR", |op| {
                Ok(OpKind::Resize(Resize {
                    method: ResizeMethod::Bilinear,
                    align_corners: op.bool(2)?,
                    half_pixel_centers: op.bool(3)?,
                }))
            }),
        ],
        onnx: &[],
        // int16 is RESIZE_NEAREST_NEIGHBOR's only (TFLM has no int16
        // RESIZE_BILINEAR, and `kiln ops` shows none).
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Resize {
    fn name(&self) -> &'static str {
        match self.method {
            ResizeMethod::Nearest => "RESIZE_NEAREST_NEIGHBOR",
            ResizeMethod::Bilinear => "RESIZE_BILINEAR",
        }
    }

    fn attributes(&self) -> String {
        format!(
            "align_corners {} half_pixel_centers {}",
            self.align_corners, self.half_pixel_centers
        )
    }

    /// It copies or interpolates stored values: the output keeps the
    /// input's parameters.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    /// Painted on each core on the resize and resize_bilinear fixtures
    /// (the nearest neighbor's float index arithmetic calls libm's rounding
    /// on the M33 and the M0).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        match self.method {
            ResizeMethod::Nearest => Stack::new(200, 128, 216, 96),
            ResizeMethod::Bilinear => Stack::new(272, 208, 208, 176),
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let params = resize_params(cx, node, *self)?;
        let dtype = match (self.method, cx.dtype(input)) {
            (_, DataType::I8) => DType::I8,
            (ResizeMethod::Nearest, DataType::I16) => DType::I16,
            (ResizeMethod::Nearest, DataType::I32) => DType::I32,
            (_, DataType::F32) => DType::F32,
            (_, other) => return unsupported(format!("{} of {}", self.name(), other.name())),
        };
        if cx.dtype(out) != cx.dtype(input) {
            return invalid(format!(
                "{} from {} to {}",
                self.name(),
                cx.dtype(input).name(),
                cx.dtype(out).name()
            ));
        }
        if cx.tensor(input).quantization.is_some() || cx.tensor(out).quantization.is_some() {
            cx.same_quantization(input, out, self.name())?;
        }
        let (input, output) = (
            cx.activation(input, cx.dtype(input))?,
            cx.activation(out, cx.dtype(out))?,
        );
        Ok(Some(match self.method {
            ResizeMethod::Nearest => Op::ResizeNearest(ResizeNearestOp {
                params,
                dtype,
                input,
                output,
            }),
            ResizeMethod::Bilinear => Op::ResizeBilinear(ResizeBilinearOp {
                params,
                dtype,
                input,
                output,
            }),
        }))
    }
}

/// The geometry of a resize: a rank-4 input, a constant int32 size of two
/// positive values, and an output of the input's batches and depth at
/// that size.
fn resize_params(cx: &Lowering, node: &Node, options: Resize) -> Lowered<ResizeParams> {
    let (input, out) = cx.input_output(node)?;
    let size = cx.input(node, 1)?;
    let shape = cx.shape(input).to_vec();
    let Ok([batches, height, width, depth]) = <[usize; 4]>::try_from(shape.as_slice()) else {
        return unsupported(format!("a resize of rank {} (kiln: NHWC)", shape.len()));
    };
    let (new_height, new_width) = match cx.tensor(size).data_i32().as_deref() {
        Some(&[h, w]) if h > 0 && w > 0 => (h as usize, w as usize),
        Some(other) => return invalid(format!("resize to {other:?}")),
        None => return unsupported("the size must be a constant int32 pair"),
    };
    if cx.shape(out) != [batches, new_height, new_width, depth] {
        return invalid(format!(
            "output shape {:?} for a resize of {shape:?} to {new_height}x{new_width}",
            cx.shape(out)
        ));
    }
    if options.align_corners && options.half_pixel_centers {
        return invalid("align_corners and half_pixel_centers both set");
    }
    // Positions are 1/1024ths of a pixel in an int32 (TFLM's bilinear).
    if [height, width, new_height, new_width]
        .iter()
        .any(|&side| side >= 1 << 20)
    {
        return unsupported(format!(
            "a resize of {shape:?} to {new_height}x{new_width} (kiln: sides under a million)"
        ));
    }
    if height == 0 || width == 0 {
        return invalid(format!("a resize of the empty {shape:?}"));
    }
    Ok(ResizeParams {
        batches: to_u32(batches)?,
        input_height: to_u32(height)?,
        input_width: to_u32(width)?,
        output_height: to_u32(new_height)?,
        output_width: to_u32(new_width)?,
        depth: to_u32(depth)?,
        align_corners: options.align_corners,
        half_pixel_centers: options.half_pixel_centers,
    })
}
