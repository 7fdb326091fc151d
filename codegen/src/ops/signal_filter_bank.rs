//! SignalFilterBank, the filter bank of TFLM's signal library (a custom
//! operator): uint32 spectral energies summed into uint64 (mel) channels by
//! overlapping triangular filters, given as constant int16 tables. Audio
//! front ends take it between the energy and the square root.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::signal_filter_bank::FilterBankTables;
use kiln::ops::SignalFilterBankOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalFilterBank. Inputs: energies (uint32, rank 1), then constant int16
/// tables: weights, unweights, and per band (channels + 1) its first
/// bin, first weight and width.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalFilterBank {
    pub channels: i64,
}

impl SignalFilterBank {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalFilterBank", |op| {
            Ok(OpKind::SignalFilterBank(SignalFilterBank {
                channels: op.custom_int("num_channels")?,
            }))
        })],
        onnx: &[],
        dtypes: Dtypes {
            int16: false,
            other: true,
            note: "uint32 energies to uint64 channels; constant tables",
            ..Dtypes::INT16
        },
    };
}

impl IrOp for SignalFilterBank {
    fn name(&self) -> &'static str {
        "SignalFilterBank"
    }

    fn attributes(&self) -> String {
        format!("channels {}", self.channels)
    }

    /// Plain uint32 energies, in an integer front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_filter_bank fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(164, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, out) = cx.input_output(node)?;
        let [bins] = cx.shape(x)[..] else {
            return unsupported(format!(
                "energies of shape {:?} (TFLM: rank 1)",
                cx.shape(x)
            ));
        };
        if self.channels < 1 || cx.shape(out) != [self.channels as usize] {
            return invalid(format!(
                "a filter bank of {} channels with an output of shape {:?}",
                self.channels,
                cx.shape(out)
            ));
        }
        let mut tables = Vec::new();
        for i in 1..=5 {
            let t = cx.input(node, i)?;
            tables.push(i16s(cx.weight_data(t, DataType::I16)?));
        }
        let fits = FilterBankTables {
            weights: &tables[0],
            unweights: &tables[1],
            frequency_starts: &tables[2],
            weight_starts: &tables[3],
            widths: &tables[4],
        }
        .fits(bins, self.channels as usize);
        if !fits {
            return invalid(format!(
                "filter bank tables whose {} bands (weights {}, unweights {}, bands {}/{}/{}) read outside {bins} energies or their weights",
                self.channels + 1,
                tables[0].len(),
                tables[1].len(),
                tables[2].len(),
                tables[3].len(),
                tables[4].len()
            ));
        }
        let mut span = |i: usize| -> Lowered<kiln::Span> {
            let t = cx.input(node, i)?;
            cx.copied_constant(t, DataType::I16)
        };
        Ok(Some(Op::SignalFilterBank(SignalFilterBankOp {
            weights: span(1)?,
            unweights: span(2)?,
            frequency_starts: span(3)?,
            weight_starts: span(4)?,
            widths: span(5)?,
            input: cx.activation(x, DataType::U32)?,
            output: cx.activation(out, DataType::U64)?,
        })))
    }
}

/// Little-endian int16 values.
fn i16s(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}
