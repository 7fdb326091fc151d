//! A subgraph's operators read into the IR's nodes, and IF, whose two
//! branch subgraphs are inlined by predication: both branches run on the
//! IF's operands and a SELECT_V2 on the condition picks each output. That
//! gives TFLM's bytes (its IF runs one branch, copying bytes in and out)
//! because kiln's kernels are total (a branch not taken cannot fail) and a
//! branch may not keep state (refused), at the cost of running both.
//! WHILE inlines its subgraphs too (`while_loop`).
//!
//! Layer: import; uses the flatbuffer reader, `ir` and the ops'
//! converters (`ops::tflite_converter`).

use std::collections::HashMap;

use super::super::flatbuffer::{Table, Vector};
use super::fold::fold_constant_op;
use super::pass_shapes::PassShapes;
use super::{builtin_name, invalid, ReadError, ReadResult, Reader, TfliteOp, CUSTOM};
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
    /// The work inlining has taken: each branch's tensors, ops and
    /// constant bytes (a KiB counting one), against [`MAX_INLINED`].
    pub inlined: usize,
    /// Shapes of unrolled WHILE passes that the file leaves open.
    pub pass_shapes: PassShapes,
    /// The graph tensor of each constant of an inlined subgraph (its index
    /// and the tensor's), read once: every pass of a loop, and both
    /// branches when an IF names one subgraph twice, share its weights.
    pub constants: HashMap<(usize, usize), TensorId>,
}

/// How deep IFs and WHILEs may nest in inlined subgraphs, and how much
/// inlining may take: both branches of an IF may hold the same nested IFs,
/// a loop may run many times, and a flatbuffer may point many tensors at
/// one buffer, so a forged file of a few kilobytes could otherwise exhaust
/// the tool's time, memory or stack.
pub(super) const MAX_NESTING: usize = 8;
const MAX_INLINED: usize = 1_000_000;

/// A subgraph being inlined: its index and the op inlining it ("IF" or
/// "WHILE").
pub(super) type Inlining = Vec<(usize, &'static str)>;

/// Why an op that keeps or writes state cannot sit in a subgraph the op
/// `by` inlines.
fn inlined_state(by: &str) -> &'static str {
    match by {
        "IF" => "kiln runs both branches",
        _ => "kiln unrolls the loop, each pass getting its own copy",
    }
}

/// The subgraph being read: its index, the graph tensor of each of its
/// tensors, and the first graph tensor it owns (a branch's operands are
/// the IF's, which it may read but not write: TFLM writes only the
/// branch's copy).
pub(super) struct Scope<'m> {
    pub subgraph: usize,
    pub map: &'m [TensorId],
    pub first_own: TensorId,
}

/// An operator's place: its subgraph and index there.
#[derive(Clone, Copy)]
pub(super) struct Site {
    pub subgraph: usize,
    pub op: usize,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.subgraph {
            0 => write!(f, "op #{}", self.op),
            s => write!(f, "op #{} of subgraph {s}", self.op),
        }
    }
}

impl Reader<'_> {
    /// Reads the operators of subgraph `scope` into `g.nodes`. `inlining`
    /// lists the subgraphs being inlined around this one (empty for the
    /// main subgraph), so that an IF or WHILE reaching its own subgraph is
    /// refused.
    pub(super) fn operators(
        &mut self,
        parts: &ModelParts,
        scope: &Scope,
        inlining: &mut Inlining,
        g: &mut Reading,
    ) -> ReadResult<()> {
        let (s, map) = (scope.subgraph, scope.map);
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
            // The op inlining this subgraph, if any.
            let inlined_by = inlining.last().map(|&(_, by)| by);
            let variable_op = matches!(
                name.as_str(),
                "VAR_HANDLE" | "CALL_ONCE" | "READ_VARIABLE" | "ASSIGN_VARIABLE"
            );
            if let (Some(by), true) = (inlined_by, variable_op) {
                let reason = format!("a variable op in a subgraph of {by}: {}", inlined_state(by));
                self.problem(at, &name, vec![], reason);
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
            if let Some(by) = inlined_by {
                // Each pass maps and names every operand again.
                g.inlined += op_inputs.len() + op_outputs.len();
                if g.inlined > MAX_INLINED {
                    return invalid(format!(
                        "{at} {name}: the subgraphs {by} inlines, and those of the IFs \
                         and WHILEs they hold, take more than {MAX_INLINED} operands"
                    ));
                }
                if op_outputs.iter().any(|&t| t < scope.first_own) {
                    let reason = format!(
                        "writes an operand of its {by}: TFLM writes only the subgraph's copy"
                    );
                    self.problem(at, &name, vec![], reason);
                    continue;
                }
                // Loop counters and conditions, which WHILE must know (an
                // IF alone keeps its ops, whose condition it selects on).
                let options = op.table(4)?;
                let in_loop = inlining.iter().any(|&(_, by)| by == "WHILE");
                if in_loop
                    && fold_constant_op(&name, options, &op_inputs, &op_outputs, &mut g.tensors)
                {
                    continue;
                }
                let (shapes, tensors) = (&mut g.pass_shapes, &mut g.tensors[..]);
                if shapes.settle(&name, options, &mut op_inputs, &op_outputs, tensors)? {
                    continue;
                }
            }
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
            if name == "WHILE" {
                let options = op.table(4)?;
                self.unrolled_while(parts, at, options, &op_inputs, &op_outputs, inlining, g)?;
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
                chain: Vec::new(),
                intermediates: Vec::new(),
                states: Vec::new(),
                output_state: false,
            };
            let kind = match convert(&mut reading) {
                // A loop's ops see one pass's values: a shape that changes
                // from pass to pass, where the file gives it as fixed, reads
                // as inconsistent (`pass_shapes` settles the open ones).
                Err(ReadError::Invalid(detail)) if inlined_by == Some("WHILE") => {
                    let reason = format!(
                        "{detail}: in a WHILE kiln unrolls, a shape that changes from \
                         pass to pass must be left open in the file (-1 in its shape \
                         signature), as TensorFlow leaves a tensor list's"
                    );
                    self.problem(at, &name, tensor_names, reason);
                    continue;
                }
                kind => kind?,
            };
            let TfliteOp {
                inputs: mut node_inputs,
                outputs: node_outputs,
                problems,
                chain,
                intermediates,
                states,
                output_state,
                ..
            } = reading;
            // The ids `TfliteOp::intermediate` gave, before any other tensor.
            g.tensors.extend(intermediates);
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
            // State belongs to one node; an operator read as several has
            // none (no converter gives both).
            if !chain.is_empty() && (!states.is_empty() || output_state) {
                let reason = "kiln reads it as several nodes, which cannot keep state".into();
                self.problem(at, &name, tensor_names, reason);
                continue;
            }
            // State the operator keeps itself (TFLM allocates it in the
            // kernel's Prepare): a variable tensor of its own, read and
            // written as the node's last inputs.
            for (what, shape, dtype) in states {
                if let Some(by) = inlined_by {
                    let reason = format!(
                        "keeps a {what} in a subgraph of {by}: {}",
                        inlined_state(by)
                    );
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
            if let Some(&out) = node_outputs.first().filter(|_| output_state) {
                if let Some(by) = inlined_by {
                    let reason = format!(
                        "keeps its output in a subgraph of {by}: {}",
                        inlined_state(by)
                    );
                    self.problem(at, &name, tensor_names.clone(), reason);
                } else if !g.variables.contains(&out) {
                    g.variables.push(out);
                }
            }
            if chain.is_empty() {
                g.nodes.push(Node {
                    kind,
                    inputs: node_inputs,
                    outputs: node_outputs,
                    source_name: name,
                });
            } else {
                for (kind, inputs, outputs) in chain {
                    g.nodes.push(Node {
                        kind,
                        inputs,
                        outputs,
                        source_name: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Records a problem of the operator at `at` (one in a branch named
    /// with its subgraph, its index being that subgraph's).
    pub(super) fn problem(&mut self, at: Site, name: &str, tensors: Vec<String>, reason: String) {
        let (op_index, op_name) = match at.subgraph {
            0 => (Some(at.op), name.to_owned()),
            _ => (None, format!("{name} ({at})")),
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
        inlining: &mut Inlining,
        g: &mut Reading,
    ) -> ReadResult<()> {
        // IfOptions: then_subgraph_index, else_subgraph_index.
        let branches = subgraph_indices(parts, at, "IF", options)?;
        let Some((&Some(condition), operands)) = inputs.split_first() else {
            return invalid(format!("{at} IF has no condition"));
        };
        let Some(operands) = operands.iter().copied().collect::<Option<Vec<_>>>() else {
            return invalid(format!("{at} IF has an absent operand"));
        };
        let names = |g: &Reading| {
            let operands = inputs.iter().flatten().chain(outputs);
            operands.map(|&t| g.tensors[t].name.clone()).collect()
        };
        let c = &g.tensors[condition];
        let refusal = if c.dtype != DataType::Bool || c.elements() != 1 {
            Some(format!(
                "a condition of {} values of {}: kiln takes one bool (TFLM reads the first)",
                c.elements(),
                c.dtype.name()
            ))
        } else if c.is_constant() {
            Some("a constant condition".into())
        } else if let Some(&b) = branches.iter().find(|&&b| contains(at, b, inlining)) {
            Some(format!("runs subgraph {b}, which contains it"))
        } else if let Some(&v) = operands.iter().find(|v| g.variables.contains(v)) {
            // The branch would update the variable itself, taken or not.
            Some(format!(
                "passes variable '{}' to its branches: kiln runs both",
                g.tensors[v].name
            ))
        } else {
            outputs.iter().find_map(|&o| {
                let o = &g.tensors[o];
                let kept = matches!(o.dtype, DataType::I8 | DataType::I16 | DataType::F32);
                (!kept || o.elements() == 0 || o.shape.len() < c.shape.len()).then(|| {
                    format!(
                        "output '{}' of {} {:?}: kiln selects int8, int16 and float32 \
                         values, of at least the condition's rank",
                        o.name,
                        o.dtype.name(),
                        o.shape
                    )
                })
            })
        };
        if let Some(reason) = refusal {
            self.problem(at, "IF", names(g), reason);
            return Ok(());
        }
        if inlining.len() >= MAX_NESTING {
            return invalid(format!(
                "{} IF: IFs nested more than {MAX_NESTING} deep",
                at
            ));
        }
        // Both branches, so that the problems of each are reported.
        let mut results = Vec::new();
        for b in branches {
            let r = self.branch(parts, (at, "IF"), b, &operands, inlining, g)?;
            if let Some(r) = &r {
                if r.len() != outputs.len() {
                    return invalid(format!(
                        "{} IF has {} outputs, but subgraph {b} gives {}",
                        at,
                        outputs.len(),
                        r.len()
                    ));
                }
            }
            results.push(r);
        }
        let [Some(then), Some(other)] = &results[..] else {
            return Ok(());
        };
        for (k, &out) in outputs.iter().enumerate() {
            let (then, other) = (then[k], other[k]);
            // TFLM copies the branch's bytes into the output as they are.
            let o = &g.tensors[out];
            let differs = [then, other]
                .into_iter()
                .find(|&t| !same_bytes_meaning(&g.tensors[t], o));
            let reason = match differs {
                Some(t) => format!(
                    "output {k}: '{}' of its branch differs from '{}' in type, shape or \
                     quantization",
                    g.tensors[t].name, o.name
                ),
                None if g.tensors[then].is_constant() && g.tensors[other].is_constant() => {
                    format!("output {k}: both branches give a constant")
                }
                None => {
                    g.nodes.push(Node {
                        kind: OpKind::Select(crate::ops::Select),
                        inputs: vec![Some(condition), Some(then), Some(other)],
                        outputs: vec![out],
                        source_name: "IF".into(),
                    });
                    continue;
                }
            };
            self.problem(at, "IF", names(g), reason);
        }
        Ok(())
    }

    /// Inlines subgraph `b` of the op `by` (IF or WHILE) at `at` on
    /// `operands`: its inputs are the operands, its other tensors new in
    /// the graph (named after the subgraph). Returns the graph tensors of
    /// its outputs, or `None` where a problem is recorded.
    pub(super) fn branch(
        &mut self,
        parts: &ModelParts,
        (at, by): (Site, &'static str),
        b: usize,
        operands: &[TensorId],
        inlining: &mut Inlining,
        g: &mut Reading,
    ) -> ReadResult<Option<Vec<TensorId>>> {
        let sg = parts.subgraphs.table(b)?;
        let inputs = sg.vector(1, 4)?.map(|v| v.i32s()).unwrap_or_default();
        let outputs = sg.vector(2, 4)?.map(|v| v.i32s()).unwrap_or_default();
        if inputs.len() != operands.len() {
            return invalid(format!(
                "{} {by} passes {} operands to subgraph {b}, which takes {}",
                at,
                operands.len(),
                inputs.len()
            ));
        }
        let prefix = match sg.string(4)? {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("subgraph {b}"),
        };
        let tensors = sg.vector(0, 4)?;
        let count = tensors.as_ref().map_or(0, |v| v.len());
        let ops = sg.vector(3, 4)?.map_or(0, |v| v.len());
        // Which operand each of the branch's tensors is, if any.
        let mut operand_of = vec![None; count];
        for (k, &i) in inputs.iter().enumerate() {
            match usize::try_from(i).ok().and_then(|i| operand_of.get_mut(i)) {
                Some(slot @ None) => *slot = Some(operands[k]),
                _ => {
                    return invalid(format!(
                        "subgraph {b}'s input {k} is tensor {i}: out of range or repeated"
                    ))
                }
            }
        }
        g.inlined += 1 + count + ops;
        let mut map = Vec::with_capacity(count);
        let first_own = g.tensors.len();
        for (i, t) in tensors.iter().flat_map(|v| v.tables()).enumerate() {
            let t = t?;
            let mut tensor = self.tensor(i, t, parts.buffers)?;
            let variable = t.bool(5, false)?;
            g.inlined += tensor.data.as_ref().map_or(0, |d| d.len() / 1024);
            if g.inlined > MAX_INLINED {
                return invalid(format!(
                    "{} {by}: its subgraphs, and those of the IFs and WHILEs they hold, \
                     inline more than {MAX_INLINED} tensors and ops",
                    at
                ));
            }
            match operand_of[i] {
                // TFLM copies the operand's bytes into the branch's input.
                Some(o) => {
                    let outer = &g.tensors[o];
                    if !same_bytes_meaning(outer, &tensor) {
                        let reason = format!(
                            "operand '{}' differs from subgraph {b}'s input '{}' in type, \
                             shape or quantization",
                            outer.name, tensor.name
                        );
                        self.problem(at, by, vec![], reason);
                        return Ok(None);
                    }
                    map.push(o);
                }
                None if tensor.is_constant() && !variable => {
                    let id = *g.constants.entry((b, i)).or_insert(g.tensors.len());
                    if id == g.tensors.len() {
                        tensor.name = format!("{prefix}/{}", tensor.name);
                        g.tensors.push(tensor);
                    }
                    map.push(id);
                }
                None => {
                    if variable {
                        let reason = format!("subgraph {b} holds a variable tensor");
                        self.problem(at, by, vec![], reason);
                        return Ok(None);
                    }
                    tensor.name = format!("{prefix}/{}", tensor.name);
                    // TensorFlow leaves open the shapes of a loop's tensor
                    // list (`pass_shapes`).
                    let signature = t.vector(7, 4)?.map(|v| v.i32s()).unwrap_or_default();
                    if by == "WHILE" && signature.contains(&-1) {
                        g.pass_shapes.open.insert(g.tensors.len());
                    }
                    map.push(g.tensors.len());
                    g.tensors.push(tensor);
                }
            }
        }
        let problems = self.problems.len();
        inlining.push((b, by));
        let scope = Scope {
            subgraph: b,
            map: &map,
            first_own,
        };
        self.operators(parts, &scope, inlining, g)?;
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

/// The two subgraph indices of an IF's or WHILE's options (then and else;
/// condition and body), each checked to be in the model.
pub(super) fn subgraph_indices(
    parts: &ModelParts,
    at: Site,
    by: &str,
    options: Option<Table>,
) -> ReadResult<[usize; 2]> {
    let mut indices = [0; 2];
    for (slot, index) in indices.iter_mut().enumerate() {
        let v = options.map_or(Ok(0), |t| t.i32(slot, 0))?;
        *index = match usize::try_from(v) {
            Ok(b) if b < parts.subgraphs.len() => b,
            _ => {
                return invalid(format!(
                    "{at} {by} runs subgraph {v}, but there are {}",
                    parts.subgraphs.len()
                ))
            }
        };
    }
    Ok(indices)
}

/// Whether subgraph `b`, run by the op at `at`, contains that op: it is
/// the main subgraph, the op's own, or one inlined around it.
pub(super) fn contains(at: Site, b: usize, inlining: &Inlining) -> bool {
    b == at.subgraph || b == 0 || inlining.iter().any(|&(s, _)| s == b)
}

/// Whether bytes copied from one tensor into the other (as TFLM's IF copies
/// operands in and results out) mean the same values: the same type, shape
/// and quantization.
pub(super) fn same_bytes_meaning(a: &Tensor, b: &Tensor) -> bool {
    (a.dtype, &a.shape, &a.quantization) == (b.dtype, &b.shape, &b.quantization)
}
