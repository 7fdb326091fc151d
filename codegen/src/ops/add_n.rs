//! ADD_N: the sum of up to ten same-shaped int8 or float32 inputs (int8
//! ones sharing one scale and zero point, as TFLM requires), and ONNX's
//! Sum of same-shaped inputs.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::add_n::{AddNParams, ADD_N_LEFT_SHIFT};
use kiln::ops::{AddNOp, MAX_ADD_N_INPUTS};
use kiln::tensor::DType;
use kiln::Span;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// ADD_N of every input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AddN;

impl AddN {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("ADD_N", |_| Ok(OpKind::AddN(AddN)))],
        onnx: &[OnnxConverter {
            op_type: "Sum",
            inputs: 1,
            convert: sum_from_onnx,
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for AddN {
    fn name(&self) -> &'static str {
        "ADD_N"
    }

    /// No post-training rule gives every input one shared interval and the
    /// output its own, so a float model's ADD_N stays float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// Painted on the `add_n` fixture on each core.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 96, 96, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let out = cx.output(node)?;
        let inputs: Vec<_> = node.inputs.iter().flatten().copied().collect();
        if inputs.is_empty() || inputs.len() > MAX_ADD_N_INPUTS {
            return unsupported(format!(
                "ADD_N of {} inputs (1 to {MAX_ADD_N_INPUTS})",
                inputs.len()
            ));
        }
        let dtype = cx.dtype(out);
        for &input in &inputs {
            if cx.shape(input) != cx.shape(out) || cx.dtype(input) != dtype {
                return invalid(format!(
                    "ADD_N input of shape {:?} ({}) for an output of {:?} ({})",
                    cx.shape(input),
                    cx.dtype(input).name(),
                    cx.shape(out),
                    dtype.name()
                ));
            }
        }
        let (dtype, params) = match dtype {
            DataType::F32 => (DType::F32, AddNParams::default()),
            DataType::I8 => (DType::I8, params_s8(cx, &inputs, out)?),
            other => return unsupported(format!("ADD_N of {}", other.name())),
        };
        let data = if dtype == DType::F32 {
            DataType::F32
        } else {
            DataType::I8
        };
        let mut spans = [Span::EMPTY; MAX_ADD_N_INPUTS];
        for (span, &input) in spans.iter_mut().zip(&inputs) {
            *span = cx.activation(input, data)?;
        }
        Ok(Some(Op::AddN(AddNOp {
            params,
            dtype,
            count: inputs.len() as u32,
            inputs: spans,
            output: cx.activation(out, data)?,
        })))
    }
}

/// TFLM's int8 preparation: every input at half its scale after the
/// 20-bit shift, the sum back to the output's scale (CUMSUM's too).
pub(super) fn params_s8(cx: &Lowering, inputs: &[TensorId], out: TensorId) -> Lowered<AddNParams> {
    let (scale, zero_point) = cx.quant(inputs[0])?;
    for &input in &inputs[1..] {
        if cx.quant(input)? != (scale, zero_point) {
            return unsupported(
                "int8 ADD_N of inputs with different scales or zero points (TFLM requires one)",
            );
        }
    }
    let (output_scale, output_zero_point) = cx.quant(out)?;
    let twice_scale = 2.0 * f64::from(scale);
    let (input_multiplier, input_shift) = quantize_multiplier(f64::from(scale) / twice_scale);
    let output_real = twice_scale / (f64::from(1u32 << ADD_N_LEFT_SHIFT) * f64::from(output_scale));
    let (output_multiplier, output_shift) = quantize_multiplier(output_real);
    if output_real >= 1.0 || output_shift > 0 {
        return invalid(format!(
            "the sum's output scale {output_scale} is too small for input scale {scale} (TFLM requires its multiplier below one)"
        ));
    }
    Ok(AddNParams {
        input_offset: -zero_point,
        input_multiplier,
        input_shift,
        output_multiplier,
        output_shift,
        output_offset: output_zero_point,
    })
}

/// ONNX Sum: ADD_N of its inputs, which must share one shape (ADD_N does
/// not broadcast); the sum of one input is that input.
fn sum_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let inputs = n
        .inputs
        .iter()
        .map(|i| cx.value(i))
        .collect::<Step<Vec<TensorId>>>()?;
    let shape = cx.shape(inputs[0]);
    if let Some(&other) = inputs.iter().find(|&&t| cx.shape(t) != shape) {
        return Err(format!(
            "Sum of inputs of shapes {shape:?} and {:?} (kiln: one shape, as TFLite's ADD_N)",
            cx.shape(other)
        ));
    }
    if inputs.len() > MAX_ADD_N_INPUTS {
        return Err(format!(
            "Sum of {} inputs (kiln: up to {MAX_ADD_N_INPUTS})",
            inputs.len()
        ));
    }
    if let [only] = inputs[..] {
        cx.values.insert(n.outputs[0].clone(), only);
        return Ok(());
    }
    let out = cx.new_output(n, shape);
    cx.g.tensors[out].dtype = cx.g.tensors[inputs[0]].dtype;
    cx.push(
        OpKind::AddN(AddN),
        inputs.into_iter().map(Some).collect(),
        vec![out],
        "Sum",
    );
    Ok(())
}
