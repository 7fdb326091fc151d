//! RESHAPE and SQUEEZE (and ONNX Flatten, Reshape, Squeeze, Unsqueeze):
//! the same bytes under another shape. The planner gives the output the
//! input's bytes, so nothing runs.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{Graph, Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// RESHAPE (SQUEEZE imports as one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reshape;

impl Reshape {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("RESHAPE", |_| Ok(OpKind::Reshape(Reshape))),
            ("SQUEEZE", |_| Ok(OpKind::Reshape(Reshape))),
            ("EXPAND_DIMS", |_| Ok(OpKind::Reshape(Reshape))),
            // `import::tflite`'s subgraph reading unrolls the loop; each
            // output is then the last pass's value under another name.
            ("WHILE", |_| {
                crate::import::tflite::invalid("WHILE is unrolled where it is read")
            }),
        ],
        onnx: &[
            OnnxConverter {
                op_type: "Flatten",
                inputs: 1,
                convert: reshape_from_onnx,
            },
            OnnxConverter {
                op_type: "Reshape",
                inputs: 2,
                convert: reshape_from_onnx,
            },
            OnnxConverter {
                op_type: "Squeeze",
                inputs: 1,
                convert: reshape_from_onnx,
            },
            OnnxConverter {
                op_type: "Unsqueeze",
                inputs: 1,
                convert: reshape_from_onnx,
            },
        ],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: false,
            note: "no copy: the output is the input's bytes",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

impl IrOp for Reshape {
    fn aliases_input(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "RESHAPE"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        if cx.tensor(input).is_constant() {
            return unsupported("RESHAPE of a constant");
        }
        if cx.tensor(input).bytes() != cx.tensor(out).bytes() || cx.dtype(input) != cx.dtype(out) {
            return invalid("RESHAPE changes the number of bytes");
        }
        Ok(None)
    }

    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::default()
    }
}

/// ONNX Flatten, Reshape, Squeeze and Unsqueeze: a RESHAPE (the same bytes
/// under another shape).
fn reshape_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let op = n.op_type.as_str();
    let x = cx.value(&n.inputs[0])?;
    let s = cx.shape(x);
    let total = crate::ir::saturating_elements(&s);
    let axes = |i: usize, attr: &str| -> Step<Vec<i64>> {
        match n.inputs.get(i).filter(|s| !s.is_empty()) {
            Some(name) => cx
                .constant(name)?
                .i64s()
                .ok_or_else(|| "axes must be an integer constant".to_string()),
            None => Ok(n.ints(attr).map(|v| v.to_vec()).unwrap_or_default()),
        }
    };
    let shape: Vec<usize> = match op {
        "Flatten" => {
            let axis = n.int("axis", 1);
            let axis = if axis < 0 {
                axis + s.len() as i64
            } else {
                axis
            } as usize;
            let outer = crate::ir::saturating_elements(&s[..axis.min(s.len())]);
            vec![outer, total / outer.max(1)]
        }
        "Reshape" => {
            let target = cx
                .constant(&n.inputs[1])?
                .i64s()
                .ok_or("the shape must be an integer constant")?;
            let allow_zero = n.int("allowzero", 0) != 0;
            let mut out: Vec<usize> = target
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    if d == 0 && !allow_zero {
                        s.get(i).copied().unwrap_or(0)
                    } else {
                        d.max(0) as usize
                    }
                })
                .collect();
            if let Some(p) = target.iter().position(|&d| d == -1) {
                let known = out
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != p)
                    .fold(1usize, |n, (_, &d)| n.saturating_mul(d));
                out[p] = total.checked_div(known).unwrap_or(0);
            }
            out
        }
        "Squeeze" => {
            let a = axes(1, "axes")?;
            let rank = s.len() as i64;
            let a: Vec<usize> = a
                .iter()
                .map(|&d| (if d < 0 { d + rank } else { d }) as usize)
                .collect();
            s.iter()
                .enumerate()
                .filter(|&(i, &d)| {
                    if a.is_empty() {
                        d != 1
                    } else {
                        !a.contains(&i)
                    }
                })
                .map(|(_, &d)| d)
                .collect()
        }
        _ => {
            let a = axes(1, "axes")?;
            let rank = (s.len() + a.len()) as i64;
            let mut a: Vec<usize> = a
                .iter()
                .map(|&d| (if d < 0 { d + rank } else { d }) as usize)
                .collect();
            a.sort();
            let mut out = s.clone();
            for d in a {
                out.insert(d.min(out.len()), 1);
            }
            out
        }
    };
    if crate::ir::saturating_elements(&shape) != total {
        return Err(format!("cannot reshape {s:?} to {shape:?}"));
    }
    let out = cx.new_output(n, shape);
    cx.push(OpKind::Reshape(Reshape), vec![Some(x)], vec![out], op);
    Ok(())
}
