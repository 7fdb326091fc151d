//! DEPTHWISE_CONV_2D: one input channel per filter, any depth multiplier;
//! int8, int16 (16x8) and float32.
//!
//! Layer: ops; uses the convolution lowering of `ops::conv2d`.

use kiln::arch::{conv2d_scratch_bytes, KernelChoice};
use kiln::graph::Op;
use kiln::kernels::conv2d::ConvGeometry;
use kiln::ops::{Conv2dOp, DepthwiseConv2dF32Op, DepthwiseConv2dOp, DepthwiseConv2dS16Op};

use super::conv2d::{
    forward_geometry, lower_conv_laid_out, lower_conv_s16, output_elements, tflite_attrs,
    ConvDescriptor, FilterLayout,
};
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{Conv2dAttrs, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// DEPTHWISE_CONV_2D. Inputs: data, filter `[1, KH, KW, O]`, optional bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthwiseConv2d(pub Conv2dAttrs);

impl DepthwiseConv2d {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("DEPTHWISE_CONV_2D", |op| {
            Ok(OpKind::DepthwiseConv2d(DepthwiseConv2d(tflite_attrs(
                op,
                [4, 5, 6],
            )?)))
        })],
        // ONNX writes a depthwise convolution as a grouped Conv (`ops::conv2d`).
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for DepthwiseConv2d {
    fn name(&self) -> &'static str {
        "DEPTHWISE_CONV_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Weights { axis: 3 }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let filter = cx.input(node, 1)?;
        let fshape = cx.shape(filter).to_vec();
        let [1, kh, kw, oc] = fshape[..] else {
            return invalid(format!("filter shape {fshape:?} is not [1, KH, KW, O]"));
        };
        let (in_s, out_s) = (cx.nhwc(input)?, cx.nhwc(out)?);
        let in_c = in_s.channels as usize;
        let fits = in_c != 0 && oc % in_c == 0;
        let geometry = forward_geometry(&self.0, (in_s, out_s), &fshape, [kh, kw, 1], oc, fits)?;
        if cx.dtype(input) == DataType::I16 {
            // TFLM's int16 kernel reads its bias as int64 values whatever
            // the type, and crashes without one: only an int64 bias gives
            // outputs to match.
            if node.input(2).is_none_or(|b| cx.dtype(b) != DataType::I64) {
                return unsupported(
                    "int16 DEPTHWISE_CONV_2D without an int64 bias (TFLM reads the bias as int64)",
                );
            }
            let conv = lower_conv_s16(cx, node, geometry, self.0.activation)?;
            return Ok(Some(Op::DepthwiseConv2dS16(DepthwiseConv2dS16Op { conv })));
        }
        let kernel = int8_kernel(cx.graph(), node);
        let layout = if kernel == KernelChoice::Gemm {
            FilterLayout::DepthwiseAsConv
        } else {
            FilterLayout::AsStored
        };
        Ok(Some(
            match lower_conv_laid_out(cx, node, geometry, self.0.activation, layout)? {
                // One input channel: the layer is the convolution whose
                // filters are the depthwise ones, a matrix product.
                ConvDescriptor::S8(conv) if kernel == KernelChoice::Gemm => Op::Conv2d(Conv2dOp {
                    conv,
                    kernel,
                    scratch: cx.scratch()?,
                }),
                ConvDescriptor::S8(conv) => Op::DepthwiseConv2d(DepthwiseConv2dOp { conv, kernel }),
                ConvDescriptor::F32(conv) => Op::DepthwiseConv2dF32(DepthwiseConv2dF32Op { conv }),
            },
        ))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let filter = node.input(1).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        let taps = filter.get(1..3).map_or(0, |s| s.iter().product::<usize>());
        output_elements(g, node) * taps as u64
    }

    fn fused_activation(&mut self) -> Option<&mut crate::ir::Activation> {
        Some(&mut self.0.activation)
    }

    fn scratch_bytes(&self, g: &Graph, node: &Node) -> usize {
        match int8_kernel(g, node) {
            KernelChoice::Gemm => {
                let filter = node.input(1).map_or(&[][..], |t| &g.tensors[t].shape[..]);
                let geometry = ConvGeometry {
                    filter_height: filter.get(1).copied().unwrap_or(0) as u32,
                    filter_width: filter.get(2).copied().unwrap_or(0) as u32,
                    filter_channels: 1,
                    ..ConvGeometry::default()
                };
                conv2d_scratch_bytes(&geometry)
            }
            _ => 0,
        }
    }

    fn int8_kernel(&self, g: &Graph, node: &Node) -> KernelChoice {
        int8_kernel(g, node)
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let blocked = |n: &Node| {
            let op = n.kind.op();
            op.name() == "DEPTHWISE_CONV_2D"
                && op.int8_kernel(g, n) == KernelChoice::DepthwiseBlocked
        };
        match int8_kernel(g, node) {
            KernelChoice::DepthwiseBlocked if crate::stack::few_callers(g, blocked) => {
                crate::stack::SPECIALIZED_CONV
            }
            KernelChoice::DepthwiseBlocked => Stack::new(1004, 944, 984, 756),
            // The layer runs as CONV_2D's matrix product.
            KernelChoice::Gemm => super::conv2d::conv_gemm_stack(g),
            // Measured on the Cortex-M4 only: the others as a small op's.
            KernelChoice::Reference => Stack::new(592, 448, 448, 424),
        }
    }
}

/// The implementation of an int8 DEPTHWISE_CONV_2D: four channels at a time
/// for depth multiplier 1 (MobileNets, DS-CNNs); with a one-channel input
/// (micro_speech's first layer), the matrix product of the convolution it
/// equals; the reference kernel for other multipliers.
fn int8_kernel(g: &Graph, node: &Node) -> KernelChoice {
    let tensor = |i| node.input(i).map(|t| &g.tensors[t]);
    let channels = |t: Option<&crate::ir::Tensor>| t.and_then(|t| t.shape.last().copied());
    let input = tensor(0);
    let output = node.outputs.first().map(|&t| &g.tensors[t]);
    match input {
        Some(x) if x.dtype == DataType::I8 && channels(input) == channels(output) => {
            KernelChoice::DepthwiseBlocked
        }
        Some(x) if x.dtype == DataType::I8 && channels(input) == Some(1) => KernelChoice::Gemm,
        _ => KernelChoice::Reference,
    }
}
