//! SignalFilterBankSquareRoot, of TFLM's signal library (a custom
//! operator): uint64 filter-bank channels (sums of weighted energies) to
//! their rounded square roots in uint32, scaled down by a constant number
//! of bits. Audio front ends take it right after the filter bank.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::SignalFilterBankSquareRootOp;
use kiln::tensor::Span;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalFilterBankSquareRoot. Inputs: uint64 channels (rank 1), the
/// scale-down bits (an int32 scalar, which kiln takes as a constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalFilterBankSquareRoot;

impl SignalFilterBankSquareRoot {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalFilterBankSquareRoot", |_| {
            Ok(OpKind::SignalFilterBankSquareRoot(
                SignalFilterBankSquareRoot,
            ))
        })],
        onnx: &[],
        dtypes: Dtypes {
            int16: false,
            other: true,
            note: "uint64 channels to uint32 roots; constant scale bits",
            ..Dtypes::INT16
        },
    };
}

impl IrOp for SignalFilterBankSquareRoot {
    fn name(&self) -> &'static str {
        "SignalFilterBankSquareRoot"
    }

    /// Plain uint64 channels, in an integer front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, bits, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        if cx.shape(x).len() != 1 || cx.shape(out) != cx.shape(x) {
            return unsupported(format!(
                "channels of shape {:?} to roots of shape {:?} (TFLM: rank 1, one root per channel)",
                cx.shape(x),
                cx.shape(out)
            ));
        }
        // A constant, or an int32 scalar the graph computes (an audio
        // front end's SignalFftAutoScale shift), read at run time.
        let (scale_down_bits, computed) = match cx.tensor(bits).data_i32().as_deref() {
            Some(&[b]) if (0..32).contains(&b) => (b as u32, Span::EMPTY),
            Some(&[b]) => {
                return unsupported(format!(
                    "scaling square roots down by {b} bits (TFLM shifts a uint32 by 0 to 31)"
                ))
            }
            None if cx.dtype(bits) == DataType::I32 && cx.tensor(bits).elements() == 1 => {
                (0, cx.activation(bits, DataType::I32)?)
            }
            _ => {
                return unsupported(
                    "square roots scaled down by other than one int32 (TFLM: an int32 scalar)",
                )
            }
        };
        Ok(Some(Op::SignalFilterBankSquareRoot(
            SignalFilterBankSquareRootOp {
                scale_down_bits,
                input: cx.activation(x, DataType::U64)?,
                bits: computed,
                output: cx.activation(out, DataType::U32)?,
            },
        )))
    }
}
