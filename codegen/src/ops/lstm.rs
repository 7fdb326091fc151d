//! UNIDIRECTIONAL_SEQUENCE_LSTM: int8 with an int16 cell state, as TFLM's
//! integer kernel (its 2023 `lstm_eval.h`) prepares and computes it, and
//! float32. The hidden state (input 18) and cell state (input 19) are
//! variable tensors of the graph.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::ops::{LstmF32Op, LstmGate, LstmOp, LstmParams, LstmShape};

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// UNIDIRECTIONAL_SEQUENCE_LSTM. Inputs in TFLite's order: data, the four
/// input weights and four recurrent weights (input, forget, cell, output
/// gate), three peephole weights (absent), four gate biases, projection
/// weights and bias (absent), the hidden and cell states, four layer-norm
/// coefficients (absent).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnidirectionalSequenceLstm {
    /// The cell gate's activation is TANH (TFLM's kernel has no other).
    pub tanh: bool,
    pub cell_clip: f32,
    pub time_major: bool,
}

impl UnidirectionalSequenceLstm {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("UNIDIRECTIONAL_SEQUENCE_LSTM", from_tflite)],
        onnx: &[],
        dtypes: Dtypes {
            int8: true,
            int16: false,
            float32: true,
            note: "int8 with an int16 cell state; no peephole, projection or layer norm",
            int8_names: &[],
        },
    };
}

/// `UnidirectionalSequenceLSTMOptions`: activation, cell clip, projection
/// clip, time major.
fn from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    Ok(OpKind::UnidirectionalSequenceLstm(
        UnidirectionalSequenceLstm {
            tanh: op.i8(0, 0)? == 4,
            cell_clip: op.f32(1, 0.0)?,
            time_major: op.bool(3)?,
        },
    ))
}

/// Gate pre-activations are int16 in Q3.12, gate outputs Q0.15.
const GATE_INPUT_SCALE: f64 = 1.0 / 4096.0;
const GATE_OUTPUT_SCALE: f64 = 1.0 / 32768.0;

impl IrOp for UnidirectionalSequenceLstm {
    fn name(&self) -> &'static str {
        "UNIDIRECTIONAL_SEQUENCE_LSTM"
    }

    fn attributes(&self) -> String {
        format!(
            "cell clip {}{}",
            self.cell_clip,
            if self.time_major { " time major" } else { "" }
        )
    }

    /// A float32 model quantized by kiln keeps this layer in float32
    /// (its int8 kernel needs an int16 state kiln does not calibrate).
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// Four gates of `units` values per batch row: int16, or float32.
    fn scratch_bytes(&self, g: &Graph, node: &Node) -> usize {
        let state = node.input(18).map_or(0, |t| g.tensors[t].elements());
        let width = match node.input(0).map(|t| g.tensors[t].dtype) {
            Some(DataType::F32) => 4,
            _ => 2,
        };
        4 * state * width
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        if !matches!(cx.dtype(input), DataType::I8 | DataType::F32) {
            return unsupported(format!(
                "{} UNIDIRECTIONAL_SEQUENCE_LSTM (kiln: int8 with an int16 cell state, or float32)",
                cx.dtype(input).name()
            ));
        }
        for (range, what) in [
            (9..12, "peephole weights"),
            (16..18, "a projection"),
            (20..24, "layer normalization"),
        ] {
            if range.clone().any(|i| node.input(i).is_some()) {
                return unsupported(format!("UNIDIRECTIONAL_SEQUENCE_LSTM with {what}"));
            }
        }
        if !self.tanh {
            return unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM whose cell gate is not TANH");
        }
        let required = |i: usize| -> Lowered<TensorId> {
            node.input(i).map_or_else(
                || {
                    unsupported(format!(
                        "UNIDIRECTIONAL_SEQUENCE_LSTM without input {i} (CIFG)"
                    ))
                },
                Ok,
            )
        };
        let (hidden, cell) = (required(18)?, required(19)?);
        for state in [hidden, cell] {
            if !cx.graph().variables.contains(&state) {
                return invalid("an LSTM state (inputs 18 and 19) is not a variable tensor");
            }
        }
        let shape = cx.shape(input).to_vec();
        let [d0, d1, size] = shape[..] else {
            return invalid(format!("LSTM input of shape {shape:?}, not rank 3"));
        };
        let (batches, time) = if self.time_major { (d1, d0) } else { (d0, d1) };
        let units = match cx.shape(hidden) {
            [_, units, ..] => *units,
            other => return invalid(format!("LSTM hidden state of shape {other:?}")),
        };
        if cx.tensor(hidden).elements() != batches * units
            || cx.tensor(cell).elements() != batches * units
            || cx.tensor(out).elements() != batches * time * units
        {
            return invalid("LSTM state or output shapes do not fit its input and units");
        }
        let lstm_shape = LstmShape {
            batches: to_u32(batches)?,
            time: to_u32(time)?,
            input_size: to_u32(size)?,
            units: to_u32(units)?,
            time_major: self.time_major,
        };
        let mut gate_tensors = [(0, 0, 0); 4];
        for (g, tensors) in gate_tensors.iter_mut().enumerate() {
            let (wx, wh) = (required(1 + g)?, required(5 + g)?);
            if cx.shape(wx) != [units, size] || cx.shape(wh) != [units, units] {
                return invalid("LSTM weights do not fit its input and units");
            }
            *tensors = (wx, wh, required(12 + g)?);
        }
        if cx.dtype(input) == DataType::F32 {
            let operands = [input, hidden, cell, out];
            return self.lower_f32(cx, lstm_shape, operands, gate_tensors);
        }
        if cx.dtype(cell) != DataType::I16 || cx.dtype(out) != DataType::I8 {
            return unsupported(format!(
                "an int8 LSTM with a {} cell state and a {} output (kiln: int16 and int8)",
                cx.dtype(cell).name(),
                cx.dtype(out).name()
            ));
        }

        let (in_scale, in_zp) = cx.quant(input)?;
        let (hidden_scale, hidden_zp) = cx.quant(hidden)?;
        let cell_scale = cell_scale(cx, cell)?;
        let mut gates = [LstmGate::default(); 4];
        let (mut input_weights, mut recurrent_weights) = (Vec::new(), Vec::new());
        let mut bias = Vec::new();
        for (gate, &(wx, wh, b)) in gates.iter_mut().zip(&gate_tensors) {
            // TFLM multiplies the two scales in double precision.
            let scale = |w: TensorId, x_scale: f32| -> Lowered<(i32, i32)> {
                let (w_scale, w_zp) = cx.quant(w)?;
                let per_channel = cx
                    .tensor(w)
                    .quantization
                    .as_ref()
                    .map_or(0, |q| q.scale.len());
                if w_zp != 0 || per_channel > 1 {
                    return unsupported("LSTM weights that are not symmetric per tensor");
                }
                let real = f64::from(x_scale) * f64::from(w_scale) / GATE_INPUT_SCALE;
                Ok(quantize_multiplier(real))
            };
            (gate.input_multiplier, gate.input_shift) = scale(wx, in_scale)?;
            (gate.recurrent_multiplier, gate.recurrent_shift) = scale(wh, hidden_scale)?;
            input_weights.extend_from_slice(cx.weight_data(wx, DataType::I8)?);
            recurrent_weights.extend_from_slice(cx.weight_data(wh, DataType::I8)?);
            let b = cx.weight_data(b, DataType::I32)?;
            if b.len() != units * 4 {
                return invalid("an LSTM gate bias does not have one value per unit");
            }
            bias.extend_from_slice(b);
        }
        let mul = |a: f64, b: f64, out: f64| quantize_multiplier(a * b / out);
        let (forget_multiplier, forget_shift) = mul(
            GATE_OUTPUT_SCALE,
            f64::from(cell_scale),
            f64::from(cell_scale),
        );
        let (input_multiplier, input_shift) =
            mul(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, f64::from(cell_scale));
        let (output_multiplier, output_shift) = mul(
            GATE_OUTPUT_SCALE,
            GATE_OUTPUT_SCALE,
            f64::from(hidden_scale),
        );
        // TFLM's CheckedLog2, in float32, rounded half away from zero.
        let cell_scale_power = (cell_scale.ln() * (1.0f32 / 2f32.ln())).round() as i32;
        let cell_clip = match self.cell_clip > 0.0 {
            true => {
                (f64::from(self.cell_clip) / f64::from(cell_scale)).clamp(-32768.0, 32767.0) as i32
            }
            false => 0,
        };
        Ok(Some(Op::Lstm(LstmOp {
            params: LstmParams {
                shape: lstm_shape,
                input_offset: -in_zp,
                hidden_zero_point: hidden_zp,
                gates,
                forget_multiplier,
                forget_shift,
                input_multiplier,
                input_shift,
                output_multiplier,
                output_shift,
                cell_scale_power,
                cell_clip,
            },
            input: cx.activation(input, DataType::I8)?,
            input_weights: cx.constant(&input_weights)?,
            recurrent_weights: cx.constant(&recurrent_weights)?,
            bias: cx.constant(&bias)?,
            hidden: cx.activation(hidden, DataType::I8)?,
            cell: cx.activation(cell, DataType::I16)?,
            scratch: cx.scratch()?,
            output: cx.activation(out, DataType::I8)?,
        })))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let dims = |i: usize| node.input(i).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        match (dims(0), dims(1)) {
            ([d0, d1, size], [units, _]) => (d0 * d1 * 4 * units * (size + units)) as u64,
            _ => 0,
        }
    }

    /// Painted on each emulated core in generated code, the LSTM fixture
    /// (`tests/fixtures/op_zoo/lstm`: two layers, so the kernel is not
    /// specialized to one), whose deepest op it is.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(644, 560, 560, 512)
    }
}

impl UnidirectionalSequenceLstm {
    /// The float32 layer: every operand float32, the four gates' weights
    /// and biases gathered into one constant each, in gate order.
    fn lower_f32(
        &self,
        cx: &mut Lowering,
        shape: LstmShape,
        [input, hidden, cell, out]: [TensorId; 4],
        gate_tensors: [(TensorId, TensorId, TensorId); 4],
    ) -> Lowered<Option<Op>> {
        for t in [hidden, cell, out] {
            if cx.dtype(t) != DataType::F32 {
                return invalid("a float32 LSTM with a state or output that is not float32");
            }
        }
        let (mut input_weights, mut recurrent_weights) = (Vec::new(), Vec::new());
        let mut bias = Vec::new();
        for (wx, wh, b) in gate_tensors {
            input_weights.extend_from_slice(cx.weight_data(wx, DataType::F32)?);
            recurrent_weights.extend_from_slice(cx.weight_data(wh, DataType::F32)?);
            let b = cx.weight_data(b, DataType::F32)?;
            if b.len() != shape.units as usize * 4 {
                return invalid("an LSTM gate bias does not have one value per unit");
            }
            bias.extend_from_slice(b);
        }
        Ok(Some(Op::LstmF32(LstmF32Op {
            shape,
            cell_clip: self.cell_clip.max(0.0),
            input: cx.activation(input, DataType::F32)?,
            input_weights: cx.constant(&input_weights)?,
            recurrent_weights: cx.constant(&recurrent_weights)?,
            bias: cx.constant(&bias)?,
            hidden: cx.activation(hidden, DataType::F32)?,
            cell: cx.activation(cell, DataType::F32)?,
            scratch: cx.scratch()?,
            output: cx.activation(out, DataType::F32)?,
        })))
    }
}

/// The int16 cell state's scale (its zero point must be 0).
fn cell_scale(cx: &Lowering, cell: TensorId) -> Lowered<f32> {
    let tensor = cx.tensor(cell);
    match &tensor.quantization {
        Some(q) if q.scale0() > 0.0 && q.zero_point0() == 0 => Ok(q.scale0()),
        _ => unsupported(format!(
            "LSTM cell state '{}' without a scale and a zero point of 0",
            tensor.name
        )),
    }
}
