//! CONV_2D (grouped convolutions included), and what every weighted op
//! shares: the int8 requantization of a convolution or fully connected
//! layer (per-channel filter scales, int32 bias, Q31 multipliers) and the
//! descriptors of int8 and float32 convolutions.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::arch::{conv2d_scratch_bytes, KernelChoice};
use kiln::graph::Op;
use kiln::kernels::conv2d::{Conv2dParams, ConvGeometry};
use kiln::ops::{Conv2dF32, Conv2dF32Op, Conv2dOp, Conv2dS16, Conv2dS16Op, Conv2dS8};
use kiln::tensor::Nhwc;
use kiln::Span;

use super::{DepthwiseConv2d, Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{bounded_attribute, nchw_to_nhwc, pair, Importer, OnnxNode, Step};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Activation, Conv2dAttrs, DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{float_range, invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{
    activation_range, activation_range_i16, per_channel_multipliers,
};
use crate::stack::Stack;

/// CONV_2D. Inputs: data, filter `[O, KH, KW, I / groups]`, optional bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2d(pub Conv2dAttrs);

impl Conv2d {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("CONV_2D", |op| {
            Ok(OpKind::Conv2d(Conv2d(tflite_attrs(op, [3, 4, 5])?)))
        })],
        onnx: &[OnnxConverter {
            op_type: "Conv",
            inputs: 2,
            convert: conv_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Conv2d {
    fn name(&self) -> &'static str {
        "CONV_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Weights { axis: 0 }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let filter = cx.input(node, 1)?;
        let fshape = cx.shape(filter).to_vec();
        let [oc, kh, kw, fc] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [O, KH, KW, I]"));
        };
        let (in_s, out_s) = (cx.nhwc(input)?, cx.nhwc(out)?);
        let fits = fc != 0 && (in_s.channels as usize).is_multiple_of(fc);
        let geometry = forward_geometry(&self.0, (in_s, out_s), &fshape, [kh, kw, fc], oc, fits)?;
        if cx.dtype(input) == DataType::I16 {
            let conv = lower_conv_s16(cx, node, geometry, self.0.activation)?;
            return Ok(Some(Op::Conv2dS16(Conv2dS16Op { conv })));
        }
        Ok(Some(
            match lower_conv(cx, node, geometry, self.0.activation)? {
                ConvDescriptor::S8(conv) => Op::Conv2d(Conv2dOp {
                    conv,
                    kernel: int8_kernel(cx.graph(), node).0,
                    scratch: cx.scratch()?,
                }),
                ConvDescriptor::F32(conv) => Op::Conv2dF32(Conv2dF32Op { conv }),
            },
        ))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let filter = node.input(1).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        output_elements(g, node) * filter.iter().skip(1).product::<usize>() as u64
    }

    fn scratch_bytes(&self, g: &Graph, node: &Node) -> usize {
        int8_kernel(g, node).1
    }

    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.0.activation)
    }

    fn int8_kernel(&self, g: &Graph, node: &Node) -> KernelChoice {
        int8_kernel(g, node).0
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match int8_kernel(g, node).0 {
            KernelChoice::Gemm => conv_gemm_stack(g),
            // Measured on the Cortex-M4 only: the others as a small op's.
            _ => Stack::new(592, 448, 448, 424),
        }
    }
}

/// The frame of the convolutions' matrix product (CONV_2D's, and a
/// one-channel DEPTHWISE_CONV_2D's): specialized where few layers call it.
pub(crate) fn conv_gemm_stack(g: &Graph) -> Stack {
    let gemm = |n: &Node| {
        let op = n.kind.op();
        matches!(op.name(), "CONV_2D" | "DEPTHWISE_CONV_2D")
            && op.int8_kernel(g, n) == KernelChoice::Gemm
    };
    if crate::stack::few_callers(g, gemm) {
        crate::stack::SPECIALIZED_CONV
    } else {
        Stack::new(856, 856, 856, 652)
    }
}

/// The implementation of an int8 CONV_2D and the scratch bytes it takes:
/// a matrix product over widened columns (`kiln::arch`) when the
/// convolution has one group, the reference kernel otherwise.
fn int8_kernel(g: &Graph, node: &Node) -> (KernelChoice, usize) {
    let tensor = |i| node.input(i).map(|t| &g.tensors[t]);
    let (Some(input), Some(filter)) = (tensor(0), tensor(1)) else {
        return (KernelChoice::Reference, 0);
    };
    match filter.shape[..] {
        [_, kh, kw, fc] if input.dtype == DataType::I8 && input.shape.last() == Some(&fc) => {
            let geometry = ConvGeometry {
                filter_height: kh as u32,
                filter_width: kw as u32,
                filter_channels: fc as u32,
                ..ConvGeometry::default()
            };
            (KernelChoice::Gemm, conv2d_scratch_bytes(&geometry))
        }
        _ => (KernelChoice::Reference, 0),
    }
}

/// Elements of a node's first output.
pub(crate) fn output_elements(g: &Graph, node: &Node) -> u64 {
    node.outputs.first().map_or(0, |&t| g.tensors[t].elements()) as u64
}

/// A forward convolution's (plain or depthwise) geometry: windows from its
/// attributes over the input, which must give the output's extents and
/// `output_channels`; `fits` says whether the channels fit the filter
/// (of shape `filter`, named in the error).
pub(crate) fn forward_geometry(
    a: &Conv2dAttrs,
    (input, output): (Nhwc, Nhwc),
    filter: &[usize],
    [kh, kw, fc]: [usize; 3],
    output_channels: usize,
    fits: bool,
) -> Lowered<ConvGeometry> {
    let ([oh, ow], padding) = a.padding.windows(
        [input.height as usize, input.width as usize],
        [kh, kw],
        a.stride,
        a.dilation,
    );
    let extents = (
        output.height as usize,
        output.width as usize,
        output.channels as usize,
    );
    if (oh, ow, output_channels) != extents || !fits {
        return invalid(format!(
            "output shape {output:?} does not follow from input {input:?} and filter {filter:?}"
        ));
    }
    geometry(a, (input, output), [kh, kw, fc], padding)
}

/// The geometry of any convolution, from its attributes, shapes, filter
/// taps and channels, and padding before the first row and column.
pub(crate) fn geometry(
    a: &Conv2dAttrs,
    (input, output): (Nhwc, Nhwc),
    [kh, kw, fc]: [usize; 3],
    [pad_top, pad_left]: [usize; 2],
) -> Lowered<ConvGeometry> {
    Ok(ConvGeometry {
        input,
        output,
        filter_height: to_u32(kh)?,
        filter_width: to_u32(kw)?,
        filter_channels: to_u32(fc)?,
        stride_height: to_u32(a.stride[0])?,
        stride_width: to_u32(a.stride[1])?,
        dilation_height: to_u32(a.dilation[0])?,
        dilation_width: to_u32(a.dilation[1])?,
        padding_top: to_u32(pad_top)?,
        padding_left: to_u32(pad_left)?,
    })
}

/// A convolution's runtime descriptor, by its input's type.
pub(crate) enum ConvDescriptor {
    S8(Conv2dS8),
    F32(Conv2dF32),
}

/// The descriptor of a convolution (plain, depthwise or transposed) with
/// `geometry`: filter from input 1, optional bias from input 2, in int8
/// (with per-channel requantization) or float32.
pub(crate) fn lower_conv(
    cx: &mut Lowering,
    node: &Node,
    geometry: ConvGeometry,
    activation: Activation,
) -> Lowered<ConvDescriptor> {
    lower_conv_laid_out(cx, node, geometry, activation, FilterLayout::AsStored)
}

/// How an int8 filter goes into the weights.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum FilterLayout {
    AsStored,
    /// A depthwise filter `[1, KH, KW, O]` of a one-channel input, written
    /// as the convolution filter `[O, KH, KW, 1]` it equals.
    DepthwiseAsConv,
}

/// [`lower_conv`] with the int8 filter written in `layout`.
pub(crate) fn lower_conv_laid_out(
    cx: &mut Lowering,
    node: &Node,
    geometry: ConvGeometry,
    activation: Activation,
    layout: FilterLayout,
) -> Lowered<ConvDescriptor> {
    let (input, out) = cx.input_output(node)?;
    let channels = geometry.output.channels as usize;
    if cx.is_float(node) {
        let filter = cx.input(node, 1)?;
        return Ok(ConvDescriptor::F32(Conv2dF32 {
            geometry,
            activation: float_range(activation),
            input: cx.activation(input, DataType::F32)?,
            filter: cx.copied_constant(filter, DataType::F32)?,
            bias: cx.optional_constant(node.input(2), DataType::F32, channels)?,
            output: cx.activation(out, DataType::F32)?,
        }));
    }
    let w = WeightsS8::lower_laid_out(cx, node, channels, layout)?;
    let (multipliers, shifts) =
        per_channel_multipliers(w.input_scale, &w.scales, w.output_scale, channels);
    let (activation_min, activation_max) =
        activation_range(activation, w.output_scale, w.output_zero_point);
    Ok(ConvDescriptor::S8(Conv2dS8 {
        params: Conv2dParams {
            geometry,
            input_offset: -w.input_zero_point,
            output_offset: w.output_zero_point,
            activation_min,
            activation_max,
        },
        input: cx.activation(input, DataType::I8)?,
        filter: w.filter,
        bias: w.bias,
        multiplier: cx.i32s(&multipliers)?,
        shift: cx.i32s(&shifts)?,
        output: cx.activation(out, DataType::I8)?,
    }))
}

/// An int16 (16x8) convolution's descriptor, plain or depthwise with
/// `geometry` (TFLM's reference kernels; the filter as stored).
pub(crate) fn lower_conv_s16(
    cx: &mut Lowering,
    node: &Node,
    geometry: ConvGeometry,
    activation: Activation,
) -> Lowered<Conv2dS16> {
    let (input, out) = cx.input_output(node)?;
    let channels = geometry.output.channels as usize;
    let (w, int64_accumulator) = weights_16x8(cx, node, channels)?;
    let (multipliers, shifts) =
        per_channel_multipliers(w.input_scale, &w.scales, w.output_scale, channels);
    shifts_16x8(int64_accumulator, &shifts)?;
    let (activation_min, activation_max) = activation_range_i16(activation, w.output_scale);
    Ok(Conv2dS16 {
        params: Conv2dParams {
            geometry,
            input_offset: 0,
            output_offset: 0,
            activation_min,
            activation_max,
        },
        int64_accumulator,
        input: cx.activation(input, DataType::I16)?,
        filter: w.filter,
        bias: w.bias,
        multiplier: cx.i32s(&multipliers)?,
        shift: cx.i32s(&shifts)?,
        output: cx.activation(out, DataType::I16)?,
    })
}

/// TFLite's 64-bit requantization shifts by `15 - shift`, which must stay
/// positive: an int64-accumulating 16x8 layer needs every shift below 15.
pub(crate) fn shifts_16x8(int64_accumulator: bool, shifts: &[i32]) -> Lowered<()> {
    if int64_accumulator && shifts.iter().any(|&s| s > 14) {
        return unsupported("an int16 layer with a requantization multiplier of 2^14 or more (TFLite's 64-bit rescaling shifts by 15 - shift)");
    }
    Ok(())
}

/// The int8 quantities of a weighted op (convolution or fully connected):
/// the input's and output's parameters, the filter's scales, and the
/// filter (input 1) and optional int32 bias (input 2) copied to the weights.
pub(crate) struct WeightsS8 {
    pub input_scale: f32,
    pub input_zero_point: i32,
    pub output_scale: f32,
    pub output_zero_point: i32,
    /// One per output channel, or one for all.
    pub scales: Vec<f32>,
    pub filter: Span,
    pub bias: Span,
}

impl WeightsS8 {
    pub(crate) fn lower(cx: &mut Lowering, node: &Node, channels: usize) -> Lowered<WeightsS8> {
        Self::lower_laid_out(cx, node, channels, FilterLayout::AsStored)
    }

    /// [`WeightsS8::lower`] with the filter written in `layout`.
    pub(crate) fn lower_laid_out(
        cx: &mut Lowering,
        node: &Node,
        channels: usize,
        layout: FilterLayout,
    ) -> Lowered<WeightsS8> {
        let (input, out) = cx.input_output(node)?;
        let filter = cx.input(node, 1)?;
        let (input_scale, input_zero_point) = cx.quant(input)?;
        let (output_scale, output_zero_point) = cx.quant(out)?;
        let scales = filter_scales(cx, filter, channels)?;
        let filter = match layout {
            FilterLayout::AsStored => cx.copied_constant(filter, DataType::I8)?,
            FilterLayout::DepthwiseAsConv => {
                // [taps][O] to [O][taps].
                let bytes = cx.weight_data(filter, DataType::I8)?.to_vec();
                let taps = bytes.len() / channels.max(1);
                let mut transposed = vec![0u8; bytes.len()];
                for (t, row) in bytes.chunks_exact(channels).enumerate() {
                    for (o, &b) in row.iter().enumerate() {
                        transposed[o * taps + t] = b;
                    }
                }
                cx.constant(&transposed)?
            }
        };
        let bias = cx.optional_constant(node.input(2), DataType::I32, channels)?;
        Ok(WeightsS8 {
            input_scale,
            input_zero_point,
            output_scale,
            output_zero_point,
            scales,
            filter,
            bias,
        })
    }
}

/// A 16x8 layer's weights (TFLite's int16 scheme): [`WeightsS8`] of a
/// layer whose int16 input and output have zero point 0, and whether TFLM
/// accumulates it in int64 (`true`: an int64 bias, or none) or in int32
/// (an int32 bias).
pub(crate) fn weights_16x8(
    cx: &mut Lowering,
    node: &Node,
    channels: usize,
) -> Lowered<(WeightsS8, bool)> {
    let (input, out) = cx.input_output(node)?;
    let filter = cx.input(node, 1)?;
    if cx.dtype(out) != DataType::I16 || cx.dtype(filter) != DataType::I8 {
        return unsupported(
            "int16 input without int8 weights and an int16 output (TFLM's 16x8 layers)",
        );
    }
    let (input_scale, input_zero_point) = cx.quant(input)?;
    let (output_scale, output_zero_point) = cx.quant(out)?;
    if input_zero_point != 0 || output_zero_point != 0 {
        return unsupported(
            "int16 values with a nonzero zero point (TFLite's 16x8 scheme has none)",
        );
    }
    // TFLM's goldens settle the biasless case: int64 sums.
    let wide = node.input(2).is_none_or(|b| cx.dtype(b) == DataType::I64);
    let bias_type = if wide { DataType::I64 } else { DataType::I32 };
    let scales = filter_scales(cx, filter, channels)?;
    let weights = WeightsS8 {
        input_scale,
        input_zero_point,
        output_scale,
        output_zero_point,
        scales,
        filter: cx.copied_constant(filter, DataType::I8)?,
        bias: cx.optional_constant(node.input(2), bias_type, channels)?,
    };
    Ok((weights, wide))
}

/// A symmetric int8 filter's scales: one, or one per output channel.
fn filter_scales(cx: &Lowering, t: TensorId, channels: usize) -> Lowered<Vec<f32>> {
    let tensor = cx.tensor(t);
    let Some(q) = &tensor.quantization else {
        return unsupported(format!("filter '{}' is not quantized", tensor.name));
    };
    if q.zero_point.iter().any(|&z| z != 0) {
        return unsupported(format!(
            "filter '{}' is asymmetric (non-zero zero point)",
            tensor.name
        ));
    }
    if q.scale.len() != 1 && q.scale.len() != channels {
        return invalid(format!(
            "filter '{}' has {} scales for {channels} channels",
            tensor.name,
            q.scale.len()
        ));
    }
    Ok(q.scale.clone())
}

/// A TFLite convolution's options: padding, strides, then the activation
/// and dilations in the given slots (a depthwise convolution has its depth
/// multiplier before them, which the shapes already give).
pub(crate) fn tflite_attrs(
    op: &mut TfliteOp,
    [activation, dilation_w, dilation_h]: [usize; 3],
) -> ReadResult<Conv2dAttrs> {
    Ok(Conv2dAttrs {
        padding: op.padding(0)?,
        stride: [
            op.positive(2, 0, "stride_h")?,
            op.positive(1, 0, "stride_w")?,
        ],
        dilation: [
            op.positive(dilation_h, 1, "dilation_h")?,
            op.positive(dilation_w, 1, "dilation_w")?,
        ],
        activation: op.activation(activation)?,
    })
}

/// ONNX Conv (2-D, grouped): a depthwise convolution when every group is
/// one input channel. Weights `[O, I / group, KH, KW]` become `[O, KH, KW,
/// I / group]` (or `[1, KH, KW, O]` for depthwise).
fn conv_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let x = cx.transposed_to_nhwc(x)?;
    let w = cx.constant(&n.inputs[1])?.clone();
    let ws = w
        .shape()
        .filter(|s| s.len() == 4)
        .ok_or("only 2-D convolutions (4-D weights)")?;
    let [o, i_per_group, kh, kw] = [ws[0], ws[1], ws[2], ws[3]];
    let values = w.f32s().ok_or("weights must be float32")?;
    let xs = cx.shape(x);
    let (in_h, in_w, in_c) = (xs[1], xs[2], xs[3]);
    bounded_attribute("group", &[n.int("group", 1)], 1)?;
    let group = n.int("group", 1) as usize;
    if i_per_group.checked_mul(group) != Some(in_c) || o % group != 0 {
        return Err(format!(
            "weights {ws:?} with group {group} do not fit {in_c} input channels"
        ));
    }
    let strides = pair(n, "strides")?;
    let dilations = pair(n, "dilations")?;
    if kh == 0 || kw == 0 {
        return Err(format!("empty kernel {ws:?}"));
    }
    let padding = cx.padding(
        n,
        [in_h, in_w],
        [kh, kw],
        [strides[0] as usize, strides[1] as usize],
        [dilations[0] as usize, dilations[1] as usize],
    )?;
    let attrs = Conv2dAttrs {
        padding,
        stride: [strides[0] as usize, strides[1] as usize],
        dilation: [dilations[0] as usize, dilations[1] as usize],
        activation: Activation::None,
    };
    let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(b) => {
            let b = cx.constant(b)?.f32s().ok_or("bias must be float32")?;
            if b.len() != o {
                return Err(format!("bias of {} for {o} output channels", b.len()));
            }
            Some(b)
        }
        None => None,
    };
    let depthwise = group == in_c && group > 1 && i_per_group == 1;
    let (filter, kind) = if depthwise {
        // [O, 1, KH, KW] -> [1, KH, KW, O]
        let mut f = vec![0f32; values.len()];
        for oc in 0..o {
            for y in 0..kh {
                for xx in 0..kw {
                    f[(y * kw + xx) * o + oc] = values[(oc * kh + y) * kw + xx];
                }
            }
        }
        (
            cx.f32_constant(w.name.clone(), vec![1, kh, kw, o], &f),
            OpKind::DepthwiseConv2d(DepthwiseConv2d(attrs)),
        )
    } else {
        // [O, I, KH, KW] -> [O, KH, KW, I]: the NCHW-to-NHWC permutation.
        let f = nchw_to_nhwc(&values, [o, i_per_group, kh, kw]);
        (
            cx.f32_constant(w.name.clone(), vec![o, kh, kw, i_per_group], &f),
            OpKind::Conv2d(Conv2d(attrs)),
        )
    };
    let bias = bias.map(|b| cx.f32_constant(format!("{} (bias)", n.name), vec![o], &b));
    let ([oh, ow], _) = padding.windows([in_h, in_w], [kh, kw], attrs.stride, attrs.dilation);
    let out = cx.nhwc_output(n, vec![xs[0], oh, ow, o]);
    cx.push(kind, vec![Some(x), Some(filter), bias], vec![out], "Conv");
    cx.transposed_to_nchw(out, n.outputs[0].clone());
    Ok(())
}
