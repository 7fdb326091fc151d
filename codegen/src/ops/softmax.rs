//! SOFTMAX over the last axis: int8 (TFLM's fixed point) to int8 (output
//! scale 1/256, zero point -128) or to int16 (1/65536, -32768), and float32.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::softmax::SoftmaxParams;
use kiln::ops::{SoftmaxF32Op, SoftmaxOp, SoftmaxS16Op};

use super::{Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{input_radius, quantize_multiplier};
use crate::stack::Stack;

/// SOFTMAX with `beta`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    pub beta: f32,
}

impl Softmax {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SOFTMAX", |op| {
            // Without an options table beta is 1, as the converter writes it.
            let beta = if op.has_options() {
                op.f32(0, 0.0)?
            } else {
                1.0
            };
            Ok(OpKind::Softmax(Softmax { beta }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Softmax",
            inputs: 1,
            convert: softmax_from_onnx,
        }],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            note: "int16: the output of an int8 SOFTMAX",
            int8_names: &[],
        },
    };
}

impl IrOp for Softmax {
    /// Over the last axis: only where the last axis stays last.
    fn permuted(&self, _node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        let last = to_new.len().checked_sub(1)?;
        (to_new[last] == last).then(|| Permuted {
            kind: OpKind::Softmax(*self),
            data_inputs: vec![0],
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "SOFTMAX"
    }

    fn attributes(&self) -> String {
        format!("beta {}", self.beta)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 256.0,
            zero_point: -128,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let depth = *cx.shape(input).last().unwrap_or(&1);
        let outer = cx.tensor(input).elements() / depth.max(1);
        let (outer, depth) = (to_u32(outer)?, to_u32(depth)?);
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::SoftmaxF32(SoftmaxF32Op {
                outer,
                depth,
                beta: self.beta,
                input,
                output,
            })));
        }
        let (input_scale, _) = cx.quant(input)?;
        let (input_multiplier, input_left_shift, diff_min) = softmax_params(self.beta, input_scale);
        let params = SoftmaxParams {
            outer,
            depth,
            input_multiplier,
            input_left_shift,
            diff_min,
        };
        if cx.dtype(out) == DataType::I16 {
            // TFLM's int8 to int16 form: zero point -32768, scale 1/65536.
            let q = cx.tensor(out).quantization.as_ref();
            let (scale, zero_point) = q.map_or((0.0, 0), |q| (q.scale0(), q.zero_point0()));
            if zero_point != -32768 || (scale - 1.0 / 65536.0).abs() > 1e-3 / 65536.0 {
                return unsupported(format!("int16 SOFTMAX output with scale {scale}, zero point {zero_point}; TFLM requires 1/65536 and -32768"));
            }
            return Ok(Some(Op::SoftmaxS16(SoftmaxS16Op {
                params,
                input: cx.activation(input, DataType::I8)?,
                output: cx.activation(out, DataType::I16)?,
            })));
        }
        cx.fixed_output(out, 1.0 / 256.0, -128)?;
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::Softmax(SoftmaxOp {
            params,
            input,
            output,
        })))
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match node.outputs.first().map(|&t| g.tensors[t].dtype) {
            Some(DataType::I16) => crate::stack::INT16_EDGES,
            _ => crate::stack::SMALL_OP,
        }
    }
}

/// TFLM's int8 SOFTMAX preparation: `(input_multiplier, input_left_shift,
/// diff_min)` for `beta * input_scale` with 5 integer bits.
fn softmax_params(beta: f32, input_scale: f32) -> (i32, i32, i32) {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let real = (f64::from(beta)
        * f64::from(input_scale)
        * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS)))
    .min((1u64 << 31) as f64 - 1.0);
    let (multiplier, shift) = quantize_multiplier(real);
    let diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, shift);
    (multiplier, shift, diff_min)
}

/// ONNX Softmax. Over the last axis it is TFLite's; over the channel axis
/// of a 4-D value, a softmax over the last axis in NHWC (whose transposes
/// cancel against a convolution's); over any other axis, between two
/// transposes that move that axis last and back. Before opset 13 Softmax
/// flattens from `axis` on (default 1): the value is reshaped to two
/// dimensions, which costs nothing.
fn softmax_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x);
    let rank = shape.len();
    let axis = n.int("axis", if cx.opset < 13 { 1 } else { -1 });
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    if !(0..rank as i64).contains(&axis) {
        return Err(format!("Softmax over axis {axis} of a rank-{rank} tensor"));
    }
    let axis = axis as usize;
    let kind = OpKind::Softmax(Softmax { beta: 1.0 });
    if axis + 1 == rank {
        return cx.unary_node(n, kind);
    }
    let name = n.outputs[0].clone();
    if cx.opset < 13 {
        let outer = shape[..axis].iter().product::<usize>();
        let inner = shape[axis..].iter().product();
        let flat = cx.reshaped(x, vec![outer, inner], format!("{name} (2-D input)"));
        let out = cx.new_value(format!("{name} (2-D)"), vec![outer, inner]);
        cx.push(kind, vec![Some(flat)], vec![out], &n.op_type);
        let y = cx.reshaped(out, shape, name.clone());
        cx.values.insert(name, y);
        return Ok(());
    }
    if rank == 4 && axis == 1 {
        let x = cx.transposed_to_nhwc(x)?;
        let out = cx.nhwc_output(n, cx.shape(x));
        cx.push(kind, vec![Some(x)], vec![out], &n.op_type);
        cx.transposed_to_nchw(out, name);
        return Ok(());
    }
    // `axis` moved last, and back.
    let to_last: Vec<usize> = (0..rank).filter(|&d| d != axis).chain([axis]).collect();
    let mut back = vec![0; rank];
    for (new, &old) in to_last.iter().enumerate() {
        back[old] = new;
    }
    let moved = cx.relayout(x, &to_last, format!("{name} (axis last)"), "Softmax");
    let out = cx.new_value(format!("{name} (softmax, axis last)"), cx.shape(moved));
    cx.push(kind, vec![Some(moved)], vec![out], &n.op_type);
    let y = cx.relayout(out, &back, name.clone(), "Softmax");
    cx.values.insert(name, y);
    Ok(())
}
