//! GRU (ONNX's; TFLite has no GRU op): float32, one direction (ONNX's
//! reverse and bidirectional GRUs are built of these), every run from the
//! initial hidden state or zeros, the reset gate applied before the
//! recurrent layer or (`linear_before_reset`, as PyTorch exports its GRU)
//! after it. Inputs: the sequence, the input weights `[3 units,
//! input_size]`, the recurrent weights `[3 units, units]` and the biases
//! `[6 units]`, in ONNX's gate order (update, reset, candidate), and the
//! initial hidden state (absent: zeros); outputs: the sequence of hidden
//! states and the last one.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{GruF32Op, GruF32Params, SequenceShape};
use kiln::tensor::Span;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{block, onnx_sequence, present, Direction, Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// A GRU layer over a sequence `[time, batches, input_size]`
/// (`time_major`) or `[batches, time, input_size]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gru {
    pub linear_before_reset: bool,
    pub time_major: bool,
}

impl Gru {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[],
        onnx: &[OnnxConverter {
            op_type: "GRU",
            inputs: 3,
            convert: gru_from_onnx,
        }],
        dtypes: Dtypes::FLOAT32,
    };
}

impl IrOp for Gru {
    fn name(&self) -> &'static str {
        "GRU"
    }

    fn attributes(&self) -> String {
        let reset = if self.linear_before_reset {
            "linear before reset"
        } else {
            "reset before linear"
        };
        format!(
            "{reset}{}",
            if self.time_major { ", time major" } else { "" }
        )
    }

    /// No int8 kernel: a quantized model keeps it in float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// Two gates, the candidate and the reset hidden state per batch row.
    fn scratch_bytes(&self, g: &Graph, node: &Node) -> usize {
        node.outputs
            .get(1)
            .map_or(0, |&h| 4 * g.tensors[h].elements() * 4)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let (Some(&hidden), [_, Some(w), Some(r), Some(b), initial @ ..]) =
            (node.outputs.get(1), &node.inputs[..])
        else {
            return invalid("GRU without its weights, biases or hidden state");
        };
        let initial_hidden = match initial {
            [] | [None] => Span::EMPTY,
            [Some(h0)] if cx.tensor(*h0).elements() == cx.tensor(hidden).elements() => {
                cx.activation(*h0, DataType::F32)?
            }
            _ => return invalid("a GRU initial state not the size of its state"),
        };
        if cx.dtype(input) != DataType::F32 {
            return unsupported(format!("{} GRU (kiln: float32)", cx.dtype(input).name()));
        }
        let [d0, d1, size] = cx.shape(input)[..] else {
            return invalid(format!(
                "GRU input of shape {:?}, not rank 3",
                cx.shape(input)
            ));
        };
        let (time, batches) = if self.time_major { (d0, d1) } else { (d1, d0) };
        let units = cx.shape(hidden).last().copied().unwrap_or(0);
        if units == 0
            || cx.tensor(hidden).elements() != batches * units
            || cx.shape(*w) != [3 * units, size]
            || cx.shape(*r) != [3 * units, units]
            || cx.tensor(*b).elements() != 6 * units
            || cx.tensor(out).elements() != batches * time * units
            || cx.dtype(out) != DataType::F32
            || cx.dtype(hidden) != DataType::F32
        {
            return invalid("GRU weights, bias or outputs do not fit its input");
        }
        Ok(Some(Op::GruF32(GruF32Op {
            params: GruF32Params {
                shape: SequenceShape {
                    batches: to_u32(batches)?,
                    time: to_u32(time)?,
                    input_size: to_u32(size)?,
                    units: to_u32(units)?,
                    time_major: self.time_major,
                },
                linear_before_reset: self.linear_before_reset,
            },
            input: cx.activation(input, DataType::F32)?,
            input_weights: cx.copied_constant(*w, DataType::F32)?,
            recurrent_weights: cx.copied_constant(*r, DataType::F32)?,
            bias: cx.copied_constant(*b, DataType::F32)?,
            hidden: cx.activation(hidden, DataType::F32)?,
            scratch: cx.scratch()?,
            output: cx.activation(out, DataType::F32)?,
            initial_hidden,
        })))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let dims = |i: usize| node.input(i).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        match (dims(0), dims(1), dims(2)) {
            ([d0, d1, _], [gates, size], [_, units]) => (d0 * d1 * gates * (size + units)) as u64,
            _ => 0,
        }
    }

    /// Not painted (float32 models are not run on the emulated cores): the
    /// int8 LSTM layer's figure, whose walk is the same.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(644, 560, 560, 512)
    }
}

/// ONNX GRU (checked and read as `import::onnx::recurrent` describes):
/// per direction, weights and biases as ONNX lays them out (absent biases
/// are zeros) and the initial state; `Y_h` is its last hidden state.
fn gru_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let seq = onnx_sequence(cx, n, "GRU", &["Sigmoid", "Tanh"], &[5])?;
    let (size, hidden, directions) = (seq.size, seq.hidden, seq.directions);
    let constant = |i: usize, shape: &[usize], what: &str| -> Step<Vec<f32>> {
        let elements = directions * shape.iter().product::<usize>();
        if !present(n, i) {
            return Ok(vec![0.0; elements]);
        }
        let t = cx.constant(&n.inputs[i])?;
        let values = t
            .f32s()
            .ok_or_else(|| format!("GRU {what} must be float32"))?;
        if t.shape() != Some([&[directions][..], shape].concat()) || values.len() != elements {
            return Err(format!(
                "GRU {what} of shape {:?}, not [{directions}, {shape:?}]",
                t.dims
            ));
        }
        Ok(values)
    };
    let w = constant(1, &[3 * hidden, size], "input weights")?;
    let r = constant(2, &[3 * hidden, hidden], "recurrent weights")?;
    let b = constant(3, &[6 * hidden], "biases")?;
    let linear_before_reset = n.int("linear_before_reset", 0) != 0;
    seq.build(cx, n, 1, |cx, d: &Direction| {
        let mut inputs = vec![Some(d.x)];
        for (values, shape, what) in [
            (&w, vec![3 * hidden, size], "input weights"),
            (&r, vec![3 * hidden, hidden], "recurrent weights"),
            (&b, vec![6 * hidden], "biases"),
        ] {
            let values = block(values, directions, d.index);
            let name = format!("{} {what}", d.label);
            inputs.push(Some(cx.f32_constant(name, shape, values)));
        }
        inputs.extend(d.initial.iter().copied());
        let kind = OpKind::Gru(Gru {
            linear_before_reset,
            time_major: !seq.batch_major,
        });
        cx.push(kind, inputs, d.outputs.clone(), "GRU");
        Ok(())
    })
}
