//! TRANSPOSE_CONV (ONNX ConvTranspose): the geometry of the equivalent
//! forward convolution, read backwards by the kernel.
//!
//! Layer: ops; uses the convolution lowering of `ops::conv2d`.

use kiln::graph::Op;
use kiln::ops::{TransposeConv2dF32Op, TransposeConv2dOp};

use super::conv2d::{geometry, lower_conv, ConvDescriptor};
use super::{IrOp, QuantRule};
use crate::ir::{Conv2dAttrs, Graph, Node, Padding};
use crate::lower::{invalid, Lowered, Lowering};

/// TRANSPOSE_CONV. Inputs: data, filter `[O, KH, KW, I / groups]`,
/// optional bias; padding is `Explicit` and only its start is used (the
/// output shape fixes the rest).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransposeConv2d(pub Conv2dAttrs);

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
        if out_s.channels as usize != oc || fc == 0 || in_c % fc != 0 || oc % (in_c / fc) != 0 {
            return invalid(format!(
                "filter {fshape:?} does not fit input {in_s:?} and output {out_s:?}"
            ));
        }
        let geometry = geometry(&self.0, (in_s, out_s), [kh, kw, fc], [pad_top, pad_left])?;
        Ok(Some(match lower_conv(cx, node, geometry, self.0.activation)? {
            ConvDescriptor::S8(conv) => Op::TransposeConv2d(TransposeConv2dOp { conv }),
            ConvDescriptor::F32(conv) => Op::TransposeConv2dF32(TransposeConv2dF32Op { conv }),
        }))
    }

    /// Every input pixel meets every filter tap (taps that land in the
    /// padding are counted too).
    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let shape = |i: usize| node.input(i).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        let (x, f) = (shape(0), shape(1));
        let pixels: usize = x.iter().take(x.len().saturating_sub(1)).product();
        (pixels * f.iter().product::<usize>()) as u64
    }

    fn stack_cortex_m4(&self) -> usize {
        304
    }
}
