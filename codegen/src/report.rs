//! What `kiln inspect` shows: per-op table (shapes, types, quantization,
//! params, MACs) and totals (MACs, planned arena against the sum of all
//! activation tensors, flash for weights), as text or JSON.
//!
//! Layer: report; uses `ir`, `plan` and `lower`.

use serde_json::{json, Value};

use crate::ir::{Graph, Tensor};
use crate::lower::CompiledModel;
use crate::plan::{self, ArenaPlan, Walk};
use crate::stack::Core;

/// Multiply-accumulates of one node (convolutions and fully connected layers;
/// other ops count zero, as is customary).
pub fn macs(g: &Graph, node: &crate::ir::Node) -> u64 {
    node.kind.op().macs(g, node)
}

/// The MACs tiled chains compute beyond their layers': each layer's rows
/// computed (`kiln::ops::chain_walk`, the windows' own moves) past its
/// height, at that layer's MACs per row.
fn tiling_extra_macs(g: &Graph, compiled: &CompiledModel) -> u64 {
    let chains = compiled.ops.iter().zip(&compiled.op_nodes);
    chains
        .filter_map(|(op, &node)| match op {
            kiln::Op::TiledChain(o) => Some((o, node)),
            _ => None,
        })
        .flat_map(|(o, last)| {
            let (geometries, count) = o.geometries();
            let walk = kiln::ops::chain_walk(&geometries[..count], o.walk.rows, false);
            let first = (last + 1).saturating_sub(count);
            (0..count).map(move |j| {
                let height = u64::from(geometries[j].output.height.max(1));
                let computed = walk.map_or(height, |w| u64::from(w.rows_computed[j]));
                let per_row = g.nodes.get(first + j).map_or(0, |n| macs(g, n)) / height;
                computed.saturating_sub(height) * per_row
            })
        })
        .sum()
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

/// The report as JSON; `compiled` adds the requantization params of each op
/// and the compiled flash size, `problems` why the model cannot be compiled.
/// A compiled model's own graph is reported (the compiler may have
/// reordered its ops), `g` otherwise.
pub fn inspect_json(
    g: &Graph,
    compiled: Option<&CompiledModel>,
    problems: Option<String>,
) -> Value {
    let g = compiled.map_or(g, |c| &c.graph);
    let owned_plan;
    let plan = match compiled {
        Some(m) => &m.plan,
        None => {
            owned_plan = plan::plan(g);
            &owned_plan
        }
    };
    let mut total_macs = 0u64;
    let frames = crate::stack::op_frames(g, plan);
    let by_core = |bytes: &dyn Fn(Core) -> usize| -> Value {
        Core::ALL
            .iter()
            .map(|&core| (core.name().to_string(), json!(bytes(core))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let ops: Vec<Value> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let m = macs(g, node);
            total_macs += m;
            let op = compiled.and_then(|c| c.op_nodes.iter().position(|&n| n == i).map(|k| &c.ops[k]));
            let params = op.map(|op| format!("{op:?}"));
            let kernel = op.map(|op| op.kernel().name());
            let scratch = plan.scratch(i).map_or(0, |(_, bytes)| bytes);
            let in_place = plan.bands(i).map(|(how, _)| {
                let walk = match how.walk {
                    Walk::Bands { rows, lag } => json!({"band_rows": rows, "lag": lag}),
                    Walk::Chunks { elements } => json!({"chunk_elements": elements}),
                    Walk::Stream { rows, sums_bytes } => {
                        json!({"stream_rows": rows, "sums_bytes": sums_bytes, "from_op": i - 1})
                    }
                    Walk::Residual { rows, window_bytes, band_bytes } => json!({
                        "residual_rows": rows,
                        "window_bytes": window_bytes,
                        "band_bytes": band_bytes,
                        "from_op": i - 2,
                    }),
                    Walk::Tiled { rows, layers, windows, over_input } => json!({
                        "tiled_rows": rows,
                        "layers": layers,
                        "windows_bytes": &windows[..layers as usize - 1],
                        "over_input": over_input,
                        "from_op": i + 1 - layers as usize,
                    }),
                    Walk::Expand { last } => {
                        json!({"lies_over_input": if last { "last" } else { "first" }})
                    }
                    Walk::Slices | Walk::View => json!({}),
                };
                json!({"walk": walk, "output_offset_from_input": how.delta, "buffer_bytes": how.buffer_bytes})
            });
            json!({
                "index": i,
                "op": node.source_name,
                "attributes": node.kind.op().attributes(),
                "inputs": node.inputs.iter().flatten().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
                "outputs": node.outputs.iter().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
                "macs": m,
                "kernel": kernel,
                "scratch_bytes": scratch,
                "in_place": in_place,
                "streamed_into": plan.fused_into(i),
                "copies_nothing": plan.copies_nothing.get(i).copied().unwrap_or(false).then_some(
                    match node.kind {
                        crate::ir::OpKind::Concatenation(_) => "its inputs are written into their slices",
                        _ => "its output is a view of its input's bytes",
                    },
                ),
                "stack_bytes_by_core": by_core(&|core| frames[i].on(core)),
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
    let stack = crate::stack::estimate(g, plan);
    json!({
        "model": g.source.display().to_string(),
        "ops": ops,
        "op_count": g.nodes.len(),
        "inputs": g.inputs.iter().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
        "outputs": g.outputs.iter().map(|&t| tensor_json(&g.tensors[t], t, plan)).collect::<Vec<_>>(),
        "macs": total_macs,
        "arena_bytes": plan.arena_bytes,
        "arena_lower_bound_bytes": plan.lower_bound_bytes,
        "tiling": plan.untiled_arena_bytes.map(|untiled| json!({
            "untiled_arena_bytes": untiled,
            "saved_bytes": untiled.saturating_sub(plan.arena_bytes),
            "extra_macs": compiled.map(|c| tiling_extra_macs(g, c)),
        })),
        "state_bytes": g.variables.iter().map(|&t| g.tensors[t].bytes()).sum::<usize>(),
        "unshared_activation_bytes": plan.unshared_bytes,
        "weight_bytes": weight_bytes,
        "stack_bytes_estimate": stack.cortex_m4,
        "ram_bytes_estimate": plan.arena_bytes + stack.cortex_m4,
        "stack_bytes_estimate_by_core": by_core(&|core| stack.on(core)),
        "ram_bytes_estimate_by_core": by_core(&|core| plan.arena_bytes + stack.on(core)),
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
    // The op column fits the longest name (a custom op's, such as
    // CUSTOM(SignalFftAutoScale)), so the columns after it stay aligned.
    let op_width = report["ops"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|op| op["op"].as_str().map_or(0, str::len))
        .fold(18, usize::max);
    s += &format!(
        "\n{:>3}  {:<op_width$} {:<34} {:<24} {:>12}  {}\n",
        "#", "op", "attributes", "output", "MACs", "kernel (scratch)"
    );
    for op in report["ops"].as_array().into_iter().flatten() {
        let out = op["outputs"]
            .as_array()
            .and_then(|o| o.first())
            .map(shape)
            .unwrap_or_default();
        let kernel = match (op["kernel"].as_str(), num(&op["scratch_bytes"])) {
            (Some(k), 0) => k.to_string(),
            (Some(k), bytes) => format!("{k} ({bytes} B)"),
            (None, bytes) => match op["streamed_into"].as_u64() {
                Some(j) if bytes > 0 => format!("streamed into #{j} ({bytes} B)"),
                Some(j) => format!("streamed into #{j}"),
                None => String::new(),
            },
        };
        let walk = &op["in_place"]["walk"];
        let kernel = match op["in_place"]["buffer_bytes"].as_u64() {
            Some(bytes) if walk["stream_rows"].is_u64() => format!(
                "{kernel}, streamed from #{} ({bytes} B band and sums)",
                num(&walk["from_op"])
            ),
            Some(bytes) if walk["residual_rows"].is_u64() => format!(
                "{kernel}, residual block from #{} in bands ({bytes} B window, band and sum)",
                num(&walk["from_op"])
            ),
            Some(bytes) if walk["tiled_rows"].is_u64() => {
                let from = walk["from_op"].as_u64().unwrap_or_default();
                let to = op["index"].as_u64().unwrap_or_default().saturating_sub(1);
                let with = match from == to {
                    true => format!("#{from}"),
                    false => format!("#{from} to #{to}"),
                };
                let windows = match walk["layers"].as_u64() {
                    Some(2) => "window".to_string(),
                    _ => "windows".to_string(),
                };
                format!(
                    "{kernel}, tiled with {with} in bands of {} row{} ({bytes} B {windows})",
                    num(&walk["tiled_rows"]),
                    if walk["tiled_rows"] == 1 { "" } else { "s" }
                )
            }
            Some(bytes) if walk["chunk_elements"].is_u64() => {
                format!("{kernel}, in place ({bytes} B chunks)")
            }
            Some(_) if walk["lies_over_input"].is_string() => format!(
                "{kernel}, over its {} input (its rows spread in place)",
                walk["lies_over_input"].as_str().unwrap_or_default()
            ),
            Some(bytes) => format!("{kernel}, in place ({bytes} B bands)"),
            None if op["copies_nothing"].is_string() => {
                format!(
                    "none: {}",
                    op["copies_nothing"].as_str().unwrap_or_default()
                )
            }
            None => kernel,
        };
        s += &format!(
            "{:>3}  {:<op_width$} {:<34} {:<24} {:>12}  {kernel}\n",
            num(&op["index"]),
            op["op"].as_str().unwrap_or(""),
            op["attributes"].as_str().unwrap_or(""),
            out,
            num(&op["macs"])
        );
    }
    s += &format!("\nMACs per inference:    {}\n", num(&report["macs"]));
    s += &format!(
        "arena (planned):       {} bytes  (lower bound {} bytes; all activations unshared: {} bytes)\n",
        num(&report["arena_bytes"]),
        num(&report["arena_lower_bound_bytes"]),
        num(&report["unshared_activation_bytes"])
    );
    let tiling = &report["tiling"];
    if tiling.is_object() {
        s += &format!(
            "tiled chains:          {} bytes of arena saved ({} untiled), {} extra MACs (halo rows are kept, not recomputed)\n",
            num(&tiling["saved_bytes"]),
            num(&tiling["untiled_arena_bytes"]),
            num(&tiling["extra_macs"])
        );
    }
    if report["state_bytes"].as_u64().is_some_and(|b| b > 0) {
        s += &format!(
            "state (in the arena):  {} bytes, kept from one inference to the next\n",
            num(&report["state_bytes"])
        );
    }
    let stacks: Vec<String> = Core::ALL
        .iter()
        .map(|c| {
            let bytes = num(&report["stack_bytes_estimate_by_core"][c.name()]);
            format!("{} {bytes}", c.name())
        })
        .collect();
    // The op that sets the Cortex-M4 figure: the one to look at first.
    let deepest = report["ops"].as_array().and_then(|ops| {
        // The first of equals: `max_by_key` keeps the last it sees.
        ops.iter()
            .rev()
            .max_by_key(|op| op["stack_bytes_by_core"]["cortex-m4"].as_u64())
    });
    let at = deepest.map_or(String::new(), |op| {
        format!(
            " (deepest: op #{} {})",
            num(&op["index"]),
            op["op"].as_str().unwrap_or("?")
        )
    });
    s += &format!("stack (estimate):      {} bytes{at}\n", stacks.join(", "));
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
