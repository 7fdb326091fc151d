//! FLOOR_DIV and FLOOR_MOD: float32 only, as in TFLM, on the broadcasting
//! binary walk of `ops::elementwise`.
//!
//! Layer: ops; uses `lower` and `ops::elementwise`.

use kiln::graph::Op;
use kiln::ops::{FloorDivF32Op, FloorModF32Op};

use super::elementwise::binary_f32;
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{Activation, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};

/// FLOOR_DIV, or with `modulo` FLOOR_MOD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloorDivMod {
    pub modulo: bool,
}

impl FloorDivMod {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("FLOOR_DIV", |_| {
                Ok(OpKind::FloorDivMod(FloorDivMod { modulo: false }))
            }),
            ("FLOOR_MOD", |_| {
                Ok(OpKind::FloorDivMod(FloorDivMod { modulo: true }))
            }),
        ],
        onnx: &[],
        dtypes: Dtypes::FLOAT32_BETWEEN_QUANTIZE,
    };
}

impl IrOp for FloorDivMod {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        if self.modulo {
            "FLOOR_MOD"
        } else {
            "FLOOR_DIV"
        }
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if !cx.is_float(node) {
            return unsupported(format!("{} of other types than float32", self.name()));
        }
        let binary = binary_f32(cx, node, Activation::None)?;
        Ok(Some(match self.modulo {
            true => Op::FloorModF32(FloorModF32Op { binary }),
            false => Op::FloorDivF32(FloorDivF32Op { binary }),
        }))
    }
}
