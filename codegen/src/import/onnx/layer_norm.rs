//! ONNX's LayerNormalization (opset 17) as the float32 ops it is made of,
//! in the order ONNX's reference defines it: the mean over the normalized
//! axes, the centred values, the mean of their squares, that plus epsilon
//! to the power -0.5 (RSQRT: ONNX's Reciprocal of Sqrt, rounded alike), the
//! product, then the scale and the bias. Quantized, each of those ops runs
//! in int8 where it has an int8 kernel and in float32 otherwise.
//!
//! Layer: import (part of the ONNX importer); uses `context`, `proto`,
//! `ir` and the IR ops of `ops`.

use super::context::{Importer, Step};
use super::proto::OnnxNode;
use crate::ir::{Activation, OpKind, TensorId};
use crate::ops::{push_reduce, Add, Mul, Reduce, Reducer, Sub, Unary};
use kiln::ops::UnaryFunction;

/// Converts a LayerNormalization node: inputs X, Scale and an optional B;
/// attributes `axis` (default -1, the first normalized axis; the rest
/// follow), `epsilon` (default 1e-5) and `stash_type` (1, float32: the
/// only one kiln computes in). Its optional Mean and InvStdDev outputs
/// (for training) are refused.
pub(crate) fn layer_normalization(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("the Mean and InvStdDev outputs (training); export in eval mode".into());
    }
    if n.int("stash_type", 1) != 1 {
        return Err("stash_type other than 1 (kiln computes the statistics in float32)".into());
    }
    let x = cx.value(&n.inputs[0])?;
    let rank = cx.shape(x).len() as i64;
    let axis = n.int("axis", -1);
    let first = usize::try_from(if axis < 0 { axis + rank } else { axis })
        .ok()
        .filter(|&a| (a as i64) < rank)
        .ok_or_else(|| format!("axis {axis} out of range for rank {rank}"))?;
    let axes: Vec<usize> = (first..rank as usize).collect();
    let y = n.outputs[0].clone();
    let step = |what: &str| format!("{y} ({what})");
    // Each op says which step of the layer norm it is, within `kiln
    // inspect`'s column.
    let source = |what: &str| format!("LayerNorm.{what}");
    let epsilon = n.float("epsilon", 1e-5);
    standardize(cx, x, &axes, epsilon, &step, &source)?;
    let plain = Activation::None;
    let (add, mul) = (
        OpKind::Add(Add { activation: plain }),
        OpKind::Mul(Mul { activation: plain }),
    );

    // Scale and bias are initializers or values, broadcast over the
    // normalized axes.
    let (normalized, scale) = cx.binary_operands(&step("normalized"), &n.inputs[1])?;
    match n.inputs.get(2).filter(|b| !b.is_empty()) {
        None => {
            cx.binary(mul, normalized, scale, y, &source("scale"))?;
        }
        Some(bias) => {
            cx.binary(mul, normalized, scale, step("scaled"), &source("scale"))?;
            let (scaled, bias) = cx.binary_operands(&step("scaled"), bias)?;
            cx.binary(add, scaled, bias, y, &source("bias"))?;
        }
    }
    Ok(())
}

/// The ops of a standardization over `axes`, as ONNX's references write
/// LayerNormalization and training-mode BatchNormalization: the mean (kept
/// dimensions), the centred values, their squares, the mean of those, that
/// plus `epsilon` to the power -0.5 (RSQRT: ONNX's Reciprocal of Sqrt,
/// rounded alike), and the product, named `step("normalized")`. Returns
/// the squares (whose mean is the variance), for statistics of the batch.
pub(super) fn standardize(
    cx: &mut Importer,
    x: TensorId,
    axes: &[usize],
    epsilon: f32,
    step: &dyn Fn(&str) -> String,
    source: &dyn Fn(&str) -> String,
) -> Step<TensorId> {
    let mean = Reduce {
        reducer: Reducer::Mean,
        keep_dims: true,
    };
    let plain = Activation::None;
    let mu = push_reduce(cx, mean, x, axes, step("mean"), &source("mean"));
    let sub = OpKind::Sub(Sub { activation: plain });
    let centred = cx.binary(sub, x, mu, step("centred"), &source("centre"))?;
    let squared = cx.new_value(step("squared"), cx.shape(centred));
    let square = OpKind::Unary(Unary(UnaryFunction::Square));
    cx.push(
        square,
        vec![Some(centred)],
        vec![squared],
        &source("square"),
    );
    let variance = push_reduce(
        cx,
        mean,
        squared,
        axes,
        step("variance"),
        &source("variance"),
    );
    let epsilon = cx.f32_constant(step("epsilon"), vec![], &[epsilon]);
    let add = OpKind::Add(Add { activation: plain });
    let shifted = cx.binary(
        add,
        variance,
        epsilon,
        step("variance + epsilon"),
        &source("+eps"),
    )?;
    let inverse = cx.new_value(step("inverse deviation"), cx.shape(shifted));
    let rsqrt = OpKind::Unary(Unary(UnaryFunction::Rsqrt));
    cx.push(rsqrt, vec![Some(shifted)], vec![inverse], &source("rsqrt"));
    let mul = OpKind::Mul(Mul { activation: plain });
    cx.binary(mul, centred, inverse, step("normalized"), &source("norm"))?;
    Ok(squared)
}
