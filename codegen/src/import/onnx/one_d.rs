//! One spatial axis: ONNX Conv, ConvTranspose, MaxPool and AveragePool on a
//! rank-3 `[N, C, W]` value (PyTorch's `Conv1d`, `MaxPool1d`, ...) run as
//! their 2-D forms over a height of one. The node's attributes and weights
//! gain that height (a kernel of one, no padding), the input is shown to
//! the 2-D converter as `[N, C, 1, W]`, and its output loses it again.
//!
//! The layout changes are chosen so that nothing is copied in a chain of
//! 1-D layers: the input goes `[N, C, W]` to `[N, W, C]` (a TRANSPOSE) to
//! `[N, 1, W, C]` (a RESHAPE, free), which is the 2-D converter's NHWC; the
//! 4-D transposes between (to NCHW for the converter, which turns it back
//! to NHWC) cancel, and so do the rank-3 ones between two 1-D layers once
//! the `nchw_to_nhwc` pass has moved them together.
//!
//! Layer: import (part of the ONNX importer); uses `context`, `proto` and
//! the op kinds of `ops`.

use super::context::{Importer, Step, TO_NCHW, TO_NHWC};
use super::proto::{OnnxNode, OnnxTensor};
use crate::ir::TensorId;

/// The ops over spatial windows that take a rank-3 input this way.
pub(super) const WINDOW_OPS: [&str; 4] = ["Conv", "ConvTranspose", "MaxPool", "AveragePool"];

/// `NWC` dimension `d` is `NCW` dimension `SWAP_LAST_TWO[d]`, and back.
const SWAP_LAST_TWO: [usize; 3] = [0, 2, 1];

/// Converts `n`, a window op over the rank-3 value its first input is, with
/// `convert`, the op's 2-D converter.
pub(super) fn convert_lifted(
    imp: &mut Importer,
    n: &OnnxNode,
    x: TensorId,
    convert: fn(&mut Importer, &OnnxNode) -> Step<()>,
) -> Step<()> {
    let lifted = lift(imp, n)?;
    // [N, C, W] -> [N, W, C] -> [N, 1, W, C] (NHWC) -> [N, C, 1, W] (NCHW).
    let s = imp.shape(x);
    let nwc = imp.relayout(
        x,
        &SWAP_LAST_TWO,
        format!("{} (NWC)", lifted.inputs[0]),
        "1-D",
    );
    let nhwc = imp.reshaped(
        nwc,
        vec![s[0], 1, s[2], s[1]],
        format!("{} (NHWC)", lifted.inputs[0]),
    );
    let nchw = imp.relayout(nhwc, &TO_NCHW, lifted.inputs[0].clone(), "1-D");
    imp.values.insert(lifted.inputs[0].clone(), nchw);
    convert(imp, &lifted)?;
    // [N, M, 1, W'] -> [N, 1, W', M] -> [N, W', M] -> [N, M, W'].
    let y = imp.value(&lifted.outputs[0])?;
    let s = imp.shape(y);
    if s.len() != 4 || s[2] != 1 {
        return Err(format!(
            "the 2-D form's output has shape {s:?}, not [N, M, 1, W]"
        ));
    }
    let nhwc = imp.relayout(y, &TO_NHWC, format!("{} (NHWC)", lifted.outputs[0]), "1-D");
    let nwc = imp.reshaped(
        nhwc,
        vec![s[0], s[3], s[1]],
        format!("{} (NWC)", n.outputs[0]),
    );
    let out = imp.relayout(nwc, &SWAP_LAST_TWO, n.outputs[0].clone(), "1-D");
    imp.values.insert(n.outputs[0].clone(), out);
    Ok(())
}

/// `n` with a height of one: attributes over one axis gain a leading one
/// (or zero padding), the weights `[O, I, K]` become `[O, I, 1, K]` (the
/// same values), and the first input and output are renamed for the 2-D
/// values.
fn lift(imp: &mut Importer, n: &OnnxNode) -> Step<OnnxNode> {
    let mut lifted = n.clone();
    for (name, height) in [
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("output_padding", 0),
        ("output_shape", 1),
    ] {
        if let Some(a) = lifted.attributes.get_mut(name) {
            // Some exporters write output_shape with N and C; keep its width.
            if name == "output_shape" && a.ints.len() == 3 {
                a.ints.drain(..2);
            }
            if a.ints.len() != 1 {
                return Err(format!(
                    "{name} {:?} (a 1-D {} takes one value)",
                    a.ints, n.op_type
                ));
            }
            a.ints.insert(0, height);
        }
    }
    if let Some(a) = lifted.attributes.get_mut("pads") {
        let &[begin, end] = a.ints.as_slice() else {
            return Err(format!("pads {:?} (a 1-D {} takes two)", a.ints, n.op_type));
        };
        a.ints = vec![0, begin, 0, end];
    }
    if matches!(n.op_type.as_str(), "Conv" | "ConvTranspose") {
        let w = imp.constant(&n.inputs[1])?.clone();
        if w.dims.len() != 3 {
            return Err(format!(
                "weights of shape {:?} (a 1-D {} takes [O, I, K])",
                w.dims, n.op_type
            ));
        }
        let name = format!("{} (2-D)", w.name);
        let mut dims = w.dims.clone();
        dims.insert(2, 1);
        imp.constants.insert(
            name.clone(),
            OnnxTensor {
                name: name.clone(),
                dims,
                ..w
            },
        );
        lifted.inputs[1] = name;
    }
    lifted.inputs[0] = format!("{} (2-D)", n.inputs[0]);
    lifted.outputs[0] = format!("{} (2-D)", n.outputs[0]);
    Ok(lifted)
}
