//! Where quantization loses accuracy: each activation of the float model
//! against the same activation of the int8 model (dequantized), on the same
//! inputs, as a signal-to-quantization-noise ratio in dB.
//!
//! Layer: quantize; uses `lower` and `ir`.

use crate::ir::DataType;
use crate::lower::CompiledModel;

/// Every activation's values for one input, by IR tensor id (dequantized
/// for int8 tensors).
pub fn activations(model: &CompiledModel, input: &[u8]) -> Vec<Option<Vec<f64>>> {
    let g = &model.graph;
    let mut arena = vec![0u128; model.arena_bytes().div_ceil(16).max(1)];
    let graph = model.runtime_graph();
    let mut values: Vec<Option<Vec<f64>>> = vec![None; g.tensors.len()];
    if kiln::exec::validate(&graph).is_err()
        || model.inputs.len() != 1
        || input.len() != model.inputs[0].span.len as usize
    {
        return values;
    }
    let read = |bytes: &[u8], t: usize| -> Option<Vec<f64>> {
        let offset = model.plan.offset(t)?;
        let tensor = &g.tensors[t];
        let raw = &bytes[offset..offset + tensor.bytes()];
        Some(match tensor.dtype {
            DataType::F32 => raw
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DataType::I8 => {
                let q = tensor.quantization.as_ref()?;
                raw.iter()
                    .map(|&b| {
                        f64::from(q.scale0()) * f64::from(i32::from(b as i8) - q.zero_point0())
                    })
                    .collect()
            }
            _ => return None,
        })
    };
    {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut arena);
        bytes[model.inputs[0].span.range()].copy_from_slice(input);
    }
    // Each node's outputs are read once its op has run; a node that runs
    // none (a reshape, a concatenation whose inputs were written into its
    // output) has its output whole by then too.
    let mut next = 0;
    for (i, node) in g.nodes.iter().enumerate() {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut arena);
        while model.op_nodes.get(next) == Some(&i) {
            model.ops[next].run(bytes, graph.weights);
            next += 1;
        }
        for &t in &node.outputs {
            values[t] = read(bytes, t);
        }
    }
    values
}

/// Per activation of `float` (by name, in execution order): the SQNR in dB
/// of `int8`'s version over `inputs` (float32 samples back to back).
pub fn layer_sqnr(
    float: &CompiledModel,
    int8: &CompiledModel,
    inputs: &[u8],
    samples: usize,
) -> Vec<(String, String, f64)> {
    let n = float.graph.tensors.len();
    let (mut signal, mut noise) = (vec![0f64; n], vec![0f64; n]);
    let len = inputs.len() / samples.max(1);
    for s in 0..samples {
        let sample = &inputs[s * len..(s + 1) * len];
        let (f, q) = (activations(float, sample), activations(int8, sample));
        for t in 0..n {
            if let (Some(Some(a)), Some(Some(b))) = (f.get(t), q.get(t)) {
                signal[t] += a.iter().map(|v| v * v).sum::<f64>();
                noise[t] += a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
            }
        }
    }
    let mut rows = Vec::new();
    let computed = |i: usize| {
        float.op_nodes.contains(&i) || float.plan.copies_nothing.get(i).copied().unwrap_or(false)
    };
    for (i, node) in float.graph.nodes.iter().enumerate() {
        if !computed(i) {
            continue;
        }
        for &t in &node.outputs {
            if signal[t] > 0.0 || noise[t] > 0.0 {
                let db = 10.0 * (signal[t].max(1e-30) / noise[t].max(1e-30)).log10();
                rows.push((
                    node.source_name.clone(),
                    float.graph.tensors[t].name.clone(),
                    db,
                ));
            }
        }
    }
    rows
}
