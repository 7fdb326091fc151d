//! RESIZE_NEAREST_NEIGHBOR (int8, int16, float32) and RESIZE_BILINEAR
//! (int8, float32) of an NHWC tensor to a constant size, the output in the
//! input's quantization. ONNX Resize maps onto them where its coordinate
//! arithmetic picks the same input pixels (nearest) or samples the same
//! positions (linear).
//!
//! Layer: ops; uses `lower` and the ONNX importer's context.

use kiln::graph::Op;
use kiln::kernels::resize::ResizeParams;
use kiln::ops::{ResizeBilinearOp, ResizeNearestOp};
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
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
        onnx: &[OnnxConverter {
            op_type: "Resize",
            inputs: 1,
            convert: resize_from_onnx,
        }],
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
            ResizeMethod::Bilinear => Stack::new(280, 224, 224, 176),
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

/// ONNX Resize of a 4-D NCHW value over its height and width, as one of
/// TFLite's resizes: `nearest` where, at these sizes, ONNX's coordinate
/// transformation and rounding pick the input rows and columns one of
/// TFLite's option settings picks (compared index by index); `linear`
/// with `half_pixel`, `pytorch_half_pixel`, `align_corners` or
/// `asymmetric` coordinates, whose sampled positions are TFLite's, where
/// the scale is the ratio of the sizes.
fn resize_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x);
    if shape.len() != 4 {
        return Err(format!("Resize of rank {} (kiln: 4-D NCHW)", shape.len()));
    }
    let mode = n.string("mode").unwrap_or("nearest");
    let coordinates = n
        .string("coordinate_transformation_mode")
        .unwrap_or("half_pixel");
    if n.int("antialias", 0) != 0 {
        return Err("Resize with antialias".into());
    }
    if n.ints("axes").is_some_and(|a| a != [2, 3] && a != [-2, -1]) {
        return Err("Resize over axes other than height and width".into());
    }
    let optional = |i: usize| n.inputs.get(i).filter(|s| !s.is_empty());
    // Opset 10 has (X, scales); later ones (X, roi, scales, sizes).
    let (scales, sizes) = if cx.opset < 11 {
        (optional(1), None)
    } else {
        (optional(2), optional(3))
    };
    let [in_h, in_w] = [shape[2], shape[3]];
    let (out_hw, scale) = match (sizes, scales) {
        (Some(sizes), _) => {
            let sizes = cx
                .constant(sizes)?
                .i64s()
                .ok_or("Resize sizes must be integers")?;
            let hw = match sizes.as_slice() {
                [n_, c, h, w] if [*n_, *c] == [shape[0] as i64, shape[1] as i64] => [*h, *w],
                [h, w] => [*h, *w],
                other => {
                    return Err(format!(
                        "Resize of {shape:?} to sizes {other:?} (kiln: height and width only)"
                    ))
                }
            };
            if n.string("keep_aspect_ratio_policy")
                .is_some_and(|p| p != "stretch")
            {
                return Err("Resize keeping the aspect ratio".into());
            }
            let hw = hw.map(|v| usize::try_from(v).unwrap_or(0));
            (hw, [hw[0] as f64 / in_h as f64, hw[1] as f64 / in_w as f64])
        }
        (None, Some(scales)) => {
            let scales = cx
                .constant(scales)?
                .f32s()
                .ok_or("Resize scales must be float")?;
            let hw = match scales.as_slice() {
                [1.0, 1.0, h, w] | [h, w] => [f64::from(*h), f64::from(*w)],
                other => {
                    return Err(format!(
                        "Resize by scales {other:?} (kiln: height and width only)"
                    ))
                }
            };
            let out = [(in_h as f64 * hw[0]).floor(), (in_w as f64 * hw[1]).floor()];
            (
                out.map(|v| {
                    if v.is_finite() && v >= 0.0 {
                        v as usize
                    } else {
                        0
                    }
                }),
                hw,
            )
        }
        (None, None) => return Err("Resize without scales or sizes".into()),
    };
    let sides = [in_h, in_w, out_hw[0], out_hw[1]];
    if sides.contains(&0) || sides.iter().any(|&s| s >= 1 << 20) {
        return Err(format!("Resize of {shape:?} to {out_hw:?}"));
    }
    let resize = match mode {
        "nearest" => {
            let nearest_mode = n.string("nearest_mode").unwrap_or("round_prefer_floor");
            let onnx = |axis: usize, input: usize| -> Step<Vec<u32>> {
                (0..out_hw[axis])
                    .map(|i| {
                        let position =
                            onnx_position(coordinates, i, input, out_hw[axis], scale[axis])?;
                        let picked = match nearest_mode {
                            "floor" => position.floor(),
                            "ceil" => position.ceil(),
                            // Halves to the lower or upper neighbor.
                            "round_prefer_floor" => (position - 0.5).ceil(),
                            "round_prefer_ceil" => (position + 0.5).floor(),
                            other => return Err(format!("Resize nearest_mode {other}")),
                        };
                        Ok(picked.clamp(0.0, input as f64 - 1.0) as u32)
                    })
                    .collect()
            };
            let wanted = [onnx(0, in_h)?, onnx(1, in_w)?];
            nearest_picking([in_h, in_w], out_hw, &wanted).ok_or_else(|| {
                format!(
                    "Resize nearest ({coordinates}, {nearest_mode}) of {in_h}x{in_w} to \
                     {out_hw:?}: no TFLite resize picks the same pixels"
                )
            })?
        }
        "linear" => {
            let exact = (0..2).all(|a| {
                let ratio = out_hw[a] as f64 / [in_h, in_w][a] as f64;
                (ratio - scale[a]).abs() <= 1e-6 * ratio
            });
            if !exact {
                return Err(format!(
                    "Resize linear by scales {scale:?} that are not the ratio of the sizes"
                ));
            }
            let (align_corners, half_pixel_centers) = match coordinates {
                "asymmetric" => (false, false),
                "align_corners" => (true, false),
                "half_pixel" => (false, true),
                "pytorch_half_pixel" if out_hw.iter().all(|&s| s > 1) => (false, true),
                other => return Err(format!("Resize linear with {other} coordinates")),
            };
            Resize {
                method: ResizeMethod::Bilinear,
                align_corners,
                half_pixel_centers,
            }
        }
        other => return Err(format!("Resize mode {other}")),
    };
    let nhwc = cx.transposed_to_nhwc(x)?;
    let size: Vec<u8> = out_hw
        .iter()
        .flat_map(|&s| (s as i32).to_le_bytes())
        .collect();
    let name = format!("{} (size)", n.outputs[0]);
    let size = cx.tensor(name, vec![2], DataType::I32, Some(size));
    let out = cx.nhwc_output(n, vec![shape[0], out_hw[0], out_hw[1], shape[1]]);
    cx.push(
        OpKind::Resize(resize),
        vec![Some(nhwc), Some(size)],
        vec![out],
        "Resize",
    );
    cx.transposed_to_nchw(out, n.outputs[0].clone());
    Ok(())
}

/// The TFLite nearest-neighbor resize of `input` to `output` (height and
/// width) that picks the rows and columns `wanted` lists, if one does.
fn nearest_picking(
    input: [usize; 2],
    output: [usize; 2],
    wanted: &[Vec<u32>; 2],
) -> Option<Resize> {
    let options = [(false, false), (false, true), (true, false)];
    options
        .into_iter()
        .find_map(|(align_corners, half_pixel_centers)| {
            let p = ResizeParams {
                batches: 1,
                input_height: input[0] as u32,
                input_width: input[1] as u32,
                output_height: output[0] as u32,
                output_width: output[1] as u32,
                depth: 1,
                align_corners,
                half_pixel_centers,
            };
            let picks = |axis: usize| -> Vec<u32> {
                let (from, to) = (input[axis] as u32, output[axis] as u32);
                (0..to)
                    .map(|i| kiln::kernels::resize::nearest_index(i, from, to, &p))
                    .collect()
            };
            (picks(0) == wanted[0] && picks(1) == wanted[1]).then_some(Resize {
                method: ResizeMethod::Nearest,
                align_corners,
                half_pixel_centers,
            })
        })
}

/// The input coordinate ONNX's Resize samples for output index `i` along an
/// axis of `input` values resized to `output` by `scale`.
fn onnx_position(mode: &str, i: usize, input: usize, output: usize, scale: f64) -> Step<f64> {
    let i = i as f64;
    Ok(match mode {
        "half_pixel" => (i + 0.5) / scale - 0.5,
        "pytorch_half_pixel" if output > 1 => (i + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => 0.0,
        "align_corners" if output > 1 => i * (input as f64 - 1.0) / (output as f64 - 1.0),
        "align_corners" => 0.0,
        "asymmetric" => i / scale,
        "tf_half_pixel_for_nn" => (i + 0.5) / scale,
        other => return Err(format!("Resize coordinate_transformation_mode {other}")),
    })
}
