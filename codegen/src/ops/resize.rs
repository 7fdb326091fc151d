//! RESIZE_NEAREST_NEIGHBOR of an NHWC tensor to a constant size, for int8,
//! int16 (quantization unchanged) and float32 values.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::resize::ResizeParams;
use kiln::ops::ResizeNearestOp;
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// Input 0 (`[batches, height, width, depth]`) resized to the height and
/// width of input 1, a constant int32 pair, with TFLite's options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

impl Resize {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("RESIZE_NEAREST_NEIGHBOR", |op| {
            Ok(OpKind::Resize(Resize {
                align_corners: op.bool(0)?,
                half_pixel_centers: op.bool(1)?,
            }))
        })],
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Resize {
    fn name(&self) -> &'static str {
        "RESIZE_NEAREST_NEIGHBOR"
    }

    fn attributes(&self) -> String {
        format!(
            "align_corners {} half_pixel_centers {}",
            self.align_corners, self.half_pixel_centers
        )
    }

    /// It copies values: the output keeps the input's parameters.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    /// Painted on each core on the resize fixture (its float index
    /// arithmetic calls libm's rounding on the M33 and the M0).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(200, 128, 216, 96)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let params = resize_params(cx, node, *self)?;
        let dtype = match cx.dtype(input) {
            DataType::I8 => DType::I8,
            DataType::I16 => DType::I16,
            DataType::I32 => DType::I32,
            DataType::F32 => DType::F32,
            other => return unsupported(format!("{} of {}", self.name(), other.name())),
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
        Ok(Some(Op::ResizeNearest(ResizeNearestOp {
            params,
            dtype,
            input: cx.activation(input, cx.dtype(input))?,
            output: cx.activation(out, cx.dtype(out))?,
        })))
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
