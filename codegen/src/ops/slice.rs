//! SLICE with positive steps (ONNX Slice), of int8 (quantization unchanged)
//! or float32 values.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::slice::SliceParams;
use kiln::ops::SliceOp;
use kiln::tensor::MAX_RANK;

use super::{IrOp, QuantRule};
use crate::ir::{DataType, Node};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};

/// Takes `begin[d] + k * step[d]` for every output coordinate `k` of each
/// dimension (the output shape gives the count); steps positive.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub begin: Vec<usize>,
    pub step: Vec<usize>,
}

impl IrOp for Slice {
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
