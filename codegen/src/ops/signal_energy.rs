//! SignalEnergy, the energy of TFLM's signal library (a custom operator):
//! the squared magnitude of each complex int16 bin of an FFT's spectrum,
//! as uint32, over the bins `start_index..end_index`. Audio front ends
//! take it between the FFT and the mel filter bank.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use kiln::graph::Op;
use kiln::ops::SignalEnergyOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalEnergy of bins `start..end`. Input: the spectrum, rank 1, int16
/// (real, imaginary) pairs; output: rank 1, one uint32 per bin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalEnergy {
    pub start: i64,
    pub end: i64,
}

impl SignalEnergy {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalEnergy", |op| {
            Ok(OpKind::SignalEnergy(SignalEnergy {
                start: op.custom_int("start_index")?,
                end: op.custom_int("end_index")?,
            }))
        })],
        onnx: &[],
        dtypes: Dtypes {
            note: "int16 bins to uint32 energies",
            ..Dtypes::INT16
        },
    };
}

impl IrOp for SignalEnergy {
    fn name(&self) -> &'static str {
        "SignalEnergy"
    }

    fn attributes(&self) -> String {
        format!("bins {}..{}", self.start, self.end)
    }

    /// Plain int16 bins, in an int16 front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_energy fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, out) = cx.input_output(node)?;
        let (spectrum, energy) = (cx.shape(x).to_vec(), cx.shape(out).to_vec());
        let [bins] = energy[..] else {
            return unsupported(format!("energies of shape {energy:?} (TFLM: rank 1)"));
        };
        if spectrum != [2 * bins] {
            return invalid(format!(
                "a spectrum of shape {spectrum:?} for {bins} energies (one int16 pair per bin)"
            ));
        }
        if !(0 <= self.start && self.start <= self.end && self.end <= bins as i64) {
            return invalid(format!(
                "energies of bins {}..{} of a spectrum of {bins}",
                self.start, self.end
            ));
        }
        Ok(Some(Op::SignalEnergy(SignalEnergyOp {
            start: to_u32(self.start as usize)?,
            end: to_u32(self.end as usize)?,
            input: cx.activation(x, DataType::I16)?,
            output: cx.activation(out, DataType::U32)?,
        })))
    }
}
