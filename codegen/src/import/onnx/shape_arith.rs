//! Shape arithmetic as exporters write it (PyTorch's `x.view(x.size(0),
//! -1)` becomes Shape, Gather, Unsqueeze, Concat, Reshape). With static
//! shapes every value of it is known while the graph is imported, so it
//! folds into int64 constants there, before any IR exists for it: the IR
//! has no integer ops, and the converters that read those constants (a
//! Reshape's target shape, a Slice's bounds) need them to give their own
//! outputs a shape.
//!
//! Layer: import (part of the ONNX importer); uses `proto` and `context`.

use super::context::{Importer, Step};
use super::proto::{OnnxNode, OnnxTensor};

/// Shape arithmetic as exporters write it (PyTorch's `x.view(x.size(0),
/// -1)` becomes Shape, Gather, Unsqueeze, Concat, Reshape): with static
/// shapes every value of it is known here, so it folds into an integer
/// constant. `None` when `n` is not such a node.
pub(crate) fn fold_shape_arithmetic(cx: &Importer, n: &OnnxNode) -> Step<Option<OnnxTensor>> {
    let op = n.op_type.as_str();
    if op == "Shape" {
        let Some(&x) = cx.values.get(&n.inputs[0]) else {
            return Ok(None);
        };
        let dims: Vec<i64> = cx.shape(x).iter().map(|&d| d as i64).collect();
        let rank = dims.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
        let (start, end) = (clamp(n.int("start", 0)), clamp(n.int("end", rank)));
        return Ok(Some(int_tensor(
            vec![end.saturating_sub(start) as i64],
            dims.get(start..end.max(start)).unwrap_or(&[]).to_vec(),
        )));
    }
    if !matches!(
        op,
        "Gather"
            | "Unsqueeze"
            | "Squeeze"
            | "Concat"
            | "Cast"
            | "Slice"
            | "Add"
            | "Sub"
            | "Mul"
            | "Div"
            | "Identity"
    ) {
        return Ok(None);
    }
    // Every input an integer constant, or this is not shape arithmetic.
    let mut ins = Vec::new();
    for name in n.inputs.iter().filter(|s| !s.is_empty()) {
        match cx
            .constants
            .get(name)
            .and_then(|t| Some((t.shape()?, t.i64s()?)))
        {
            Some(v) => ins.push(v),
            None => return Ok(None),
        }
    }
    let Some((shape0, data0)) = ins.first().cloned() else {
        return Ok(None);
    };
    let dims0: Vec<i64> = shape0.iter().map(|&d| d as i64).collect();
    let folded = match op {
        "Identity" => int_tensor(dims0, data0),
        "Cast" => {
            // To int64 or int32: the values are unchanged.
            if !matches!(n.int("to", 7), 6 | 7) {
                return Ok(None);
            }
            int_tensor(dims0, data0)
        }
        "Gather" => {
            let (index_shape, indices) = ins.get(1).cloned().ok_or("Gather needs indices")?;
            if shape0.len() != 1 || n.int("axis", 0) != 0 {
                return Err("shape arithmetic: Gather only on 1-D constants".into());
            }
            let len = data0.len() as i64;
            let picked = indices
                .iter()
                .map(|&i| {
                    let i = if i < 0 { i + len } else { i };
                    data0
                        .get(usize::try_from(i).map_err(|_| "index out of range")?)
                        .copied()
                        .ok_or("Gather index out of range")
                })
                .collect::<std::result::Result<Vec<i64>, &str>>()?;
            int_tensor(index_shape.iter().map(|&d| d as i64).collect(), picked)
        }
        "Unsqueeze" | "Squeeze" => {
            let axes: Vec<i64> = match (n.ints("axes"), ins.get(1)) {
                (Some(a), _) => a.to_vec(),
                (None, Some((_, a))) => a.clone(),
                (None, None) => vec![],
            };
            let mut dims = dims0;
            if op == "Unsqueeze" {
                let rank = (dims.len() + axes.len()) as i64;
                let mut axes: Vec<i64> = axes
                    .iter()
                    .map(|&a| if a < 0 { a + rank } else { a })
                    .collect();
                axes.sort_unstable();
                for a in axes {
                    let a = usize::try_from(a).map_err(|_| "Unsqueeze axis out of range")?;
                    if a > dims.len() {
                        return Err("Unsqueeze axis out of range".into());
                    }
                    dims.insert(a, 1);
                }
            } else if axes.is_empty() {
                dims.retain(|&d| d != 1);
            } else {
                let rank = dims.len() as i64;
                let axes: Vec<i64> = axes
                    .iter()
                    .map(|&a| if a < 0 { a + rank } else { a })
                    .collect();
                dims = dims
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(&(*i as i64)))
                    .map(|(_, &d)| d)
                    .collect();
            }
            int_tensor(dims, data0)
        }
        "Concat" => {
            if ins.iter().any(|(s, _)| s.len() != 1) {
                return Err("shape arithmetic: Concat only of 1-D constants".into());
            }
            let data: Vec<i64> = ins.iter().flat_map(|(_, d)| d.iter().copied()).collect();
            int_tensor(vec![data.len() as i64], data)
        }
        "Slice" => {
            let get = |i: usize| ins.get(i).map(|(_, d)| d.clone());
            let (starts, ends) = match (n.ints("starts"), n.ints("ends")) {
                (Some(s), Some(e)) => (s.to_vec(), e.to_vec()),
                _ => (get(1).unwrap_or_default(), get(2).unwrap_or_default()),
            };
            let steps = get(4).unwrap_or_else(|| vec![1]);
            if shape0.len() != 1 || starts.len() != 1 || ends.len() != 1 || steps != [1] {
                return Err("shape arithmetic: Slice only of 1-D constants, step 1".into());
            }
            let len = data0.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + len } else { v }).clamp(0, len) as usize;
            let (a, b) = (clamp(starts[0]), clamp(ends[0]));
            let data = data0.get(a..b.max(a)).unwrap_or(&[]).to_vec();
            int_tensor(vec![data.len() as i64], data)
        }
        _ => {
            let (shape1, data1) = ins.get(1).cloned().ok_or("two operands needed")?;
            let n1 = data1.len();
            if !(data0.len() == n1 || data0.len() == 1 || n1 == 1) {
                return Err("shape arithmetic: operands do not broadcast".into());
            }
            let len = data0.len().max(n1);
            let out_shape = if data0.len() >= n1 { &shape0 } else { &shape1 };
            let data = (0..len)
                .map(|i| {
                    let (a, b) = (data0[i % data0.len()], data1[i % n1]);
                    match op {
                        "Add" => Ok(a.wrapping_add(b)),
                        "Sub" => Ok(a.wrapping_sub(b)),
                        "Mul" => Ok(a.wrapping_mul(b)),
                        _ if b == 0 => Err("shape arithmetic: division by zero"),
                        _ => Ok(a.wrapping_div(b)),
                    }
                })
                .collect::<std::result::Result<Vec<i64>, &str>>()?;
            int_tensor(out_shape.iter().map(|&d| d as i64).collect(), data)
        }
    };
    Ok(Some(folded))
}

fn int_tensor(dims: Vec<i64>, values: Vec<i64>) -> OnnxTensor {
    OnnxTensor {
        dims,
        data_type: 7,
        ints: values,
        ..OnnxTensor::default()
    }
}
