//! What `kiln inspect` shows: per-op table (shapes, types, quantization,
//! params, MACs) and totals (MACs, planned arena against the sum of all
//! activation tensors, flash for weights), as text or JSON.
//!
//! Layer: report; uses `ir`, `plan` and `lower`.

use serde_json::{json, Value};

use crate::ir::{Graph, OpKind, Tensor};
use crate::lower::CompiledModel;
use crate::plan::{self, ArenaPlan};

/// Multiply-accumulates of one node (convolutions and fully connected layers;
/// other ops count zero, as is customary).
pub fn macs(g: &Graph, node: &crate::ir::Node) -> u64 {
    let shape = |i: usize| {
        node.input(i)
            .map(|t| g.tensors[t].shape.clone())
            .unwrap_or_default()
    };
    let out_elements = node.outputs.first().map_or(0, |&t| g.tensors[t].elements()) as u64;
    match &node.kind {
        OpKind::Conv2d(_) => {
            let f = shape(1);
            out_elements * f.iter().skip(1).product::<usize>() as u64
        }
        OpKind::TransposeConv2d(_) => {
            // Every input pixel meets every filter tap (taps that land in the
            // padding are counted too).
            let (x, f) = (shape(0), shape(1));
            let pixels: usize = x.iter().take(x.len().saturating_sub(1)).product();
            (pixels * f.iter().product::<usize>()) as u64
        }
        OpKind::DepthwiseConv2d(_) => {
            let f = shape(1);
            out_elements * f.get(1..3).map_or(0, |s| s.iter().product::<usize>()) as u64
        }
        OpKind::FullyConnected { .. } => {
            out_elements * shape(1).get(1).copied().unwrap_or(0) as u64
        }
        _ => 0,
    }
}

/// Stack an inference needs on a Cortex-M4 (thumbv7em, opt-level 3 with LTO,
/// as `targets/cortex-m4` builds): the deepest kernel's frame plus the call
/// chain above it. Op `run`s are never inlined, so each kernel's frame is the
/// same in every model; these figures are the frames measured by stack
/// painting on the emulated M4, rounded up to 8 bytes. `tests/firmware.rs`
/// checks arena + this estimate against every model's measurement.
pub fn stack_estimate_cortex_m4(g: &Graph) -> usize {
    g.nodes
        .iter()
        .map(|n| match n.kind {
            OpKind::Conv2d(_)
            | OpKind::DepthwiseConv2d(_)
            | OpKind::AveragePool2d(_)
            | OpKind::MaxPool2d(_) => 448,
            OpKind::TransposeConv2d(_) => 304,
            OpKind::Sub { .. } => 288,
            OpKind::Add { .. } => 208,
            OpKind::Reshape => 0,
            _ => 192,
        })
        .max()
        .unwrap_or(0)
}

fn tensor_json(t: &Tensor, id: usize, plan: &ArenaPlan) -> Value {
    json!({
        "id": id,
        "name": t.name,
        "shape": t.shape,
        "dtype": t.dtype.name(),
        "bytes": t.bytes(),
        "constant": t.is_constant(),
        "arena_offset": plan.offset(id),
        "scale": t.quantization.as_ref().map(|q| if q.scale.len() == 1 { json!(q.scale[0]) } else { json!(format!("{} per-channel scales", q.scale.len())) }),
        "zero_point": t.quantization.as_ref().map(|q| q.zero_point0()),
    })
}

fn attrs(kind: &OpKind) -> String {
    let pad = |p: crate::ir::Padding| format!("{p:?}").to_uppercase();
    match kind {
        OpKind::Conv2d(a) | OpKind::DepthwiseConv2d(a) | OpKind::TransposeConv2d(a) => {
            format!(
                "stride {}x{} dilation {}x{} {} {:?}",
                a.stride[0],
                a.stride[1],
                a.dilation[0],
                a.dilation[1],
                pad(a.padding),
                a.activation
            )
        }
        OpKind::AveragePool2d(a) | OpKind::MaxPool2d(a) => {
            format!(
                "filter {}x{} stride {}x{} {} {:?}",
                a.filter[0],
                a.filter[1],
                a.stride[0],
                a.stride[1],
                pad(a.padding),
                a.activation
            )
        }
        OpKind::FullyConnected { activation, .. }
        | OpKind::Add { activation }
        | OpKind::Sub { activation }
        | OpKind::Mul { activation } => format!("{activation:?}"),
        OpKind::Softmax { beta } => format!("beta {beta}"),
        OpKind::Concatenation { axis, activation } => format!("axis {axis} {activation:?}"),
        OpKind::Mean { keep_dims } => format!("keep_dims {keep_dims}"),
        OpKind::Slice { begin, step } => format!("begin {begin:?} step {step:?}"),
        OpKind::LeakyRelu { alpha } => format!("alpha {alpha}"),
        OpKind::HardSigmoid { alpha, beta } => format!("alpha {alpha} beta {beta}"),
        OpKind::Transpose { perm } => format!("perm {perm:?}"),
        _ => String::new(),
    }
}

/// The report as JSON; `compiled` adds the requantization params of each op
/// and the compiled flash size, `problems` why the model cannot be compiled.
pub fn inspect_json(
    g: &Graph,
    compiled: Option<&CompiledModel>,
    problems: Option<String>,
) -> Value {
    let owned_plan;
    let plan = match compiled {
        Some(m) => &m.plan,
        None => {
            owned_plan = plan::plan(g);
            &owned_plan
        }
    };
    let mut total_macs = 0u64;
    let ops: Vec<Value> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let m = macs(g, node);
            total_macs += m;
            let params = compiled.and_then(|c| c.op_nodes.iter().position(|&n| n == i).map(|k| format!("{:?}", c.ops[k])));
            json!({
                "index": i,
                "op": node.source_name,
                "attributes": attrs(&node.kind),
                "inputs": node.inputs.iter().flatten().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
                "outputs": node.outputs.iter().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
                "macs": m,
                "params": params,
            })
        })
        .collect();
    let weight_bytes: usize = g
        .tensors
        .iter()
        .filter(|t| t.is_constant())
        .map(Tensor::bytes)
        .sum();
    json!({
        "model": g.source.display().to_string(),
        "ops": ops,
        "op_count": g.nodes.len(),
        "inputs": g.inputs.iter().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
        "outputs": g.outputs.iter().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
        "macs": total_macs,
        "arena_bytes": plan.arena_bytes,
        "unshared_activation_bytes": plan.unshared_bytes,
        "weight_bytes": weight_bytes,
        "stack_bytes_estimate": stack_estimate_cortex_m4(g),
        "ram_bytes_estimate": plan.arena_bytes + stack_estimate_cortex_m4(g),
        "flash_bytes": compiled.map(|c| c.weights().len()),
        "compilable": problems.is_none(),
        "problems": problems,
    })
}

fn shape(t: &Value) -> String {
    let dims: Vec<String> = t["shape"]
        .as_array()
        .map(|a| a.iter().map(|d| d.to_string()).collect())
        .unwrap_or_default();
    format!("{}[{}]", t["dtype"].as_str().unwrap_or("?"), dims.join(","))
}

/// The same report as a table for people.
pub fn inspect_text(report: &Value) -> String {
    let mut s = String::new();
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    s += &format!("model: {}\n", report["model"].as_str().unwrap_or(""));
    for (label, key) in [("inputs", "inputs"), ("outputs", "outputs")] {
        let list: Vec<String> = report[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let q = match (&t["scale"], &t["zero_point"]) {
                    (Value::Null, _) => String::new(),
                    (sc, zp) => format!(" (scale {sc}, zero point {zp})"),
                };
                format!("{} {}{q}", t["name"].as_str().unwrap_or(""), shape(t))
            })
            .collect();
        s += &format!("{label}: {}\n", list.join("; "));
    }
    s += &format!(
        "\n{:>3}  {:<18} {:<34} {:<24} {:>12}\n",
        "#", "op", "attributes", "output", "MACs"
    );
    for op in report["ops"].as_array().into_iter().flatten() {
        let out = op["outputs"]
            .as_array()
            .and_then(|o| o.first())
            .map(shape)
            .unwrap_or_default();
        s += &format!(
            "{:>3}  {:<18} {:<34} {:<24} {:>12}\n",
            num(&op["index"]),
            op["op"].as_str().unwrap_or(""),
            op["attributes"].as_str().unwrap_or(""),
            out,
            num(&op["macs"])
        );
    }
    s += &format!("\nMACs per inference:    {}\n", num(&report["macs"]));
    s += &format!(
        "arena (planned):       {} bytes  (all activations unshared: {} bytes)\n",
        num(&report["arena_bytes"]),
        num(&report["unshared_activation_bytes"])
    );
    s += &format!(
        "weights in the model:  {} bytes\n",
        num(&report["weight_bytes"])
    );
    if let Some(f) = report["flash_bytes"].as_u64() {
        s +=
            &format!("flash for constants:   {f} bytes (weights, biases, requantization params)\n");
    }
    if let Some(p) = report["problems"].as_str() {
        s += &format!("\nnot compilable yet:\n{p}\n");
    }
    s
}
