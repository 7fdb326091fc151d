//! SLICE with positive steps (ONNX Slice), of int8 (quantization unchanged)
//! or float32 values.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::slice::SliceParams;
use kiln::ops::SliceOp;
use kiln::tensor::MAX_RANK;

use super::{permute_shape, Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};

/// Takes `begin[d] + k * step[d]` for every output coordinate `k` of each
/// dimension (the output shape gives the count); steps positive.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub begin: Vec<usize>,
    pub step: Vec<usize>,
}

impl Slice {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[],
        onnx: &[OnnxConverter {
            op_type: "Slice",
            inputs: 1,
            convert: slice_from_onnx,
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for Slice {
    fn permuted(&self, _node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        if self.begin.len() != to_new.len() || self.step.len() != to_new.len() {
            return None;
        }
        Some(Permuted {
            kind: OpKind::Slice(Slice {
                begin: permute_shape(&self.begin, to_new),
                step: permute_shape(&self.step, to_new),
            }),
            data_inputs: vec![0],
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "SLICE"
    }

    fn attributes(&self) -> String {
        format!("begin {:?} step {:?}", self.begin, self.step)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let (in_shape, out_shape) = (cx.shape(input).to_vec(), cx.shape(out).to_vec());
        let dtype = cx.dtype(input);
        let rank = in_shape.len();
        if rank > MAX_RANK
            || out_shape.len() != rank
            || self.begin.len() != rank
            || self.step.len() != rank
        {
            return invalid(format!("slice of {in_shape:?} to {out_shape:?}"));
        }
        if dtype != DataType::I8 && dtype != DataType::F32 {
            return unsupported(format!("SLICE of {}", dtype.name()));
        }
        if dtype == DataType::I8 {
            cx.same_quantization(input, out, "SLICE")?;
        }
        let lead = MAX_RANK - rank;
        let mut params = SliceParams {
            input_dims: [1; MAX_RANK],
            output_dims: [1; MAX_RANK],
            begin: [0; MAX_RANK],
            step: [1; MAX_RANK],
            element_size: dtype.size() as u32,
        };
        for d in 0..rank {
            params.input_dims[lead + d] = to_u32(in_shape[d])?;
            params.output_dims[lead + d] = to_u32(out_shape[d])?;
            params.begin[lead + d] = to_u32(self.begin[d])?;
            params.step[lead + d] = to_u32(self.step[d])?;
            let fits = params
                .last_read(lead + d)
                .is_none_or(|last| last < in_shape[d] as u64);
            if self.step[d] == 0 || !fits {
                return invalid(format!("slice of {in_shape:?} reads past axis {d}"));
            }
        }
        let (input, output) = cx.spans((input, out), dtype)?;
        Ok(Some(Op::Slice(SliceOp {
            params,
            input,
            output,
        })))
    }
}

/// Slice of a computed value with constant starts, ends, axes and
/// (positive) steps.
fn slice_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let ints = |i: usize, attr: &str| -> Step<Option<Vec<i64>>> {
        match n.inputs.get(i).filter(|s| !s.is_empty()) {
            Some(name) => {
                Ok(Some(cx.constant(name)?.i64s().ok_or_else(|| {
                    format!("Slice input {i} must be an integer constant")
                })?))
            }
            None => Ok(n.ints(attr).map(<[i64]>::to_vec)),
        }
    };
    let starts = ints(1, "starts")?.ok_or("Slice without starts")?;
    let ends = ints(2, "ends")?.ok_or("Slice without ends")?;
    let shape = cx.shape(x);
    let rank = shape.len();
    let axes = ints(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut begin = vec![0usize; rank];
    let mut step = vec![1usize; rank];
    let mut out = shape.clone();
    for k in 0..starts.len() {
        let a = if axes[k] < 0 {
            axes[k] + rank as i64
        } else {
            axes[k]
        };
        let a = usize::try_from(a)
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| format!("axis {} out of range", axes[k]))?;
        if steps[k] <= 0 {
            return Err(format!("Slice step {} (kiln: positive steps)", steps[k]));
        }
        let dim = shape[a] as i64;
        let clamp = |v: i64| (if v < 0 { v.saturating_add(dim) } else { v }).clamp(0, dim);
        let (s, e) = (clamp(starts[k]), clamp(ends[k]));
        let count = if e > s { (e - s - 1) / steps[k] + 1 } else { 0 };
        if count == 0 {
            return Err(format!("Slice of axis {a} is empty"));
        }
        begin[a] = s as usize;
        step[a] = steps[k] as usize;
        out[a] = count as usize;
    }
    let out = cx.new_output(n, out);
    cx.push(
        OpKind::Slice(Slice { begin, step }),
        vec![Some(x)],
        vec![out],
        "Slice",
    );
    Ok(())
}
