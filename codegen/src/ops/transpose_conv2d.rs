//! TRANSPOSE_CONV (ONNX ConvTranspose): the geometry of the equivalent
//! forward convolution, read backwards by the kernel.
//!
//! Layer: ops; uses the convolution lowering of `ops::conv2d`.

use kiln::graph::Op;
use kiln::ops::{TransposeConv2dF32Op, TransposeConv2dOp, TransposeConv2dS16Op};

use super::conv2d::{geometry, lower_conv, lower_conv_s16, ConvDescriptor};
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{bounded_attribute, pair, Importer, OnnxNode, Step, MAX_GEOMETRY};
use crate::import::tflite::invalid as read_invalid;
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Activation, Conv2dAttrs, DataType, Graph, Node, OpKind, Padding};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// TRANSPOSE_CONV. Inputs: data, filter `[O, KH, KW, I / groups]`,
/// optional bias; padding is `Explicit` and only its start is used (the
/// output shape fixes the rest).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransposeConv2d(pub Conv2dAttrs);

impl TransposeConv2d {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("TRANSPOSE_CONV", from_tflite)],
        onnx: &[OnnxConverter {
            op_type: "ConvTranspose",
            inputs: 2,
            convert: conv_transpose_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for TransposeConv2d {
    fn name(&self) -> &'static str {
        "TRANSPOSE_CONV"
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
        let Padding::Explicit([pad_top, pad_left, _, _]) = self.0.padding else {
            return invalid("transposed convolution without explicit padding");
        };
        let (in_s, out_s) = (cx.nhwc(input)?, cx.nhwc(out)?);
        let in_c = in_s.channels as usize;
        if out_s.channels as usize != oc
            || fc == 0
            || !in_c.is_multiple_of(fc)
            || oc.checked_rem(in_c / fc) != Some(0)
        {
            return invalid(format!(
                "filter {fshape:?} does not fit input {in_s:?} and output {out_s:?}"
            ));
        }
        let geometry = geometry(&self.0, (in_s, out_s), [kh, kw, fc], [pad_top, pad_left])?;
        if cx.dtype(input) == DataType::I16 {
            // TFLM's int16 kernel sums in int64 and reads its bias as
            // int64 values (the pip package reads an int32 bias so too).
            if node.input(2).is_some_and(|b| cx.dtype(b) != DataType::I64) {
                return unsupported("int16 TRANSPOSE_CONV with a bias other than int64");
            }
            let conv = lower_conv_s16(cx, node, geometry, self.0.activation)?;
            return Ok(Some(Op::TransposeConv2dS16(TransposeConv2dS16Op { conv })));
        }
        Ok(Some(
            match lower_conv(cx, node, geometry, self.0.activation)? {
                ConvDescriptor::S8(conv) => Op::TransposeConv2d(TransposeConv2dOp { conv }),
                ConvDescriptor::F32(conv) => Op::TransposeConv2dF32(TransposeConv2dF32Op { conv }),
            },
        ))
    }

    /// Every input pixel meets every filter tap (taps that land in the
    /// padding are counted too).
    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let shape = |i: usize| node.input(i).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        let (x, f) = (shape(0), shape(1));
        let pixels = crate::ir::saturating_elements(&x[..x.len().saturating_sub(1)]);
        (pixels * f.iter().product::<usize>()) as u64
    }

    /// int16: painted on each core on the transpose_conv_int16 fixture.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return Stack::new(328, 284, 284, 212);
        }
        Stack::new(380, 304, 304, 236)
    }
}

/// TFLite's TRANSPOSE_CONV reads (output shape, filter, input, bias); the
/// IR reads (input, filter, bias) with explicit padding, which TFLM computes
/// as a forward convolution over the output's extent would pad it (the
/// first half of the total; the output shape fixes the rest).
fn from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let attrs = Conv2dAttrs {
        padding: op.padding(0)?,
        stride: [
            op.positive(2, 0, "stride_h")?,
            op.positive(1, 0, "stride_w")?,
        ],
        dilation: [1, 1],
        activation: op.activation(3)?,
    };
    let (Some(Some(filter)), Some(Some(input)), Some(&out)) =
        (op.inputs.get(1), op.inputs.get(2), op.outputs.first())
    else {
        return read_invalid("TRANSPOSE_CONV needs an output shape, a filter and an input");
    };
    let (filter, input) = (*filter, *input);
    let (fs, os) = (&op.tensors[filter].shape, &op.tensors[out].shape);
    let (&[_, fh, fw, _], &[_, oh, ow, _]) = (&fs[..], &os[..]) else {
        return read_invalid(format!(
            "TRANSPOSE_CONV filter {fs:?} and output {os:?} must be 4-D"
        ));
    };
    let (_, [top, left]) = attrs
        .padding
        .windows([oh, ow], [fh, fw], attrs.stride, [1, 1]);
    let bias = op.inputs.get(3).copied().flatten();
    op.inputs = vec![Some(input), Some(filter), bias];
    Ok(OpKind::TransposeConv2d(TransposeConv2d(Conv2dAttrs {
        padding: Padding::Explicit([top, left, 0, 0]),
        ..attrs
    })))
}

/// 2-D ConvTranspose in float32. Padding and output size follow ONNX's
/// reference (`auto_pad`, `pads`, `output_padding`, `output_shape`);
/// weights `[C, M / group, KH, KW]` become the grouped-conv filter
/// layout `[M, KH, KW, C / group]` the kernel reads.
fn conv_transpose_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    if cx.shape(x).len() != 4 {
        return Err("only 2-D transposed convolutions (4-D input)".into());
    }
    let x = cx.transposed_to_nhwc(x)?;
    let w = cx.constant(&n.inputs[1])?.clone();
    let ws = w
        .shape()
        .filter(|s| s.len() == 4)
        .ok_or("only 2-D transposed convolutions (4-D weights)")?;
    let [c, m_per_group, kh, kw] = [ws[0], ws[1], ws[2], ws[3]];
    let values = w.f32s().ok_or("weights must be float32")?;
    let xs = cx.shape(x);
    let (batches, in_hw, in_c) = (xs[0], [xs[1], xs[2]], xs[3]);
    let group = n.int("group", 1).max(1) as usize;
    if c != in_c || c % group != 0 || kh == 0 || kw == 0 {
        return Err(format!(
            "weights {ws:?} with group {group} do not fit {in_c} input channels"
        ));
    }
    let (c_per_group, m) = (c / group, m_per_group * group);
    let strides = pair(n, "strides")?;
    let dilations = pair(n, "dilations")?;
    let output_padding = n
        .ints("output_padding")
        .map(<[i64]>::to_vec)
        .unwrap_or_else(|| vec![0, 0]);
    let given_shape: Option<Vec<i64>> = n.ints("output_shape").map(|s| {
        // Spatial only, though some exporters write all four dims.
        s[s.len().saturating_sub(2)..].to_vec()
    });
    if output_padding.len() != 2 || given_shape.as_ref().is_some_and(|s| s.len() != 2) {
        return Err("output_padding and output_shape must be 2-D".into());
    }
    bounded_attribute("output_padding", &output_padding, 0)?;
    bounded_attribute("output_shape", given_shape.as_deref().unwrap_or(&[]), 1)?;
    bounded_attribute("group", &[n.int("group", 1)], 1)?;
    bounded_attribute("pads", n.ints("pads").unwrap_or(&[]), -MAX_GEOMETRY)?;
    let kernel = [kh as i64, kw as i64];
    let natural = |a: usize| {
        strides[a] * (in_hw[a] as i64 - 1) + output_padding[a] + (kernel[a] - 1) * dilations[a] + 1
    };
    let auto_pad = n.string("auto_pad").unwrap_or("NOTSET");
    let mut begin = [0i64; 2];
    let mut out_hw = [0i64; 2];
    match (auto_pad, n.ints("pads")) {
        ("SAME_UPPER" | "SAME_LOWER", None) => {
            for a in 0..2 {
                out_hw[a] = given_shape
                    .as_ref()
                    .map_or(in_hw[a] as i64 * strides[a], |s| s[a]);
                let total = natural(a) - out_hw[a];
                begin[a] = if auto_pad == "SAME_UPPER" {
                    total.div_euclid(2)
                } else {
                    total - total.div_euclid(2)
                };
            }
        }
        ("NOTSET" | "SAME_UPPER" | "SAME_LOWER", pads) => {
            let pads = pads.map(<[i64]>::to_vec).unwrap_or_else(|| vec![0; 4]);
            if pads.len() != 4 {
                return Err(format!("pads {pads:?} (kiln: 2-D)"));
            }
            for a in 0..2 {
                begin[a] = pads[a];
                out_hw[a] = given_shape
                    .as_ref()
                    .map_or(natural(a) - pads[a] - pads[a + 2], |s| s[a]);
            }
        }
        (other, _) => return Err(format!("auto_pad {other}")),
    }
    if begin.iter().any(|&p| p < 0) || out_hw.iter().any(|&d| d <= 0) {
        return Err(format!(
            "padding {begin:?} and output {out_hw:?} (kiln: non-negative padding)"
        ));
    }
    // [C, M/g, KH, KW] -> [M, KH, KW, C/g]
    let mut f = vec![0f32; values.len()];
    for ic in 0..c {
        let (g, icg) = (ic / c_per_group, ic % c_per_group);
        for mg in 0..m_per_group {
            let oc = g * m_per_group + mg;
            for y in 0..kh {
                for xx in 0..kw {
                    f[((oc * kh + y) * kw + xx) * c_per_group + icg] =
                        values[((ic * m_per_group + mg) * kh + y) * kw + xx];
                }
            }
        }
    }
    let filter = cx.f32_constant(w.name.clone(), vec![m, kh, kw, c_per_group], &f);
    let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(b) => {
            let b = cx.constant(b)?.f32s().ok_or("bias must be float32")?;
            if b.len() != m {
                return Err(format!("bias of {} for {m} output channels", b.len()));
            }
            Some(cx.f32_constant(format!("{} (bias)", n.outputs[0]), vec![m], &b))
        }
        None => None,
    };
    let attrs = Conv2dAttrs {
        padding: Padding::Explicit([begin[0] as usize, begin[1] as usize, 0, 0]),
        stride: [strides[0] as usize, strides[1] as usize],
        dilation: [dilations[0] as usize, dilations[1] as usize],
        activation: Activation::None,
    };
    let out = cx.nhwc_output(n, vec![batches, out_hw[0] as usize, out_hw[1] as usize, m]);
    cx.push(
        OpKind::TransposeConv2d(TransposeConv2d(attrs)),
        vec![Some(x), Some(filter), bias],
        vec![out],
        "ConvTranspose",
    );
    cx.transposed_to_nchw(out, n.outputs[0].clone());
    Ok(())
}
