//! UNIDIRECTIONAL_SEQUENCE_LSTM: int8 or int16 (16x8) with an int16 cell
//! state, as TFLM's
//! integer kernel (its 2023 `lstm_eval.h`) prepares and computes it, and
//! float32. The hidden state (input 18) and cell state (input 19) are
//! variable tensors of the graph; each direction of ONNX's LSTM (float32)
//! maps onto the same layer with states that start afresh on every run
//! (from initial states, inputs 18 and 19, or zeros), outputs 1 and 2 of
//! the node.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::ops::{LstmF32Op, LstmF32Params, LstmGate, LstmOp, LstmParams, SequenceShape};

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{block, onnx_sequence, present, Direction, Importer, OnnxNode, Step};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{checked_log2, quantize_multiplier};
use crate::stack::Stack;
use kiln::tensor::{DType, Span};

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
    /// The states start afresh on every run and are the node's outputs 1
    /// and 2 (ONNX's LSTM), not variable tensors among its inputs: from
    /// inputs 18 and 19 where given (initial states), else from zeros.
    pub fresh_state: bool,
}

impl UnidirectionalSequenceLstm {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("UNIDIRECTIONAL_SEQUENCE_LSTM", from_tflite)],
        onnx: &[OnnxConverter {
            op_type: "LSTM",
            inputs: 3,
            convert: lstm_from_onnx,
        }],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: false,
            note: "int16 cell state; no projection or layer norm; peepholes in float32 (ONNX)",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

/// `UnidirectionalSequenceLSTMOptions`: activation, cell clip, projection
/// clip, time major.
fn from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    // TFLM's kernels have no peepholes, so no reference to hold kiln's to.
    if (9..12).any(|i| op.input_tensor(i).is_some()) {
        op.unsupported("peephole weights (TFLM's kernels have none)".into());
    }
    Ok(OpKind::UnidirectionalSequenceLstm(
        UnidirectionalSequenceLstm {
            tanh: op.i8(0, 0)? == 4,
            cell_clip: op.f32(1, 0.0)?,
            time_major: op.bool(3)?,
            fresh_state: false,
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
        let state = self
            .states(node)
            .map_or(0, |(h, _)| g.tensors[h].elements());
        let width = match node.input(0).map(|t| g.tensors[t].dtype) {
            Some(DataType::F32) => 4,
            _ => 2,
        };
        4 * state * width
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let values = cx.dtype(input);
        if !matches!(values, DataType::I8 | DataType::I16 | DataType::F32) {
            return unsupported(format!(
                "{} UNIDIRECTIONAL_SEQUENCE_LSTM (kiln: int8 or int16 with an int16 cell state, or float32)",
                cx.dtype(input).name()
            ));
        }
        // Peepholes (ONNX's): all three, in float32 only (TFLM's kernels,
        // integer and float, have none).
        let peepholes: Vec<TensorId> = (9..12).filter_map(|i| node.input(i)).collect();
        if !peepholes.is_empty() && (values != DataType::F32 || peepholes.len() != 3) {
            return unsupported(
                "UNIDIRECTIONAL_SEQUENCE_LSTM with peephole weights (kiln: all three, in float32)",
            );
        }
        for (range, what) in [(16..18, "a projection"), (20..24, "layer normalization")] {
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
        let Some((hidden, cell)) = self.states(node) else {
            return unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM without input 18 or 19 (its states)");
        };
        if self.fresh_state && cx.dtype(input) != DataType::F32 {
            return unsupported(
                "an integer LSTM whose state starts from zero on every run (kiln: float32 only)",
            );
        }
        for state in [hidden, cell] {
            if !self.fresh_state && !cx.graph().variables.contains(&state) {
                return invalid("an LSTM state (inputs 18 and 19) is not a variable tensor");
            }
        }
        let shape = cx.shape(input).to_vec();
        let [d0, d1, size] = shape[..] else {
            return invalid(format!("LSTM input of shape {shape:?}, not rank 3"));
        };
        let (batches, time) = if self.time_major { (d1, d0) } else { (d0, d1) };
        // [batches, units]; ONNX's [1, batches, units] or [batches, 1, units].
        let units = match cx.shape(hidden) {
            [.., units] if cx.shape(hidden).len() >= 2 => *units,
            other => return invalid(format!("LSTM hidden state of shape {other:?}")),
        };
        if cx.tensor(hidden).elements() != batches * units
            || cx.tensor(cell).elements() != batches * units
            || cx.tensor(out).elements() != batches * time * units
        {
            return invalid("LSTM state or output shapes do not fit its input and units");
        }
        let lstm_shape = SequenceShape {
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
            let initial = self.initial_states(cx, node)?;
            let gates = (gate_tensors, peepholes);
            return self.lower_f32(cx, lstm_shape, operands, gates, initial);
        }
        if cx.dtype(cell) != DataType::I16 || cx.dtype(out) != values || cx.dtype(hidden) != values
        {
            return unsupported(format!(
                "a {0} LSTM with a {1} cell state, a {2} hidden state and a {3} output (kiln: int16, {0} and {0})",
                values.name(),
                cx.dtype(cell).name(),
                cx.dtype(hidden).name(),
                cx.dtype(out).name()
            ));
        }
        // TFLM's EvalLstm: int32 biases for int8, int64 ones for int16.
        let (activation, bias_type) = match values {
            DataType::I16 => (DType::I16, DataType::I64),
            _ => (DType::I8, DataType::I32),
        };

        let (in_scale, in_zp) = cx.quant(input)?;
        let (hidden_scale, hidden_zp) = cx.quant(hidden)?;
        if activation == DType::I16 && (in_zp != 0 || hidden_zp != 0) {
            return unsupported(
                "an int16 LSTM with a nonzero zero point (TFLite's 16x8 scheme has none)",
            );
        }
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
            let b = cx.weight_data(b, bias_type)?;
            if b.len() != units * bias_type.size() {
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
        // TFLM takes the rounded log2 of its CheckedLog2.
        let (cell_scale_power, _) = checked_log2(cell_scale);
        let cell_clip = match self.cell_clip > 0.0 {
            true => {
                (f64::from(self.cell_clip) / f64::from(cell_scale)).clamp(-32768.0, 32767.0) as i32
            }
            false => 0,
        };
        Ok(Some(Op::Lstm(LstmOp {
            activation,
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
            input: cx.activation(input, values)?,
            input_weights: cx.constant(&input_weights)?,
            recurrent_weights: cx.constant(&recurrent_weights)?,
            bias: cx.constant(&bias)?,
            hidden: cx.activation(hidden, values)?,
            cell: cx.activation(cell, DataType::I16)?,
            scratch: cx.scratch()?,
            output: cx.activation(out, values)?,
        })))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let dims = |i: usize| node.input(i).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        match (dims(0), dims(1)) {
            ([d0, d1, size], [units, _]) => (d0 * d1 * 4 * units * (size + units)) as u64,
            _ => 0,
        }
    }

    /// Painted on each emulated core in generated code, the larger of the
    /// LSTM fixtures' (`tests/fixtures/op_zoo/lstm` and `lstm_int16`: two
    /// layers each, so the kernel is not specialized to one), whose
    /// deepest op it is.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(532, 460, 460, 444)
    }
}

impl UnidirectionalSequenceLstm {
    /// The hidden and cell states: inputs 18 and 19, or with a fresh state
    /// outputs 1 and 2.
    fn states(&self, node: &Node) -> Option<(TensorId, TensorId)> {
        match self.fresh_state {
            true => Some((*node.outputs.get(1)?, *node.outputs.get(2)?)),
            false => Some((node.input(18)?, node.input(19)?)),
        }
    }

    /// With a fresh state, the initial hidden and cell states each run
    /// starts from (inputs 18 and 19; absent: zeros), each as big as its
    /// state.
    fn initial_states(&self, cx: &mut Lowering, node: &Node) -> Lowered<[Span; 2]> {
        let mut spans = [Span::EMPTY; 2];
        let Some((hidden, cell)) = self.states(node).filter(|_| self.fresh_state) else {
            return Ok(spans);
        };
        for (span, (i, state)) in spans.iter_mut().zip([(18, hidden), (19, cell)]) {
            if let Some(initial) = node.input(i) {
                if cx.tensor(initial).elements() != cx.tensor(state).elements() {
                    return invalid("an LSTM initial state not the size of its state");
                }
                *span = cx.activation(initial, DataType::F32)?;
            }
        }
        Ok(spans)
    }

    /// The float32 layer: every operand float32, the four gates' weights
    /// and biases gathered into one constant each, in gate order, and the
    /// peepholes (none, or into the input, forget and output gates) into
    /// another.
    fn lower_f32(
        &self,
        cx: &mut Lowering,
        shape: SequenceShape,
        [input, hidden, cell, out]: [TensorId; 4],
        (gate_tensors, peephole_tensors): ([(TensorId, TensorId, TensorId); 4], Vec<TensorId>),
        [initial_hidden, initial_cell]: [Span; 2],
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
        let mut peephole = Vec::new();
        for p in peephole_tensors {
            let p = cx.weight_data(p, DataType::F32)?;
            if p.len() != shape.units as usize * 4 {
                return invalid("an LSTM peephole does not have one weight per unit");
            }
            peephole.extend_from_slice(p);
        }
        let peephole = match peephole.is_empty() {
            true => Span::EMPTY,
            false => cx.constant(&peephole)?,
        };
        Ok(Some(Op::LstmF32(LstmF32Op {
            params: LstmF32Params {
                shape,
                // TFLM clips only for a positive clip (an infinite one
                // changes nothing).
                cell_clip: match self.cell_clip.is_finite() && self.cell_clip > 0.0 {
                    true => self.cell_clip,
                    false => 0.0,
                },
                fresh_state: self.fresh_state,
            },
            input: cx.activation(input, DataType::F32)?,
            input_weights: cx.constant(&input_weights)?,
            recurrent_weights: cx.constant(&recurrent_weights)?,
            bias: cx.constant(&bias)?,
            hidden: cx.activation(hidden, DataType::F32)?,
            cell: cx.activation(cell, DataType::F32)?,
            scratch: cx.scratch()?,
            output: cx.activation(out, DataType::F32)?,
            initial_hidden,
            initial_cell,
            peephole,
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

/// ONNX's LSTM gate blocks (input, output, forget, cell) in TFLite's gate
/// order (input, forget, cell, output).
const ONNX_GATE: [usize; 4] = [0, 2, 3, 1];

/// ONNX LSTM (checked and read as `import::onnx::recurrent` describes),
/// without `input_forget`: per direction, the float32 layer
/// with states that start afresh on every run (from the initial states,
/// inputs 18 and 19), its gates' weights and biases (`Wb +
/// Rb`) and peepholes reordered into TFLite's inputs; `Y_h` and `Y_c` are
/// its final states.
fn lstm_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let seq = onnx_sequence(cx, n, "LSTM", &["Sigmoid", "Tanh", "Tanh"], &[5, 6])?;
    if n.int("input_forget", 0) != 0 {
        return Err("LSTM with input_forget".into());
    }
    let (size, hidden, directions) = (seq.size, seq.hidden, seq.directions);
    let weights = |i: usize, cols: usize| -> Step<Vec<f32>> {
        let t = cx.constant(&n.inputs[i])?;
        let values = t.f32s().ok_or("LSTM weights must be float32")?;
        if t.shape() != Some(vec![directions, 4 * hidden, cols]) {
            return Err(format!(
                "LSTM weights '{}' of shape {:?}, not [{directions}, {}, {cols}]",
                n.inputs[i],
                t.dims,
                4 * hidden
            ));
        }
        Ok(values)
    };
    let (w, r) = (weights(1, size)?, weights(2, hidden)?);
    let b = match present(n, 3) {
        true => {
            let t = cx.constant(&n.inputs[3])?;
            let values = t.f32s().ok_or("LSTM bias must be float32")?;
            if values.len() != directions * 8 * hidden {
                return Err(format!("LSTM bias of shape {:?}", t.dims));
            }
            values
        }
        false => vec![0.0; directions * 8 * hidden],
    };
    // Peepholes: per direction, into the input, output and forget gates.
    let peepholes = match present(n, 7) {
        true => {
            let t = cx.constant(&n.inputs[7])?;
            let values = t.f32s().ok_or("LSTM peepholes must be float32")?;
            if values.len() != directions * 3 * hidden {
                return Err(format!("LSTM peepholes (P) of shape {:?}", t.dims));
            }
            Some(values)
        }
        false => None,
    };
    seq.build(cx, n, 2, |cx, d: &Direction| {
        let (w, r) = (
            block(&w, directions, d.index),
            block(&r, directions, d.index),
        );
        let b = block(&b, directions, d.index);
        let mut inputs = vec![Some(d.x)];
        for (kind, values, cols) in [("input", w, size), ("recurrent", r, hidden)] {
            for (gate, &block) in ["input", "forget", "cell", "output"].iter().zip(&ONNX_GATE) {
                let rows = &values[block * hidden * cols..(block + 1) * hidden * cols];
                let name = format!("{} {kind} to {gate}", d.label);
                inputs.push(Some(cx.f32_constant(name, vec![hidden, cols], rows)));
            }
        }
        match &peepholes {
            // TFLite's inputs 9 to 11: into the input, forget and output
            // gates (ONNX's blocks 0, 2 and 1).
            Some(p) => {
                let p = block(p, directions, d.index);
                for (gate, block) in [("input", 0), ("forget", 2), ("output", 1)] {
                    let values = &p[block * hidden..(block + 1) * hidden];
                    let name = format!("{} cell to {gate}", d.label);
                    inputs.push(Some(cx.f32_constant(name, vec![hidden], values)));
                }
            }
            None => inputs.extend([None, None, None]),
        }
        for (gate, &block) in ["input", "forget", "cell", "output"].iter().zip(&ONNX_GATE) {
            let sum: Vec<f32> = (0..hidden)
                .map(|u| b[block * hidden + u] + b[(4 + block) * hidden + u])
                .collect();
            let t = cx.f32_constant(format!("{} {gate} bias", d.label), vec![hidden], &sum);
            inputs.push(Some(t));
        }
        // No projection; then the initial states (inputs 18 and 19).
        inputs.extend([None, None]);
        inputs.extend(d.initial.iter().copied());
        let kind = OpKind::UnidirectionalSequenceLstm(UnidirectionalSequenceLstm {
            tanh: true,
            cell_clip: 0.0,
            time_major: !seq.batch_major,
            fresh_state: true,
        });
        cx.push(kind, inputs, d.outputs.clone(), "LSTM");
        Ok(())
    })
}
