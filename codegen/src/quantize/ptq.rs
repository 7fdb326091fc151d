//! Post-training quantization: a float32 graph and its calibrated ranges
//! become the int8 graph an int8 TFLite model would be, following the TFLite
//! int8 spec: weights symmetric per output channel, activations asymmetric
//! per tensor, int32 biases at input scale times weight scale, fixed output
//! parameters for SOFTMAX/LOGISTIC/TANH, shared parameters where TFLM
//! requires them (pooling, reshape, pad, concatenation), and float32 model
//! inputs and outputs through QUANTIZE and DEQUANTIZE.
//!
//! An op with no int8 kernel stays float32 between DEQUANTIZE and QUANTIZE
//! (as TFLite runs such ops), consecutive float ops without a round trip.
//!
//! A pre-quantized model brings its own parameters (float32 tensors with a
//! `quantization`, see `ir::Tensor`): they win over calibrated ranges, and
//! its weights keep their integers where they fit the spec. With a
//! parameter for every activation no calibration is needed.
//!
//! Layer: quantize; uses `ir` and `observer`.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::ir::{DataType, Graph, Node, OpKind, Quantization, Tensor, TensorId};
use crate::ops::{Dequantize, QuantRule, Quantize};
use crate::quantize::calibrate::Calibration;
use crate::quantize::observer::{asymmetric_params, ObserverKind};

fn per_tensor(scale: f32, zero_point: i64) -> Option<Quantization> {
    Some(Quantization {
        scale: vec![scale],
        zero_point: vec![zero_point],
        axis: 0,
    })
}

/// Symmetric per-channel int8 weights along `axis`: returns the data and
/// the quantization. The model's own scales (a QDQ model's dequantized
/// weights) are kept when every value is one of their int8 steps; otherwise
/// (a batch norm folded into the weights since) each channel's largest
/// magnitude maps to 127.
fn quantize_weights(t: &Tensor, axis: usize) -> (Vec<u8>, Quantization) {
    let values = t.data_f32();
    let channels = t.shape[axis];
    let inner: usize = t.shape[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let scales = match model_weight_scales(t, &values, channels, channel_of) {
        Some(scales) => scales,
        None => {
            let mut max_abs = vec![0f32; channels];
            for (i, &v) in values.iter().enumerate() {
                max_abs[channel_of(i)] = max_abs[channel_of(i)].max(v.abs());
            }
            max_abs
                .iter()
                .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
                .collect()
        }
    };
    let data = values
        .iter()
        .enumerate()
        .map(|(i, &v)| ((v / scales[channel_of(i)]).round().clamp(-127.0, 127.0) as i8) as u8)
        .collect();
    (
        data,
        Quantization {
            scale: scales,
            zero_point: vec![0; channels],
            axis,
        },
    )
}

/// The model's per-channel weight scales (one per channel, or one for all),
/// if it has them, they are symmetric, and every value is an int8 step of
/// its channel's scale within [-127, 127].
fn model_weight_scales(
    t: &Tensor,
    values: &[f32],
    channels: usize,
    channel_of: impl Fn(usize) -> usize,
) -> Option<Vec<f32>> {
    let q = t.quantization.as_ref()?;
    if q.zero_point.iter().any(|&z| z != 0) {
        return None;
    }
    let scales = match q.scale.len() {
        1 => vec![q.scale[0]; channels],
        n if n == channels => q.scale.clone(),
        _ => return None,
    };
    let on_grid = values.iter().enumerate().all(|(i, &v)| {
        let steps = v / scales[channel_of(i)];
        (steps - steps.round()).abs() < 1e-3 && steps.abs() <= 127.0 + 1e-3
    });
    on_grid.then_some(scales)
}

/// An elementwise op's constant operand as int8: with the model's own
/// per-tensor parameters when every value is one of their steps (a QDQ
/// model's dequantized constant), else asymmetric over its values' range.
fn quantize_constant(t: &mut Tensor) {
    let values = t.data_f32();
    let model = t
        .quantization
        .as_ref()
        .filter(|q| q.scale.len() == 1 && q.zero_point.len() == 1)
        .map(|q| (q.scale0(), i64::from(q.zero_point0())))
        .filter(|&(scale, zero_point)| {
            values.iter().all(|&v| {
                let q = v / scale + zero_point as f32;
                (q - q.round()).abs() < 1e-3 && (-128.0..=127.0).contains(&q.round())
            })
        });
    let (scale, zero_point) = model.unwrap_or_else(|| {
        let lo = values.iter().copied().fold(0f32, f32::min);
        let hi = values.iter().copied().fold(0f32, f32::max);
        // All zeros: any scale represents them.
        asymmetric_params(lo, if hi == lo { lo + 1.0 } else { hi })
    });
    quantize_with(t, scale, zero_point);
}

/// A float32 constant as int8 with the given per-tensor parameters.
fn quantize_with(t: &mut Tensor, scale: f32, zero_point: i64) {
    let values = t.data_f32();
    t.data = Some(
        values
            .iter()
            .map(|&v| ((v / scale).round() + zero_point as f32).clamp(-128.0, 127.0) as i8 as u8)
            .collect(),
    );
    t.dtype = DataType::I8;
    t.quantization = per_tensor(scale, zero_point);
}

/// The interval a tensor's int8 parameters cover.
fn represented_interval(q: &Quantization) -> (f32, f32) {
    let (scale, zero_point) = (q.scale0(), q.zero_point0() as f32);
    ((-128.0 - zero_point) * scale, (127.0 - zero_point) * scale)
}

/// The values that must share one interval, with the ops that require it.
struct SharedGroup {
    ops: Vec<usize>,
    members: Vec<TensorId>,
}

impl SharedGroup {
    fn contains(&self, op: &usize) -> bool {
        self.ops.contains(op)
    }
}

/// The float32 values of each `SharedInterval` op (CONCATENATION, the
/// comparisons, SELECT_V2) that must share one interval: its inputs and
/// output, and an input's chain back through ops that keep their input's
/// parameters (a reshape shares the very bytes). Groups that share a value
/// are one group (a CONCATENATION of a CONCATENATION; two SELECT_V2 of one
/// constant), or the second op would give the shared value parameters the
/// first does not have.
/// SELECT_V2's bool condition is no member.
fn shared_groups(g: &Graph) -> Vec<SharedGroup> {
    let mut groups: Vec<SharedGroup> = Vec::new();
    for (index, node) in g.nodes.iter().enumerate() {
        if node.kind.op().quantization(node) != QuantRule::SharedInterval {
            continue;
        }
        let mut members: Vec<TensorId> = node
            .inputs
            .iter()
            .flatten()
            .copied()
            .chain(node.outputs.first().copied())
            .filter(|&t| g.tensors[t].dtype == DataType::F32)
            .collect();
        let mut i = 0;
        while i < members.len() {
            let producer = g.nodes.iter().find(|n| n.outputs.contains(&members[i]));
            if let Some(p) = producer.filter(|p| keeps_parameters(p)) {
                if let Some(src) = p.input(0).filter(|t| !members.contains(t)) {
                    members.push(src);
                }
            }
            i += 1;
        }
        let mut group = SharedGroup {
            ops: vec![index],
            members,
        };
        // Absorb every earlier group that shares a value with this one (a
        // constant too: it is quantized once, with one group's parameters).
        let (joined, apart): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .partition(|other| other.members.iter().any(|t| group.members.contains(t)));
        for other in joined {
            group.ops.extend(other.ops);
            for t in other.members {
                if !group.members.contains(&t) {
                    group.members.push(t);
                }
            }
        }
        groups = apart;
        groups.push(group);
    }
    groups
}

/// Whether the op's int8 output has its input's parameters (in TFLM).
fn keeps_parameters(node: &Node) -> bool {
    node.kind.op().quantization(node) == QuantRule::KeepsInputParameters
}

/// Quantizes `float` with the model's own parameters where it has them and
/// the calibrated intervals elsewhere; without `calibration` every
/// activation must have the model's.
pub fn quantize(
    float: &Graph,
    calibration: Option<&Calibration>,
    kind: ObserverKind,
) -> Result<Graph> {
    let mut g = float.clone();
    let invalid = |detail: String| Error::Invalid {
        path: float.source.clone(),
        detail,
    };
    let activation = |t: &Tensor| t.dtype == DataType::F32 && !t.is_constant();

    // The model's parameters reach back through ops that keep them (a
    // QDQ model quantizes after the input's transpose or flatten).
    for node in g.nodes.clone().iter().rev() {
        if let (true, Some(i), Some(&o)) =
            (keeps_parameters(node), node.input(0), node.outputs.first())
        {
            if activation(&g.tensors[i]) && g.tensors[i].quantization.is_none() {
                g.tensors[i].quantization = g.tensors[o].quantization.clone();
            }
        }
    }
    let model_params: Vec<Option<Quantization>> = g
        .tensors
        .iter()
        .map(|t| t.quantization.clone().filter(|_| activation(t)))
        .collect();
    // Activations: per-tensor parameters from the model or the observed interval.
    let observed = |t: TensorId| {
        calibration
            .and_then(|c| c.observers.get(t))
            .and_then(Option::as_ref)
            .map(|o| o.interval(kind))
    };
    for (t, tensor) in g.tensors.iter_mut().enumerate() {
        if !activation(tensor) || tensor.quantization.is_some() {
            continue;
        }
        if let Some((lo, hi)) = observed(t) {
            let (scale, zero_point) = asymmetric_params(lo, hi);
            tensor.quantization = per_tensor(scale, zero_point);
        }
    }
    let nodes = g.nodes.clone();
    let shared = shared_groups(&g);
    let mut shared_filters: HashMap<TensorId, (Vec<u8>, Quantization)> = HashMap::new();
    let mut float_biases: HashMap<TensorId, Vec<f32>> = HashMap::new();
    // Ops kiln has no int8 kernel for: they stay float32 (see `keep_float`).
    let mut float_ops = vec![false; nodes.len()];
    for (index, node) in nodes.iter().enumerate() {
        let out = node.outputs.first().copied();
        let input = node.input(0);
        let quant_of =
            |g: &Graph, t: Option<TensorId>| t.and_then(|t| g.tensors[t].quantization.clone());
        match node.kind.op().quantization(node) {
            QuantRule::Weights { axis } => {
                let filter = node
                    .input(1)
                    .ok_or_else(|| invalid(format!("op #{index} has no filter")))?;
                // Layers may share a filter (each pass of an unrolled
                // loop): quantized once, from its values alone.
                let (data, q) = match shared_filters.get(&filter) {
                    Some(done) if done.1.axis == axis => done.clone(),
                    Some(_) => {
                        return Err(invalid(format!(
                            "op #{index}: a filter shared with a layer that quantizes it \
                             along another axis"
                        )))
                    }
                    None => {
                        let f = &g.tensors[filter];
                        if f.dtype != DataType::F32 || !f.is_constant() {
                            return Err(invalid(format!(
                                "op #{index}: filter must be a float32 constant"
                            )));
                        }
                        let done = quantize_weights(f, axis);
                        shared_filters.insert(filter, done.clone());
                        done
                    }
                };
                let input_scale = quant_of(&g, input)
                    .map(|q| q.scale[0])
                    .ok_or_else(|| invalid(format!("op #{index}: input not calibrated")))?;
                if let Some(mut bias) = node.input(2) {
                    // A shared bias takes each layer's input scale: the
                    // second layer and later get a copy of their own.
                    let values = match float_biases.get(&bias) {
                        Some(values) => {
                            let copy = Tensor {
                                name: format!("{} (op #{index})", g.tensors[bias].name),
                                ..g.tensors[bias].clone()
                            };
                            bias = g.tensors.len();
                            g.tensors.push(copy);
                            g.nodes[index].inputs[2] = Some(bias);
                            values.clone()
                        }
                        None => {
                            let values = g.tensors[bias].data_f32();
                            float_biases.insert(bias, values.clone());
                            values
                        }
                    };
                    let scales: Vec<f32> = q.scale.iter().map(|&s| input_scale * s).collect();
                    let data: Vec<u8> = values
                        .iter()
                        .enumerate()
                        .flat_map(|(c, &b)| {
                            ((f64::from(b) / f64::from(scales[c]))
                                .round()
                                .clamp(i32::MIN.into(), i32::MAX.into())
                                as i32)
                                .to_le_bytes()
                        })
                        .collect();
                    let bt = &mut g.tensors[bias];
                    bt.dtype = DataType::I32;
                    bt.data = Some(data);
                    bt.quantization = Some(Quantization {
                        zero_point: vec![0; scales.len()],
                        scale: scales,
                        axis: 0,
                    });
                }
                let ft = &mut g.tensors[filter];
                ft.dtype = DataType::I8;
                ft.data = Some(data);
                ft.quantization = Some(q);
            }
            QuantRule::FixedOutput { scale, zero_point } => {
                if let Some(o) = out {
                    g.tensors[o].quantization = per_tensor(scale, zero_point);
                }
            }
            // TFLM runs these with the input's parameters on the output
            // (CLIP is kiln's: a clamp of the input's bytes).
            QuantRule::KeepsInputParameters => {
                if let (Some(o), Some(q)) = (out, quant_of(&g, input)) {
                    g.tensors[o].quantization = Some(q);
                }
            }
            QuantRule::SharedInterval => {
                // The group this op's values belong to (`shared_groups`):
                // computed from the float graph, so each op of a group
                // assigns the same parameters.
                let Some(members) = shared
                    .iter()
                    .find(|group| group.contains(&index))
                    .map(|group| group.members.clone())
                else {
                    continue;
                };
                let (mut lo, mut hi) = (0f32, 0f32);
                for &t in &members {
                    // From the float graph: an earlier op of the group may
                    // have quantized a constant member already.
                    let interval = match &model_params[t] {
                        Some(q) => Some(represented_interval(q)),
                        None if float.tensors[t].is_constant() => {
                            let values = float.tensors[t].data_f32();
                            let lo = values.iter().copied().fold(0f32, f32::min);
                            Some((lo, values.iter().copied().fold(0f32, f32::max)))
                        }
                        None => observed(t),
                    };
                    if let Some((l, h)) = interval {
                        lo = lo.min(l);
                        hi = hi.max(h);
                    }
                }
                // An op with fixed output parameters (a softmax) pins the
                // group to them where every member's interval fits.
                let pinned = members.iter().find_map(|t| {
                    let p = nodes.iter().find(|n| n.outputs.contains(t))?;
                    match p.kind.op().quantization(p) {
                        QuantRule::FixedOutput { scale, zero_point } => Some((scale, zero_point)),
                        _ => None,
                    }
                });
                let fits = |(scale, zero_point): (f32, i64)| {
                    let (l, h) = (
                        (-128 - zero_point) as f32 * scale,
                        (127 - zero_point) as f32 * scale,
                    );
                    l <= lo && hi <= h + scale
                };
                let (scale, zero_point) = match pinned {
                    Some(fixed) if fits(fixed) => fixed,
                    _ => asymmetric_params(lo, hi),
                };
                for t in members {
                    if g.tensors[t].is_constant() {
                        // A constant operand (SELECT_V2's, MAXIMUM's) is
                        // quantized with the values' parameters (once:
                        // every op of its group assigns the same).
                        if g.tensors[t].dtype == DataType::F32 {
                            quantize_with(&mut g.tensors[t], scale, zero_point);
                        }
                    } else {
                        g.tensors[t].quantization = per_tensor(scale, zero_point);
                    }
                }
            }
            QuantRule::ConstantOperands => {
                // A constant operand (an ONNX initializer, a batch norm with
                // nothing to fold into) is quantized per tensor, as TFLite's
                // converter does.
                for &t in node.inputs.iter().flatten() {
                    if g.tensors[t].dtype == DataType::F32 && g.tensors[t].is_constant() {
                        quantize_constant(&mut g.tensors[t]);
                    }
                }
            }
            QuantRule::Calibrated => {}
            QuantRule::Float => float_ops[index] = true,
            QuantRule::QuantizedOnly => {
                return Err(invalid(format!(
                    "op #{index} {}: the model is already quantized",
                    node.source_name
                )));
            }
        }
    }

    // Every activation is int8 now, or stays float32 between float ops, or
    // the model left one out.
    let stays_float = float_only_tensors(&g, &float_ops);
    let mut used = vec![false; g.tensors.len()];
    for node in &g.nodes {
        for &t in node.inputs.iter().flatten().chain(&node.outputs) {
            used[t] = true;
        }
    }
    for &t in g.inputs.iter().chain(&g.outputs) {
        used[t] = true;
    }
    let mut missing = Vec::new();
    for (t, tensor) in g.tensors.iter_mut().enumerate() {
        // Unused tensors (left behind by import passes) stay as they are.
        if !activation(tensor) || !used[t] {
            continue;
        }
        if stays_float[t] {
            tensor.quantization = None;
            continue;
        }
        match tensor.quantization {
            Some(_) => tensor.dtype = DataType::I8,
            None => missing.push(format!("'{}'", tensor.name)),
        }
    }
    if !missing.is_empty() {
        return Err(invalid(format!(
            "the model gives no quantization parameters for {} (no QuantizeLinear \
             after it); calibrate the rest with --calibrate DATA.npy",
            missing.join(", ")
        )));
    }

    keep_float(&mut g, &float_ops);

    // Float interface: QUANTIZE after each input, DEQUANTIZE before each
    // output; plain integer and bool ones (ArgMax's indices) stay as they are.
    let real = |g: &Graph, t: usize| matches!(g.tensors[t].dtype, DataType::F32 | DataType::I8);
    let mut prologue = Vec::new();
    for i in 0..g.inputs.len() {
        let original = g.inputs[i];
        if !real(&g, original) {
            continue;
        }
        g.inputs[i] = float_twin(&mut g, original, "float");
        prologue.push(conversion(
            OpKind::Quantize(Quantize),
            g.inputs[i],
            original,
        ));
    }
    for i in 0..g.outputs.len() {
        let original = g.outputs[i];
        if !real(&g, original) {
            continue;
        }
        g.outputs[i] = float_twin(&mut g, original, "float");
        g.nodes.push(conversion(
            OpKind::Dequantize(Dequantize),
            original,
            g.outputs[i],
        ));
    }
    prologue.append(&mut g.nodes);
    g.nodes = prologue;
    Ok(g)
}

/// The ops of a quantized graph that run in float32 (no int8 kernel), by
/// name with their count, in order of first appearance.
pub fn float_ops(g: &Graph) -> Vec<(&'static str, usize)> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for node in &g.nodes {
        let float = node
            .outputs
            .first()
            .is_some_and(|&o| g.tensors[o].dtype == DataType::F32);
        if float && !matches!(node.kind, OpKind::Dequantize(_)) {
            match counts
                .iter_mut()
                .find(|(name, _)| *name == node.kind.name())
            {
                Some((_, n)) => *n += 1,
                None => counts.push((node.kind.name(), 1)),
            }
        }
    }
    counts
}

/// Tensors that only float ops touch: made by one (or a variable, the
/// state of a float SVDF or LSTM) and read only by them (and not a model
/// output), so they need no int8 round trip.
fn float_only_tensors(g: &Graph, float_ops: &[bool]) -> Vec<bool> {
    let mut only_float = vec![false; g.tensors.len()];
    for &v in &g.variables {
        only_float[v] = true;
    }
    for (i, node) in g.nodes.iter().enumerate() {
        for &o in &node.outputs {
            only_float[o] = float_ops[i];
        }
    }
    for (i, node) in g.nodes.iter().enumerate() {
        for &t in node.inputs.iter().flatten() {
            only_float[t] &= float_ops[i];
        }
    }
    for &o in &g.outputs {
        only_float[o] = false;
    }
    only_float
}

/// A float32 copy of tensor `t` (its name marked with `what`), appended.
fn float_twin(g: &mut Graph, t: TensorId, what: &str) -> TensorId {
    let mut twin = g.tensors[t].clone();
    twin.dtype = DataType::F32;
    twin.quantization = None;
    twin.name = format!("{} ({what})", twin.name);
    g.tensors.push(twin);
    g.tensors.len() - 1
}

/// A QUANTIZE or DEQUANTIZE node from `from` to `to`.
fn conversion(kind: OpKind, from: TensorId, to: TensorId) -> Node {
    Node {
        source_name: kind.name().into(),
        kind,
        inputs: vec![Some(from)],
        outputs: vec![to],
    }
}

/// Runs the ops marked in `float_ops` in float32, as TFLite does for an op
/// with no int8 kernel: DEQUANTIZE before each int8 input, QUANTIZE after
/// each output that int8 ops read. Their constants stay float32.
fn keep_float(g: &mut Graph, float_ops: &[bool]) {
    let mut nodes = Vec::with_capacity(g.nodes.len());
    for (index, mut node) in std::mem::take(&mut g.nodes).into_iter().enumerate() {
        if !float_ops[index] {
            nodes.push(node);
            continue;
        }
        for input in node.inputs.iter_mut().flatten() {
            if g.tensors[*input].dtype == DataType::I8 && !g.tensors[*input].is_constant() {
                let float = float_twin(g, *input, "dequantized");
                nodes.push(conversion(OpKind::Dequantize(Dequantize), *input, float));
                *input = float;
            }
        }
        let mut after = Vec::new();
        for out in node.outputs.iter_mut() {
            if g.tensors[*out].dtype == DataType::I8 {
                let float = float_twin(g, *out, "float32");
                after.push(conversion(OpKind::Quantize(Quantize), float, *out));
                *out = float;
            }
        }
        nodes.push(node);
        nodes.append(&mut after);
    }
    g.nodes = nodes;
}
