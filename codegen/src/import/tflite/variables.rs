//! Resource variables in a TFLite model, resolved at import.
//!
//! TensorFlow's converter writes a model with `tf.Variable` state as
//! several subgraphs: the main one starts with CALL_ONCE, which runs
//! another subgraph before the first inference (it assigns each variable
//! its initial value); VAR_HANDLE names a variable (by container and
//! shared name) as a resource tensor; READ_VARIABLE copies the variable
//! into a tensor and ASSIGN_VARIABLE copies a tensor into it. TFLite Micro
//! keeps each variable in a buffer of its own, filled with the zero point
//! of the first tensor assigned to it until the first assignment.
//!
//! kiln resolves all of it here, once: each shared name becomes one
//! variable tensor of the graph (state, like SVDF's memory), the READ and
//! ASSIGN nodes read and write it directly, and CALL_ONCE's subgraph,
//! which may only assign constants, becomes the variables' initial values
//! (the state a fresh model, and a reset one, starts from). VAR_HANDLE and
//! CALL_ONCE leave no node behind.
//!
//! Layer: import; uses the TFLite reader (`super`) and `ir`.

use std::collections::HashMap;

use super::super::flatbuffer::{Table, Vector};
use super::{builtin_name, invalid, ReadResult, Reader};
use crate::error::Unsupported;
use crate::ir::{Tensor, TensorId};

/// The main subgraph's variables, resolved.
#[derive(Default)]
pub(super) struct Variables {
    /// Each VAR_HANDLE output (a resource tensor of the main subgraph) and
    /// the variable tensor it names.
    pub handles: HashMap<TensorId, TensorId>,
    /// The subgraphs CALL_ONCE runs, folded into `initial`.
    pub init_subgraphs: Vec<usize>,
    /// The variable tensors, appended to the main subgraph's tensors.
    pub tensors: Vec<TensorId>,
    /// Initial values CALL_ONCE's subgraphs assign.
    pub initial: Vec<(TensorId, Vec<u8>)>,
}

/// One operator of a subgraph, as the file has it.
struct RawOp<'a> {
    name: String,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Option<Table<'a>>,
}

fn raw_ops<'a>(sg: Table<'a>, opcodes: &[(i32, Option<String>)]) -> ReadResult<Vec<RawOp<'a>>> {
    let Some(ops) = sg.vector(3, 4)? else {
        return Ok(vec![]);
    };
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.tables().enumerate() {
        let op = op?;
        let opcode = op.u32(0, 0)? as usize;
        let Some((code, custom)) = opcodes.get(opcode) else {
            return invalid(format!(
                "op #{i} uses opcode {opcode}, but there are {}",
                opcodes.len()
            ));
        };
        out.push(RawOp {
            name: builtin_name(*code, custom.as_deref()),
            inputs: op.vector(1, 4)?.map(|v| v.i32s()).unwrap_or_default(),
            outputs: op.vector(2, 4)?.map(|v| v.i32s()).unwrap_or_default(),
            options: op.table(4)?,
        });
    }
    Ok(out)
}

/// VAR_HANDLE's container and shared name, which name one variable.
fn handle_key(op: &RawOp) -> ReadResult<(String, String)> {
    let (container, name) = match op.options {
        Some(t) => (t.string(0)?.unwrap_or(""), t.string(1)?.unwrap_or("")),
        None => ("", ""),
    };
    Ok((container.to_owned(), name.to_owned()))
}

/// Tensor `i` of a subgraph of `count` tensors (`-1` and others outside
/// are malformed here: variable ops have no optional operands).
fn index(i: Option<&i32>, count: usize, what: &str) -> ReadResult<usize> {
    match i.and_then(|&i| usize::try_from(i).ok()) {
        Some(i) if i < count => Ok(i),
        _ => invalid(format!("{what} has no tensor")),
    }
}

impl Reader<'_> {
    fn variable_problem(&mut self, op_index: Option<usize>, op_name: &str, reason: String) {
        self.problems.push(Unsupported {
            op_index,
            op_name: op_name.into(),
            tensors: vec![],
            reason,
        });
    }

    /// Resolves the variables of the main subgraph (`tensors` are its
    /// tensors; the variables are appended to them).
    pub(super) fn variables(
        &mut self,
        subgraphs: Vector,
        opcodes: &[(i32, Option<String>)],
        buffers: Option<Vector>,
        tensors: &mut Vec<Tensor>,
    ) -> ReadResult<Variables> {
        let main = raw_ops(subgraphs.table(0)?, opcodes)?;
        let mut out = Variables::default();
        // Each variable's (container, shared name).
        let mut names: Vec<(String, String)> = Vec::new();
        // The shared name each main-subgraph resource tensor stands for.
        let mut handle_name: HashMap<TensorId, usize> = HashMap::new();
        // Per shared name: the tensors read from it or assigned to it, in
        // op order, each with whether it is assigned.
        let mut uses: Vec<Vec<(TensorId, bool)>> = Vec::new();
        let mut accessed = false;
        let name_index = |names: &mut Vec<_>, uses: &mut Vec<_>, name: (String, String)| {
            names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                uses.push(Vec::new());
                names.len() - 1
            })
        };
        for (i, op) in main.iter().enumerate() {
            match op.name.as_str() {
                "CALL_ONCE" => {
                    let s = match op.options {
                        Some(t) => t.i32(0, 0)?,
                        None => 0,
                    };
                    let s = match usize::try_from(s) {
                        Ok(s) if s >= 1 && s < subgraphs.len() => s,
                        _ => {
                            return invalid(format!(
                                "op #{i} CALL_ONCE runs subgraph {s}, but there are {}",
                                subgraphs.len()
                            ))
                        }
                    };
                    if accessed {
                        self.variable_problem(
                            Some(i),
                            "CALL_ONCE",
                            "comes after a variable is read or assigned; kiln runs CALL_ONCE's \
                             subgraph before the first inference"
                                .into(),
                        );
                    }
                    out.init_subgraphs.push(s);
                }
                "VAR_HANDLE" => {
                    let handle = index(op.outputs.first(), tensors.len(), "VAR_HANDLE")?;
                    let k = name_index(&mut names, &mut uses, handle_key(op)?);
                    handle_name.insert(handle, k);
                }
                "READ_VARIABLE" | "ASSIGN_VARIABLE" => {
                    accessed = true;
                    let assign = op.name == "ASSIGN_VARIABLE";
                    let handle = index(op.inputs.first(), tensors.len(), &op.name)?;
                    let value = if assign {
                        index(op.inputs.get(1), tensors.len(), &op.name)?
                    } else {
                        index(op.outputs.first(), tensors.len(), &op.name)?
                    };
                    match handle_name.get(&handle) {
                        Some(&k) => uses[k].push((value, assign)),
                        None => self.variable_problem(
                            Some(i),
                            &op.name,
                            format!(
                                "its resource '{}' is not a VAR_HANDLE before it",
                                tensors[handle].name
                            ),
                        ),
                    }
                }
                _ => {}
            }
        }

        // The constants CALL_ONCE's subgraphs assign, by variable.
        let mut initial: HashMap<(String, String), Tensor> = HashMap::new();
        for &s in &out.init_subgraphs {
            let sg = subgraphs.table(s)?;
            let mut sg_tensors = Vec::new();
            if let Some(ts) = sg.vector(0, 4)? {
                for (i, t) in ts.tables().enumerate() {
                    sg_tensors.push(self.tensor(i, t?, buffers)?);
                }
            }
            let mut handles: HashMap<usize, (String, String)> = HashMap::new();
            for (i, op) in raw_ops(sg, opcodes)?.iter().enumerate() {
                let what = format!("subgraph {s} op #{i} {}", op.name);
                match op.name.as_str() {
                    "VAR_HANDLE" => {
                        let handle = index(op.outputs.first(), sg_tensors.len(), &what)?;
                        handles.insert(handle, handle_key(op)?);
                    }
                    "ASSIGN_VARIABLE" => {
                        let handle = index(op.inputs.first(), sg_tensors.len(), &what)?;
                        let value = &sg_tensors[index(op.inputs.get(1), sg_tensors.len(), &what)?];
                        match (handles.get(&handle), &value.data) {
                            (Some(name), Some(_)) => {
                                initial.insert(name.clone(), value.clone());
                            }
                            (None, _) => self.variable_problem(
                                None,
                                "CALL_ONCE",
                                format!("{what}: its resource is not a VAR_HANDLE before it"),
                            ),
                            (_, None) => self.variable_problem(
                                None,
                                "CALL_ONCE",
                                format!(
                                    "{what} assigns a computed value; kiln folds CALL_ONCE's \
                                     subgraph only when it assigns constants"
                                ),
                            ),
                        }
                    }
                    other => self.variable_problem(
                        None,
                        "CALL_ONCE",
                        format!(
                            "subgraph {s} runs {other}; kiln folds CALL_ONCE's subgraph only \
                             when it assigns constants"
                        ),
                    ),
                }
            }
        }

        // One variable tensor per shared name the main subgraph uses: the
        // type, shape and quantization of the first tensor assigned to it
        // (whose zero point TFLM fills it with), else of its initial value.
        for (k, key) in names.iter().enumerate() {
            if uses[k].is_empty() {
                continue;
            }
            let name = &key.1;
            let init = initial.get(key);
            let first_assigned = uses[k].iter().find(|u| u.1).map(|u| &tensors[u.0]);
            let Some(template) = first_assigned.or(init) else {
                self.variable_problem(
                    None,
                    "READ_VARIABLE",
                    format!(
                        "variable '{name}' is read but never assigned (TFLite Micro has no \
                         value for it)"
                    ),
                );
                continue;
            };
            let agrees =
                |t: &Tensor| t.dtype == template.dtype && t.elements() == template.elements();
            if !uses[k].iter().all(|u| agrees(&tensors[u.0])) || !init.is_none_or(agrees) {
                return invalid(format!(
                    "variable '{name}' is read or assigned with different types or sizes"
                ));
            }
            let variable = Tensor {
                name: if name.is_empty() {
                    "variable".into()
                } else {
                    name.clone()
                },
                shape: template.shape.clone(),
                dtype: template.dtype,
                quantization: template.quantization.clone(),
                data: None,
            };
            let init = init.and_then(|t| t.data.clone());
            tensors.push(variable);
            let id = tensors.len() - 1;
            out.tensors.push(id);
            for (&handle, _) in handle_name.iter().filter(|(_, &n)| n == k) {
                out.handles.insert(handle, id);
            }
            if let Some(bytes) = init {
                out.initial.push((id, bytes));
            }
        }
        Ok(out)
    }
}
