//! WHILE, unrolled: the condition subgraph is inlined on the loop's values
//! and must fold to a constant (`fold`: loop counters compared with a
//! bound), and while it is true the body subgraph is inlined on them, its
//! outputs becoming the next pass's values. That gives TFLM's bytes (its
//! WHILE copies the values into the body and its outputs back, pass after
//! pass) for loops whose trip count is known when the model is compiled,
//! which is what TensorFlow's converter writes for a Keras GRU or
//! SimpleRNN over a fixed number of time steps. Loops that stop on
//! computed values are refused by name.
//!
//! Layer: import; uses the flatbuffer reader, `ir` and the subgraph
//! reader (`subgraph`).

use super::super::flatbuffer::Table;
use super::subgraph::{
    contains, same_bytes_meaning, subgraph_indices, Inlining, ModelParts, Reading, Site,
    MAX_NESTING,
};
use super::{invalid, ReadResult, Reader};
use crate::ir::*;

/// How many passes kiln unrolls: each pass is a copy of the body in the
/// generated code.
const MAX_TRIPS: usize = 1000;

impl Reader<'_> {
    /// WHILE (operands: the loop's initial values; outputs: its final
    /// ones), unrolled.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn unrolled_while(
        &mut self,
        parts: &ModelParts,
        at: Site,
        options: Option<Table>,
        inputs: &[Option<TensorId>],
        outputs: &[TensorId],
        inlining: &mut Inlining,
        g: &mut Reading,
    ) -> ReadResult<()> {
        // WhileOptions: cond_subgraph_index, body_subgraph_index.
        let [cond, body] = subgraph_indices(parts, at, "WHILE", options)?;
        let Some(operands) = inputs.iter().copied().collect::<Option<Vec<_>>>() else {
            return invalid(format!("{at} WHILE has an absent operand"));
        };
        if operands.len() != outputs.len() {
            return invalid(format!(
                "{at} WHILE has {} operands but {} outputs",
                operands.len(),
                outputs.len()
            ));
        }
        let names = |g: &Reading| {
            let tensors = operands.iter().chain(outputs);
            tensors.map(|&t| g.tensors[t].name.clone()).collect()
        };
        let refusal = if let Some(&b) = [cond, body].iter().find(|&&b| contains(at, b, inlining)) {
            Some(format!("runs subgraph {b}, which contains it"))
        } else {
            // The unrolled passes read the variable itself, which a later
            // ASSIGN_VARIABLE would change under a loop that ran no pass.
            operands.iter().find(|v| g.variables.contains(v)).map(|&v| {
                format!(
                    "passes variable '{}' to its subgraphs: kiln unrolls the loop",
                    g.tensors[v].name
                )
            })
        };
        if let Some(reason) = refusal {
            self.problem(at, "WHILE", names(g), reason);
            return Ok(());
        }
        if inlining.len() >= MAX_NESTING {
            return invalid(format!(
                "{at} WHILE: IFs and WHILEs nested more than {MAX_NESTING} deep"
            ));
        }
        let mut values = operands.clone();
        // Kernels read their activations from the arena, so a constant
        // value (Keras's zero initial state) is filled in there first;
        // int32 and bool constants stay constants, for the condition.
        for value in values.iter_mut() {
            let t = &g.tensors[*value];
            let counter = matches!(t.dtype, DataType::I32 | DataType::Bool);
            let Some(data) = t.data.as_ref().filter(|_| !counter) else {
                continue;
            };
            let size = t.dtype.size().max(1);
            let first = data.get(..size).unwrap_or_default().to_vec();
            if data.chunks(size).any(|c| c != first) {
                let reason = format!(
                    "operand '{}' is a constant of more than one value: kiln fills a \
                     constant loop value from one",
                    t.name
                );
                self.problem(at, "WHILE", names(g), reason);
                return Ok(());
            }
            let filled = Tensor {
                name: format!("{} (filled)", t.name),
                data: None,
                ..t.clone()
            };
            let one = Tensor {
                name: format!("{} (value)", t.name),
                shape: vec![],
                data: Some(first),
                ..t.clone()
            };
            g.nodes.push(Node {
                kind: OpKind::Fill(crate::ops::Fill::Value),
                inputs: vec![Some(g.tensors.len())],
                outputs: vec![g.tensors.len() + 1],
                source_name: "WHILE".into(),
            });
            g.tensors.extend([one, filled]);
            *value = g.tensors.len() - 1;
        }
        for pass in 0.. {
            let Some(condition) = self.branch(parts, (at, "WHILE"), cond, &values, inlining, g)?
            else {
                return Ok(());
            };
            // TFLM reads the first value of the first output.
            let c = condition.first().map(|&t| &g.tensors[t]);
            let go_on = match c {
                // A constant's buffer may be shorter than its shape in a
                // forged file: no first value is no constant.
                Some(c) if c.dtype == DataType::Bool && c.elements() > 0 => {
                    c.data.as_ref().and_then(|d| d.first()).map(|&b| b != 0)
                }
                _ => {
                    return invalid(format!(
                        "{at} WHILE: condition subgraph {cond} gives no bool output"
                    ))
                }
            };
            let reason = match go_on {
                Some(false) => break,
                Some(true) if pass == MAX_TRIPS => {
                    format!("runs more than {MAX_TRIPS} passes: kiln unrolls the loop")
                }
                Some(true) => {
                    let Some(next) =
                        self.branch(parts, (at, "WHILE"), body, &values, inlining, g)?
                    else {
                        return Ok(());
                    };
                    if next.len() != values.len() {
                        return invalid(format!(
                            "{at} WHILE has {} values, but subgraph {body} gives {}",
                            values.len(),
                            next.len()
                        ));
                    }
                    values = next;
                    continue;
                }
                None => "its condition depends on values computed at run time: kiln \
                         unrolls loops whose passes it can count when compiling"
                    .into(),
            };
            self.problem(at, "WHILE", names(g), reason);
            return Ok(());
        }
        // TFLM copies the last values into the outputs: here the output
        // takes a constant's bytes, or is the value under another name.
        for (k, (&value, &out)) in values.iter().zip(outputs).enumerate() {
            let (v, o) = (&g.tensors[value], &g.tensors[out]);
            if !same_bytes_meaning(v, o) {
                let reason = format!(
                    "output {k}: '{}' of its body differs from '{}' in type, shape or \
                     quantization",
                    v.name, o.name
                );
                self.problem(at, "WHILE", names(g), reason);
            } else if let Some(data) = v.data.clone() {
                g.tensors[out].data = Some(data);
            } else {
                g.nodes.push(Node {
                    kind: OpKind::Reshape(crate::ops::Reshape),
                    inputs: vec![Some(value)],
                    outputs: vec![out],
                    source_name: "WHILE".into(),
                });
            }
        }
        Ok(())
    }
}
