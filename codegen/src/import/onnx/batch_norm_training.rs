//! ONNX's BatchNormalization in training mode (opset 14 and later) as the
//! float32 ops it is made of, as ONNX's reference defines it: the batch's
//! mean and (population) variance per channel, over every axis but the
//! channels (1); the input normalized by those, scaled and shifted; and,
//! where the model asks for them, the running mean and variance updated
//! with `momentum`. A model exported from PyTorch in train mode has it; its
//! outputs then depend on the whole batch, as the file says.
//!
//! Layer: import (part of the ONNX importer); uses `context`, `proto`,
//! `ir` and the IR ops of `ops`.

use super::context::{Importer, Step};
use super::layer_norm::standardize;
use super::proto::OnnxNode;
use crate::ir::{Activation, OpKind};
use crate::ops::{push_reduce, Add, Mul, Reduce, Reducer};

/// Converts a training-mode BatchNormalization: inputs X, scale, B,
/// input_mean and input_var (constants, one value per channel); outputs Y
/// and the optional running_mean and running_var.
pub(crate) fn batch_norm_training(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    if n.outputs.len() > 3 {
        return Err("BatchNormalization with saved statistics (before opset 14)".into());
    }
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x).to_vec();
    if shape.len() < 2 {
        return Err(format!("batch norm of a rank-{} input", shape.len()));
    }
    let channels = shape[1];
    let params = crate::ops::batch_norm_parameters(cx, n)?;
    if params[0].len() != channels {
        return Err(format!(
            "{} batch-norm channels for an input of shape {shape:?}",
            params[0].len()
        ));
    }
    let axes: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
    // Per-channel constants broadcast over the axes after the channels.
    let per_channel: Vec<usize> = [vec![channels], vec![1; shape.len() - 2]].concat();
    let y = n.outputs[0].clone();
    let step = |what: &str| format!("{y} ({what})");
    let source = |what: &str| format!("BatchNormalization.{what}");
    let plain = Activation::None;
    let (add, mul) = (
        OpKind::Add(Add { activation: plain }),
        OpKind::Mul(Mul { activation: plain }),
    );
    // The batch's statistics per channel, for the running ones.
    let flat_mean = Reduce {
        reducer: Reducer::Mean,
        keep_dims: false,
    };

    let epsilon = n.float("epsilon", 1e-5);
    let squared = standardize(cx, x, &axes, epsilon, &step, &source)?;
    let normalized = cx.value(&step("normalized"))?;
    let scale = cx.f32_constant(step("scale"), per_channel.clone(), &params[0]);
    let scaled = cx.binary(
        mul.clone(),
        normalized,
        scale,
        step("scaled"),
        &source("scale"),
    )?;
    let bias = cx.f32_constant(step("bias"), per_channel, &params[1]);
    cx.binary(add.clone(), scaled, bias, y.clone(), &source("bias"))?;

    // running = input * momentum + batch statistic * (1 - momentum).
    let momentum = n.float("momentum", 0.9);
    // (output, the batch statistic's mean is of, input parameter)
    let running = [(1, x, 2), (2, squared, 3)];
    for (output, of, input) in running {
        let Some(name) = n.outputs.get(output).filter(|o| !o.is_empty()).cloned() else {
            continue;
        };
        let what = |w: &str| format!("{name} ({w})");
        let batch = push_reduce(cx, flat_mean, of, &axes, what("batch"), &source("mean"));
        let weight = cx.f32_constant(what("1 - momentum"), vec![], &[1.0 - momentum]);
        let weighted = cx.binary(
            mul.clone(),
            batch,
            weight,
            what("weighted"),
            &source("update"),
        )?;
        let kept: Vec<f32> = params[input].iter().map(|v| v * momentum).collect();
        let kept = cx.f32_constant(what("kept"), vec![channels], &kept);
        cx.binary(add.clone(), kept, weighted, name, &source("update"))?;
    }
    Ok(())
}
