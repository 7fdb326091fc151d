//! AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (input and output share
//! their quantization) and float32, and L2_POOL_2D (float32, as in TFLM).
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::pooling::{PoolGeometry, PoolParams};
use kiln::ops::{
    AveragePool2dF32Op, AveragePool2dOp, AveragePool2dS16Op, L2Pool2dF32Op, MaxPool2dF32Op,
    MaxPool2dOp, MaxPool2dS16Op, Pool2dF32, Pool2dS16, Pool2dS8,
};

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{bounded_attribute, pair, Importer, OnnxNode, Step};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Activation, DataType, Graph, Node, OpKind, Padding, Pool2dAttrs};
use crate::lower::{float_range, invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{activation_range, activation_range_i16};
use crate::stack::Stack;

/// AVERAGE_POOL_2D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AveragePool2d(pub Pool2dAttrs);

/// MAX_POOL_2D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxPool2d(pub Pool2dAttrs);

/// L2_POOL_2D: the root of the mean square of each window (float32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct L2Pool2d(pub Pool2dAttrs);

/// A pool's runtime descriptor, by its input's type.
enum PoolDescriptor {
    S8(Pool2dS8),
    S16(Pool2dS16),
    F32(Pool2dF32),
}

fn lower_pool(cx: &mut Lowering, node: &Node, a: &Pool2dAttrs) -> Lowered<PoolDescriptor> {
    let (input, out) = cx.input_output(node)?;
    let (in_s, out_s) = (cx.nhwc(input)?, cx.nhwc(out)?);
    let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
        [in_s.height as usize, in_s.width as usize],
        a.filter,
        a.stride,
        a.dilation,
    );
    if (oh, ow) != (out_s.height as usize, out_s.width as usize) || in_s.channels != out_s.channels
    {
        return invalid(format!(
            "output shape {out_s:?} does not follow from input {in_s:?}"
        ));
    }
    let geometry = PoolGeometry {
        input: in_s,
        output: out_s,
        filter_height: to_u32(a.filter[0])?,
        filter_width: to_u32(a.filter[1])?,
        stride_height: to_u32(a.stride[0])?,
        stride_width: to_u32(a.stride[1])?,
        padding_top: to_u32(pad_top)?,
        padding_left: to_u32(pad_left)?,
        dilation_height: to_u32(a.dilation[0])?,
        dilation_width: to_u32(a.dilation[1])?,
    };
    if cx.is_float(node) {
        let (input, output) = cx.spans((input, out), DataType::F32)?;
        return Ok(PoolDescriptor::F32(Pool2dF32 {
            geometry,
            activation: float_range(a.activation),
            input,
            output,
        }));
    }
    cx.same_quantization(input, out, "pooling")?;
    let (scale, zero_point) = cx.quant(out)?;
    if cx.dtype(input) == DataType::I16 {
        if zero_point != 0 {
            return unsupported(
                "int16 pooling with a nonzero zero point (TFLite's 16x8 scheme has none)",
            );
        }
        let (activation_min, activation_max) = activation_range_i16(a.activation, scale);
        let (input, output) = cx.spans((input, out), DataType::I16)?;
        return Ok(PoolDescriptor::S16(Pool2dS16 {
            params: PoolParams {
                geometry,
                activation_min,
                activation_max,
            },
            input,
            output,
        }));
    }
    let (activation_min, activation_max) = activation_range(a.activation, scale, zero_point);
    let (input, output) = cx.spans((input, out), DataType::I8)?;
    Ok(PoolDescriptor::S8(Pool2dS8 {
        params: PoolParams {
            geometry,
            activation_min,
            activation_max,
        },
        input,
        output,
    }))
}

impl AveragePool2d {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("AVERAGE_POOL_2D", |op| {
            Ok(OpKind::AveragePool2d(AveragePool2d(tflite_attrs(op)?)))
        })],
        onnx: &[OnnxConverter {
            op_type: "AveragePool",
            inputs: 1,
            convert: pool_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl MaxPool2d {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("MAX_POOL_2D", |op| {
            Ok(OpKind::MaxPool2d(MaxPool2d(tflite_attrs(op)?)))
        })],
        onnx: &[OnnxConverter {
            op_type: "MaxPool",
            inputs: 1,
            convert: pool_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl L2Pool2d {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("L2_POOL_2D", |op| {
            Ok(OpKind::L2Pool2d(L2Pool2d(tflite_attrs(op)?)))
        })],
        onnx: &[],
        dtypes: Dtypes::FLOAT32_BETWEEN_QUANTIZE,
    };
}

impl IrOp for L2Pool2d {
    fn name(&self) -> &'static str {
        "L2_POOL_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if !cx.is_float(node) {
            return unsupported("L2_POOL_2D of other types than float32");
        }
        Ok(Some(match lower_pool(cx, node, &self.0)? {
            PoolDescriptor::F32(pool) => Op::L2Pool2dF32(L2Pool2dF32Op { pool }),
            PoolDescriptor::S8(_) => return unsupported("int8 L2_POOL_2D"),
            PoolDescriptor::S16(_) => return unsupported("int16 L2_POOL_2D"),
        }))
    }

    /// The float average pool's walk: its int8 figure (float32 models are
    /// not run on the emulated cores).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        int16_pool_stack(g, node).unwrap_or(Stack::new(512, 448, 448, 388))
    }
}

impl IrOp for AveragePool2d {
    fn name(&self) -> &'static str {
        "AVERAGE_POOL_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(match lower_pool(cx, node, &self.0)? {
            PoolDescriptor::S8(pool) => Op::AveragePool2d(AveragePool2dOp { pool }),
            PoolDescriptor::S16(pool) => Op::AveragePool2dS16(AveragePool2dS16Op { pool }),
            PoolDescriptor::F32(pool) => Op::AveragePool2dF32(AveragePool2dF32Op { pool }),
        }))
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        int16_pool_stack(g, node).unwrap_or(Stack::new(512, 448, 448, 388))
    }
}

impl IrOp for MaxPool2d {
    fn name(&self) -> &'static str {
        "MAX_POOL_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(match lower_pool(cx, node, &self.0)? {
            PoolDescriptor::S8(pool) => Op::MaxPool2d(MaxPool2dOp { pool }),
            PoolDescriptor::S16(pool) => Op::MaxPool2dS16(MaxPool2dS16Op { pool }),
            PoolDescriptor::F32(pool) => Op::MaxPool2dF32(MaxPool2dF32Op { pool }),
        }))
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        int16_pool_stack(g, node).unwrap_or(Stack::new(480, 448, 448, 372))
    }
}

/// The int16 pools' frame, painted on pools_int16 (`None`: another type).
fn int16_pool_stack(g: &Graph, node: &Node) -> Option<Stack> {
    let input = node.input(0).map(|t| g.tensors[t].dtype);
    (input == Some(DataType::I16)).then_some(Stack::new(560, 544, 544, 388))
}

/// A TFLite pool's options (Pool2DOptions).
fn tflite_attrs(op: &mut TfliteOp) -> ReadResult<Pool2dAttrs> {
    Ok(Pool2dAttrs {
        padding: op.padding(0)?,
        stride: [
            op.positive(2, 0, "stride_h")?,
            op.positive(1, 0, "stride_w")?,
        ],
        filter: [
            op.positive(4, 0, "filter_height")?,
            op.positive(3, 0, "filter_width")?,
        ],
        dilation: [1, 1],
        activation: op.activation(5)?,
    })
}

/// ONNX MaxPool and AveragePool, 2-D (1-D ones come lifted to 2-D), their
/// taps possibly dilated. `count_include_pad` pads with zeros first (an explicit PAD,
/// so the average counts them), and `ceil_mode`'s last, partial window is
/// padding past the end that the window skips, as TFLite's pools skip
/// theirs; ONNX drops a last window that would start in the end padding.
fn pool_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let op = n.op_type.as_str();
    let x = cx.value(&n.inputs[0])?;
    if cx.shape(x).len() == 5 {
        return pool3d_from_onnx(cx, n);
    }
    let mut x = cx.transposed_to_nhwc(x)?;
    let k = n
        .ints("kernel_shape")
        .filter(|k| k.len() == 2)
        .ok_or("only 1-D and 2-D pooling")?;
    if n.outputs.len() > 1 {
        return Err("the indices output".into());
    }
    bounded_attribute("kernel_shape", k, 1)?;
    let kernel = [k[0] as usize, k[1] as usize];
    let strides = pair(n, "strides")?;
    let stride = [strides[0] as usize, strides[1] as usize];
    let dilations = pair(n, "dilations")?;
    let dilation = [dilations[0] as usize, dilations[1] as usize];
    // The window's reach: taps `dilation` apart.
    let reach = [0, 1].map(|a| (kernel[a] - 1) * dilation[a] + 1);
    let xs = cx.shape(x);
    let padding = cx.padding(n, [xs[1], xs[2]], kernel, stride, dilation)?;
    // [top, left, bottom, right], and the input they pad.
    let mut pads = explicit_pads(padding, [xs[1], xs[2]], reach, stride);
    let mut input = [xs[1], xs[2]];
    let ceil = n.int("ceil_mode", 0) != 0 && !matches!(padding, Padding::Same);
    let out_hw: [usize; 2] = std::array::from_fn(|a| {
        let padded = input[a] + pads[a] + pads[a + 2];
        let over = padded.saturating_sub(reach[a]);
        if !ceil {
            return over / stride[a] + 1;
        }
        let out = over.div_ceil(stride[a]) + 1;
        if (out - 1) * stride[a] >= input[a] + pads[a] {
            out - 1
        } else {
            out
        }
    });
    if op == "AveragePool" && n.int("count_include_pad", 0) != 0 && pads != [0; 4] {
        let per_dim = [(0, 0), (pads[0], pads[2]), (pads[1], pads[3]), (0, 0)];
        let name = format!("{} (padded)", cx.g.tensors[x].name);
        let zeros = (kiln::kernels::pad::PadMode::Constant, 0.0);
        x = crate::ops::pad::padded(cx, x, &per_dim, zeros, &name, op);
        input = [input[0] + pads[0] + pads[2], input[1] + pads[1] + pads[3]];
        pads = [0; 4];
    }
    // The end padding that gives `out_hw` windows (more than given in ceil
    // mode; never less: the windows only reach further).
    for a in 0..2 {
        let end = (out_hw[a] - 1) * stride[a] + reach[a];
        pads[a + 2] = pads[a + 2].max(end.saturating_sub(input[a] + pads[a]));
    }
    let attrs = Pool2dAttrs {
        padding: Padding::Explicit(pads),
        stride,
        filter: kernel,
        dilation,
        activation: Activation::None,
    };
    let kind = if op == "MaxPool" {
        OpKind::MaxPool2d(MaxPool2d(attrs))
    } else {
        OpKind::AveragePool2d(AveragePool2d(attrs))
    };
    let ([oh, ow], _) = attrs.padding.windows(input, kernel, stride, dilation);
    if [oh, ow] != out_hw {
        return Err(format!(
            "pooling to {out_hw:?}, padding gives {:?}",
            [oh, ow]
        ));
    }
    let out = cx.nhwc_output(n, vec![xs[0], oh, ow, xs[3]]);
    cx.push(kind, vec![Some(x)], vec![out], op);
    cx.transposed_to_nchw(out, n.outputs[0].clone());
    Ok(())
}

/// A 3-D pool (`[N, C, D, H, W]`) as two 2-D ones, which is exact because
/// its window is a box: over H and W with the depth folded into the
/// channels, then over D with H and W flattened into the width (a kernel
/// of one there). Each stage of an average divides by its own count of
/// taps, and their product is the box's, with the pads counted or not
/// (`count_include_pad`) and `ceil_mode` alike. Explicit pads only.
fn pool3d_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let s = cx.shape(x);
    if n.string("auto_pad").is_some_and(|p| p != "NOTSET") {
        return Err("a 3-D pool with auto_pad (kiln: explicit pads)".into());
    }
    let triple = |name: &str, default: i64| -> Step<[i64; 3]> {
        match n.ints(name) {
            None => Ok([default; 3]),
            Some(&[a, b, c]) => Ok([a, b, c]),
            Some(v) => Err(format!("{name} {v:?} (a 3-D pool takes three)")),
        }
    };
    let kernel = match n.ints("kernel_shape") {
        Some(&[a, b, c]) => [a, b, c],
        _ => return Err("a 3-D pool needs a kernel_shape of three".into()),
    };
    let (strides, dilations) = (triple("strides", 1)?, triple("dilations", 1)?);
    let pads = match n.ints("pads") {
        None => [0; 6],
        Some(&[a, b, c, d, e, f]) => [a, b, c, d, e, f],
        Some(v) => Err(format!("pads {v:?} (a 3-D pool takes six)"))?,
    };
    let name = &n.outputs[0];
    let stage = |input: String, output: String, axes: [Option<usize>; 2]| {
        let mut node = n.clone();
        node.inputs = vec![input];
        node.outputs = vec![output];
        let pick = |values: &[i64], unit: i64| -> Vec<i64> {
            axes.iter().map(|a| a.map_or(unit, |a| values[a])).collect()
        };
        let set = |node: &mut OnnxNode, key: &str, ints: Vec<i64>| {
            node.attributes.insert(
                key.into(),
                crate::import::onnx::Attribute {
                    ints,
                    ..Default::default()
                },
            );
        };
        set(&mut node, "kernel_shape", pick(&kernel, 1));
        set(&mut node, "strides", pick(&strides, 1));
        set(&mut node, "dilations", pick(&dilations, 1));
        let (begin, end) = (pick(&pads[..3], 0), pick(&pads[3..], 0));
        set(&mut node, "pads", [begin, end].concat());
        node
    };
    // Over H and W: [N, C * D, H, W].
    let hw_in = format!("{name} (C*D, H, W)");
    let t = cx.reshaped(x, vec![s[0], s[1] * s[2], s[3], s[4]], hw_in.clone());
    cx.values.insert(hw_in.clone(), t);
    let hw_out = format!("{name} (pooled over H, W)");
    pool_from_onnx(cx, &stage(hw_in, hw_out.clone(), [Some(1), Some(2)]))?;
    let mid = cx.value(&hw_out)?;
    let ms = cx.shape(mid);
    // Over D: [N, C, D, H' * W'].
    let d_in = format!("{name} (C, D, H*W)");
    let t = cx.reshaped(mid, vec![s[0], s[1], s[2], ms[2] * ms[3]], d_in.clone());
    cx.values.insert(d_in.clone(), t);
    let d_out = format!("{name} (pooled over D)");
    pool_from_onnx(cx, &stage(d_in, d_out.clone(), [Some(0), None]))?;
    let pooled = cx.value(&d_out)?;
    let depth = cx.shape(pooled)[2];
    let y = cx.reshaped(pooled, vec![s[0], s[1], depth, ms[2], ms[3]], name.clone());
    cx.values.insert(name.clone(), y);
    Ok(())
}

/// `padding` as amounts `[top, left, bottom, right]` over `input`, for
/// windows of `kernel` input steps.
fn explicit_pads(
    padding: Padding,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> [usize; 4] {
    if let Padding::Explicit(p) = padding {
        return p;
    }
    let (out, before) = padding.windows(input, kernel, stride, [1, 1]);
    let after =
        |a: usize| ((out[a] - 1) * stride[a] + kernel[a]).saturating_sub(input[a] + before[a]);
    [before[0], before[1], after(0), after(1)]
}
