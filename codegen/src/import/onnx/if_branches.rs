//! ONNX If, inlined by predication as TFLite's IF is (`import::tflite`'s
//! subgraph reading): both branch graphs are converted in the outer
//! graph's scope (a branch reads outer values by name), their own names
//! prefixed so that the two branches cannot meet, and a Where on the
//! condition picks each output. kiln's kernels cannot fail on the branch
//! not taken, so this gives ONNX's values at the cost of both branches. A
//! constant condition inlines only the branch it takes.
//!
//! Layer: import (part of the ONNX importer); uses `proto` and the node
//! conversion of the importer's `mod`.

use std::collections::HashSet;

use super::proto::{parse_node, parse_tensor, parse_value_info, OnnxNode, OnnxTensor};
use super::{constant_value, convert, Importer, Step};
use crate::import::protobuf::{fields, Value};
use crate::ir::{checked_elements, DataType};

/// How deep Ifs may nest in branches: each level can double the nodes, so
/// a forged file could otherwise exhaust the tool's memory or stack.
const MAX_NESTING: usize = 8;

/// A branch graph as the file has it.
struct Branch {
    nodes: Vec<OnnxNode>,
    initializers: Vec<OnnxTensor>,
    outputs: Vec<String>,
}

fn branch(n: &OnnxNode, attribute: &str) -> Step<Branch> {
    let Some(bytes) = n.attributes.get(attribute).and_then(|a| a.g.as_deref()) else {
        return Err(format!("If without its {attribute}"));
    };
    let mut b = Branch {
        nodes: vec![],
        initializers: vec![],
        outputs: vec![],
    };
    let bad = |e: crate::import::protobuf::PbError| format!("{attribute}: {e}");
    for f in fields(bytes) {
        match f.map_err(bad)? {
            (1, Value::Bytes(x)) => b.nodes.push(parse_node(x).map_err(bad)?),
            (5, Value::Bytes(x)) => b.initializers.push(parse_tensor(x).map_err(bad)?),
            (12, Value::Bytes(x)) => b.outputs.push(parse_value_info(x).map_err(bad)?.0),
            _ => {}
        }
    }
    if b.outputs.len() != n.outputs.len() {
        return Err(format!(
            "{} outputs, but its {attribute} gives {}",
            n.outputs.len(),
            b.outputs.len()
        ));
    }
    Ok(b)
}

/// If: `then_branch` or `else_branch` by a one-value bool condition.
pub(super) fn if_node(imp: &mut Importer, n: &OnnxNode) -> Step<()> {
    if imp.nesting >= MAX_NESTING {
        return Err(format!("Ifs nested more than {MAX_NESTING} deep"));
    }
    let branches = [branch(n, "then_branch")?, branch(n, "else_branch")?];
    let condition = &n.inputs[0];
    if let Some(c) = imp.constants.get(condition) {
        // The branch taken is known: only it is converted.
        let value = match (c.raw.first(), c.ints.first()) {
            (Some(&b), _) => b != 0,
            (None, Some(&i)) => i != 0,
            (None, None) => return Err("an empty constant condition".into()),
        };
        let taken = if value { 0 } else { 1 };
        let results = inline(imp, n, taken, &branches[taken])?;
        for (out, result) in n.outputs.iter().zip(results) {
            match imp.constants.get(&result).cloned() {
                Some(c) => {
                    let name = out.clone();
                    imp.constants.insert(name.clone(), OnnxTensor { name, ..c });
                }
                None => {
                    let v = imp.value(&result)?;
                    imp.values.insert(out.clone(), v);
                }
            }
        }
        return Ok(());
    }
    let c = imp.value(condition)?;
    let c = &imp.g.tensors[c];
    if c.dtype != DataType::Bool || c.elements() != 1 {
        return Err(format!(
            "a condition of {} values of {}: kiln takes one bool",
            c.elements(),
            c.dtype.name()
        ));
    }
    let then = inline(imp, n, 0, &branches[0])?;
    let other = inline(imp, n, 1, &branches[1])?;
    for ((out, then), other) in n.outputs.iter().zip(then).zip(other) {
        // ONNX lets the branches' shapes differ; a Where would broadcast
        // them into a shape neither has.
        let (a, b) = (shape(imp, &then)?, shape(imp, &other)?);
        if a != b {
            return Err(format!(
                "output '{out}': the branches give shapes {a:?} and {b:?}"
            ));
        }
        let select = OnnxNode {
            inputs: vec![condition.clone(), then, other],
            outputs: vec![out.clone()],
            name: n.name.clone(),
            op_type: "Where".into(),
            ..OnnxNode::default()
        };
        convert(imp, &select)?;
    }
    Ok(())
}

/// The shape of a value or constant.
fn shape(imp: &Importer, name: &str) -> Step<Vec<usize>> {
    match imp.constants.get(name) {
        Some(c) => c
            .shape()
            .ok_or_else(|| format!("'{name}': a negative dimension")),
        None => Ok(imp.shape(imp.value(name)?).to_vec()),
    }
}

/// Converts branch `which` (0: then, 1: else) of If `n` in the outer
/// scope; returns the names its outputs have there.
fn inline(imp: &mut Importer, n: &OnnxNode, which: usize, b: &Branch) -> Step<Vec<String>> {
    let label = ["then_branch", "else_branch"][which];
    // Names the branch defines, prefixed with the If's first output (a
    // name no other node defines) and the branch.
    let own: HashSet<&str> = (b.initializers.iter().map(|t| t.name.as_str()))
        .chain(
            b.nodes
                .iter()
                .flat_map(|n| n.outputs.iter().map(String::as_str)),
        )
        .filter(|s| !s.is_empty())
        .collect();
    let prefix = format!("{}/{label}/", n.outputs[0]);
    let rename = |s: &String| match own.contains(s.as_str()) {
        true => format!("{prefix}{s}"),
        false => s.clone(),
    };
    for t in &b.initializers {
        let name = rename(&t.name);
        if let Some(shape) = t.shape() {
            checked_elements(&shape).ok_or_else(|| format!("'{name}': too large"))?;
        }
        imp.constants
            .insert(name.clone(), OnnxTensor { name, ..t.clone() });
    }
    imp.nesting += 1;
    for node in &b.nodes {
        let node = OnnxNode {
            inputs: node.inputs.iter().map(rename).collect(),
            outputs: node.outputs.iter().map(rename).collect(),
            ..node.clone()
        };
        let known = imp.g.tensors.len();
        let converted = match (node.op_type.as_str(), node.outputs.first()) {
            ("Constant", Some(out)) => match constant_value(&node) {
                Some(t) => {
                    let name = out.clone();
                    imp.constants.insert(name.clone(), OnnxTensor { name, ..t });
                    Ok(())
                }
                None => Err("a Constant without a value".into()),
            },
            _ => convert(imp, &node),
        };
        // As for the outer graph's nodes: a shape computed from hostile
        // attributes stops here, before the next converter uses it.
        let too_large = imp.g.tensors[known..]
            .iter()
            .find(|t| checked_elements(&t.shape).is_none());
        let converted = match too_large {
            Some(t) => Err(format!("tensor '{}' is too large", t.name)),
            None => converted,
        };
        if let Err(e) = converted {
            imp.nesting -= 1;
            return Err(format!(
                "{label}, node {} ({}): {e}",
                node.name, node.op_type
            ));
        }
    }
    imp.nesting -= 1;
    Ok(b.outputs.iter().map(rename).collect())
}
