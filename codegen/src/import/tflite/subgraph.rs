//! A subgraph's operators read into the IR's nodes, and IF, whose two
//! branch subgraphs are inlined by predication: both branches run on the
//! IF's operands and a SELECT_V2 on the condition picks each output. That
//! gives TFLM's bytes (its IF runs one branch, copying bytes in and out)
//! because kiln's kernels are total (a branch not taken cannot fail) and a
//! branch may not keep state (refused), at the cost of running both.
//!
//! Layer: import; uses the flatbuffer reader, `ir` and the ops'
//! converters (`ops::tflite_converter`).

use std::collections::HashMap;

use super::super::flatbuffer::{Table, Vector};
use super::{builtin_name, invalid, ReadResult, Reader, TfliteOp, CUSTOM};
use crate::error::Unsupported;
use crate::ir::*;

/// What every subgraph of a model is read against.
pub(super) struct ModelParts<'a> {
    pub subgraphs: Vector<'a>,
    pub opcodes: &'a [(i32, Option<String>)],
    pub buffers: Option<Vector<'a>>,
    /// Each VAR_HANDLE output of the main subgraph and the variable tensor
    /// it names.
    pub handles: &'a HashMap<TensorId, TensorId>,
}

/// The graph as read so far: tensors, the variable tensors among them and
/// nodes, in op order.
pub(super) struct Reading {
    pub tensors: Vec<Tensor>,
    pub variables: Vec<TensorId>,
    pub nodes: Vec<Node>,
}

/// How deep IFs may nest in branches, and how many ops the graph may hold
/// once they are inlined.
const MAX_NESTING: usize = 8;
const MAX_INLINED_OPS: usize = 100_000;

/// An operator's place: its subgraph and index there.
#[derive(Clone, Copy)]
struct Site {
    subgraph: usize,
    op: usize,
}

impl Reader<'_> {
    /// Reads the operators of subgraph `s` into `g.nodes`. `map` gives the
    /// graph tensor of each of the subgraph's tensors; `inlining` lists the
    /// branch subgraphs being inlined around this one (empty for the main
    /// subgraph), so that an IF reaching its own subgraph is refused.
    pub(super) fn operators(
        &mut self,
        parts: &ModelParts,
        s: usize,
        map: &[TensorId],
        inlining: &mut Vec<usize>,
        g: &mut Reading,
    ) -> ReadResult<()> {
        let index = |v: i32, what: &str| -> ReadResult<TensorId> {
            match usize::try_from(v).ok().and_then(|i| map.get(i)) {
                Some(&t) => Ok(t),
                None => invalid(format!(
                    "{what} refers to tensor {v}, but there are {}",
                    map.len()
                )),
            }
        };
        let Some(ops) = parts.subgraphs.table(s)?.vector(3, 4)? else {
            return Ok(());
        };
        for (op_index, op) in ops.tables().enumerate() {
            let op = op?;
            let at = Site {
                subgraph: s,
                op: op_index,
            };
            let opcode_index = op.u32(0, 0)? as usize;
            let Some(&(code, ref custom)) = parts.opcodes.get(opcode_index) else {
                return invalid(format!(
                    "op #{op_index} uses opcode {opcode_index}, but there are {}",
                    parts.opcodes.len()
                ));
            };
            let name = builtin_name(code, custom.as_deref());
            let in_branch = s != 0;
            let variable_op = matches!(
                name.as_str(),
                "VAR_HANDLE" | "CALL_ONCE" | "READ_VARIABLE" | "ASSIGN_VARIABLE"
            );
            if in_branch && variable_op {
                let reason = "a variable op in a branch of an IF: kiln runs both branches";
                self.problem(at, &name, vec![], reason.into());
                continue;
            }
            // Resolved with the variables (`variables`): no node.
            if name == "VAR_HANDLE" || name == "CALL_ONCE" {
                continue;
            }
            let op_inputs = op.vector(1, 4)?.map(|v| v.i32s()).unwrap_or_default();
            let op_outputs = op.vector(2, 4)?.map(|v| v.i32s()).unwrap_or_default();
            let mut op_inputs = op_inputs
                .iter()
                .map(|&i| {
                    if i < 0 {
                        Ok(None)
                    } else {
                        index(i, &format!("op #{op_index}")).map(Some)
                    }
                })
                .collect::<ReadResult<Vec<_>>>()?;
            let op_outputs = op_outputs
                .iter()
                .map(|&i| index(i, &format!("op #{op_index}")))
                .collect::<ReadResult<Vec<_>>>()?;
            if name == "IF" {
                self.predicated_if(
                    parts,
                    at,
                    op.table(4)?,
                    &op_inputs,
                    &op_outputs,
                    inlining,
                    g,
                )?;
                continue;
            }
            // READ_VARIABLE and ASSIGN_VARIABLE use the variable itself
            // (any other op given a handle sees a resource tensor, a
            // type kiln runs nothing on).
            if name == "READ_VARIABLE" || name == "ASSIGN_VARIABLE" {
                if let Some(Some(handle)) = op_inputs.first_mut() {
                    if let Some(&variable) = parts.handles.get(handle) {
                        *handle = variable;
                    }
                }
            }
            let tensor_names: Vec<String> = op_inputs
                .iter()
                .flatten()
                .chain(&op_outputs)
                .map(|&t| g.tensors[t].name.clone())
                .collect();
            // A custom operator's converter goes by its custom code
            // (TFLM's signal library: "SignalWindow", ...).
            let converter_name = match custom {
                Some(custom) if code == CUSTOM => custom.as_str(),
                _ => name.as_str(),
            };
            let Some(convert) = crate::ops::tflite_converter(converter_name) else {
                let reason = "operator not supported by kiln".into();
                self.problem(at, &name, tensor_names, reason);
                continue;
            };
            let mut reading = TfliteOp {
                options: op.table(4)?,
                custom_options: op.vector(5, 1)?.map_or(&[][..], |v| v.bytes()),
                custom_format: op.i8(6, 0)?,
                inputs: op_inputs,
                outputs: op_outputs,
                tensors: &g.tensors,
                problems: Vec::new(),
                per_output: Vec::new(),
                states: Vec::new(),
            };
            let kind = convert(&mut reading)?;
            let TfliteOp {
                inputs: mut node_inputs,
                outputs: node_outputs,
                problems,
                per_output,
                states,
                ..
            } = reading;
            for reason in problems {
                self.problem(at, &name, tensor_names.clone(), reason);
            }
            // TFLM_DECODE: folded into the constants it decodes.
            if let OpKind::Decode(_) = kind {
                if let Err(reason) =
                    crate::ops::fold_decode(&node_inputs, &node_outputs, &mut g.tensors)
                {
                    self.problem(at, &name, tensor_names.clone(), reason);
                }
                continue;
            }
            // State the operator keeps itself (TFLM allocates it in the
            // kernel's Prepare): a variable tensor of its own, read and
            // written as the node's last inputs.
            for (what, shape, dtype) in states {
                if in_branch {
                    let reason =
                        format!("keeps a {what} in a branch of an IF: kiln runs both branches");
                    self.problem(at, &name, tensor_names.clone(), reason);
                    continue;
                }
                if checked_elements(&shape).is_none() {
                    let reason = format!("a {what} of shape {shape:?}: too large");
                    self.problem(at, &name, tensor_names.clone(), reason);
                    continue;
                }
                node_inputs.push(Some(g.tensors.len()));
                g.variables.push(g.tensors.len());
                g.tensors.push(Tensor {
                    name: format!("{name} #{op_index} {what}"),
                    shape,
                    dtype,
                    quantization: None,
                    data: None,
                });
            }
            if per_output.is_empty() {
                g.nodes.push(Node {
                    kind,
                    inputs: node_inputs,
                    outputs: node_outputs,
                    source_name: name,
                });
            } else {
                for (kind, output) in per_output.into_iter().zip(node_outputs) {
                    g.nodes.push(Node {
                        kind,
                        inputs: node_inputs.clone(),
                        outputs: vec![output],
                        source_name: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Records a problem of the operator at `at` (one in a branch named
    /// with its subgraph, its index being that subgraph's).
    fn problem(&mut self, at: Site, name: &str, tensors: Vec<String>, reason: String) {
        let (op_index, op_name) = match at.subgraph {
            0 => (Some(at.op), name.to_owned()),
            s => (None, format!("{name} (op #{} of subgraph {s})", at.op)),
        };
        self.problems.push(Unsupported {
            op_index,
            op_name,
            tensors,
            reason,
        });
    }

    /// IF (operands: the condition, then the branches' inputs): both
    /// branch subgraphs inlined, then one SELECT_V2 per output.
    #[allow(clippy::too_many_arguments)]
    fn predicated_if(
        &mut self,
        parts: &ModelParts,
        at: Site,
        options: Option<Table>,
        inputs: &[Option<TensorId>],
        outputs: &[TensorId],
        inlining: &mut Vec<usize>,
        g: &mut Reading,
    ) -> ReadResult<()> {
        // IfOptions: then_subgraph_index, else_subgraph_index.
        let mut branches = [0; 2];
        for (slot, branch) in branches.iter_mut().enumerate() {
            let v = options.map_or(Ok(0), |t| t.i32(slot, 0))?;
            *branch = match usize::try_from(v) {
                Ok(b) if b < parts.subgraphs.len() => b,
                _ => {
                    return invalid(format!(
                        "op #{} IF runs subgraph {v}, but there are {}",
                        at.op,
                        parts.subgraphs.len()
                    ))
                }
            };
        }
        let Some((&Some(condition), operands)) = inputs.split_first() else {
            return invalid(format!("op #{} IF has no condition", at.op));
        };
        let Some(operands) = operands.iter().copied().collect::<Option<Vec<_>>>() else {
            return invalid(format!("op #{} IF has an absent operand", at.op));
        };
        let names = |g: &Reading| {
            let operands = inputs.iter().flatten().chain(outputs);
            operands.map(|&t| g.tensors[t].name.clone()).collect()
        };
        let c = &g.tensors[condition];
        if c.dtype != DataType::Bool || c.elements() != 1 {
            let reason = format!(
                "a condition of {} values of {}: kiln takes one bool (TFLM reads the first)",
                c.elements(),
                c.dtype.name()
            );
            self.problem(at, "IF", names(g), reason);
            return Ok(());
        }
        if let Some(&b) = branches
            .iter()
            .find(|&&b| b == at.subgraph || b == 0 || inlining.contains(&b))
        {
            let reason = format!("runs subgraph {b}, which contains it");
            self.problem(at, "IF", names(g), reason);
            return Ok(());
        }
        // Each level of nesting can double the ops (both branches of an IF
        // may hold the same nested IF): bounded, so that a forged file
        // cannot exhaust the tool's memory or stack.
        if inlining.len() >= MAX_NESTING || g.nodes.len() > MAX_INLINED_OPS {
            return invalid(format!(
                "op #{} IF: IFs nested more than {MAX_NESTING} deep, or more than \
                 {MAX_INLINED_OPS} ops once their branches are inlined",
                at.op
            ));
        }
        let mut results = Vec::new();
        for b in branches {
            match self.branch(parts, at, b, &operands, inlining, g)? {
                Some(r) if r.len() == outputs.len() => results.push(r),
                Some(r) => {
                    return invalid(format!(
                        "op #{} IF has {} outputs, but subgraph {b} gives {}",
                        at.op,
                        outputs.len(),
                        r.len()
                    ))
                }
                None => return Ok(()),
            }
        }
        for (k, &out) in outputs.iter().enumerate() {
            let (then, other) = (results[0][k], results[1][k]);
            // TFLM copies the branch's bytes into the output as they are.
            let o = &g.tensors[out];
            let differs = [then, other].into_iter().find(|&t| {
                let t = &g.tensors[t];
                (t.dtype, &t.shape, &t.quantization) != (o.dtype, &o.shape, &o.quantization)
            });
            if let Some(t) = differs {
                let reason = format!(
                    "output {k}: '{}' of its branch differs from '{}' in type, shape or \
                     quantization",
                    g.tensors[t].name, o.name
                );
                self.problem(at, "IF", names(g), reason);
                continue;
            }
            g.nodes.push(Node {
                kind: OpKind::Select(crate::ops::Select),
                inputs: vec![Some(condition), Some(then), Some(other)],
                outputs: vec![out],
                source_name: "IF".into(),
            });
        }
        Ok(())
    }

    /// Inlines branch subgraph `b` of the IF at `at` on `operands`: its
    /// inputs are the operands, its other tensors new in the graph (named
    /// after the subgraph). Returns the graph tensors of its outputs, or
    /// `None` where a problem is recorded.
    fn branch(
        &mut self,
        parts: &ModelParts,
        at: Site,
        b: usize,
        operands: &[TensorId],
        inlining: &mut Vec<usize>,
        g: &mut Reading,
    ) -> ReadResult<Option<Vec<TensorId>>> {
        let sg = parts.subgraphs.table(b)?;
        let inputs = sg.vector(1, 4)?.map(|v| v.i32s()).unwrap_or_default();
        let outputs = sg.vector(2, 4)?.map(|v| v.i32s()).unwrap_or_default();
        if inputs.len() != operands.len() {
            return invalid(format!(
                "op #{} IF passes {} operands to subgraph {b}, which takes {}",
                at.op,
                operands.len(),
                inputs.len()
            ));
        }
        let prefix = match sg.string(4)? {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("subgraph {b}"),
        };
        let mut map = Vec::new();
        for (i, t) in sg.vector(0, 4)?.iter().flat_map(|v| v.tables()).enumerate() {
            let t = t?;
            let mut tensor = self.tensor(i, t, parts.buffers)?;
            let operand = inputs.iter().position(|&x| usize::try_from(x) == Ok(i));
            match operand.map(|k| operands[k]) {
                // TFLM copies the operand's bytes into the branch's input.
                Some(o) => {
                    let outer = &g.tensors[o];
                    let same = (outer.dtype, &outer.shape, &outer.quantization)
                        == (tensor.dtype, &tensor.shape, &tensor.quantization);
                    if !same {
                        let reason = format!(
                            "operand '{}' differs from subgraph {b}'s input '{}' in type, \
                             shape or quantization",
                            outer.name, tensor.name
                        );
                        self.problem(at, "IF", vec![], reason);
                        return Ok(None);
                    }
                    map.push(o);
                }
                None => {
                    if t.bool(5, false)? {
                        let reason = format!("subgraph {b} holds a variable tensor");
                        self.problem(at, "IF", vec![], reason);
                        return Ok(None);
                    }
                    tensor.name = format!("{prefix}/{}", tensor.name);
                    map.push(g.tensors.len());
                    g.tensors.push(tensor);
                }
            }
        }
        let problems = self.problems.len();
        inlining.push(b);
        self.operators(parts, b, &map, inlining, g)?;
        inlining.pop();
        if self.problems.len() > problems {
            return Ok(None);
        }
        let output = |&v: &i32| match usize::try_from(v).ok().and_then(|i| map.get(i)) {
            Some(&t) => Ok(t),
            None => invalid(format!(
                "subgraph {b}'s output refers to tensor {v}, but there are {}",
                map.len()
            )),
        };
        outputs
            .iter()
            .map(output)
            .collect::<ReadResult<_>>()
            .map(Some)
    }
}
