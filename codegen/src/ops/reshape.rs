//! RESHAPE and SQUEEZE (and ONNX Flatten, Reshape, Squeeze, Unsqueeze):
//! the same bytes under another shape. The planner gives the output the
//! input's bytes, so nothing runs.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;

use super::{IrOp, QuantRule};
use crate::ir::Node;
use crate::lower::{invalid, unsupported, Lowered, Lowering};

/// RESHAPE (SQUEEZE imports as one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reshape;

impl IrOp for Reshape {
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
        if cx.tensor(input).bytes() != cx.tensor(out).bytes() || cx.dtype(input) != cx.dtype(out)
        {
            return invalid("RESHAPE changes the number of bytes");
        }
        Ok(None)
    }

    fn stack_cortex_m4(&self) -> usize {
        0
    }
}
