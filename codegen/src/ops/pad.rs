//! PAD and PADV2 (constant mode): int8 with the zero point, as TFLM pads
//! (a real zero), or PADV2's int8 value; int16 (zero point 0) with zero or
//! PADV2's int16 value; float32 with any value (input 2, a scalar, or
//! zero).
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::pad::{PadMode, PadParams};
use kiln::ops::{PadF32Op, PadOp};

use super::{Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, padded_dims, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// PAD, and MIRROR_PAD (`mode` REFLECT or SYMMETRIC). Inputs: data,
/// paddings `[rank, 2]` (int32 constant), optional value (a float32
/// scalar, constant mode only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
}

impl Pad {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("PAD", |_| {
                Ok(OpKind::Pad(Pad {
                    mode: PadMode::Constant,
                }))
            }),
            ("PADV2", |_| {
                Ok(OpKind::Pad(Pad {
                    mode: PadMode::Constant,
                }))
            }),
            ("MIRROR_PAD", |op| {
                let mode = match op.i8(0, 0)? {
                    0 => PadMode::Reflect,
                    1 => PadMode::Symmetric,
                    other => {
                        op.unsupported(format!("MIRROR_PAD mode {other}"));
                        PadMode::Reflect
                    }
                };
                Ok(OpKind::Pad(Pad { mode }))
            }),
        ],
        onnx: &[OnnxConverter {
            op_type: "Pad",
            inputs: 1,
            convert: pad_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Pad {
    /// The paddings' rows follow their dimensions (a new int32 constant).
    fn permuted(&self, node: &Node, to_new: &[usize], g: &mut Graph) -> Option<Permuted> {
        let paddings = node.input(1)?;
        let p = g.tensors[paddings].data_i32()?;
        if p.len() != 2 * to_new.len() {
            return None;
        }
        let mut rows = vec![0i32; p.len()];
        for (d, &n) in to_new.iter().enumerate() {
            rows[2 * n] = p[2 * d];
            rows[2 * n + 1] = p[2 * d + 1];
        }
        let mut tensor = g.tensors[paddings].clone();
        tensor.name = format!("{} (permuted)", tensor.name);
        tensor.dtype = DataType::I32;
        tensor.data = Some(rows.iter().flat_map(|v| v.to_le_bytes()).collect());
        g.tensors.push(tensor);
        Some(Permuted {
            kind: OpKind::Pad(*self),
            data_inputs: vec![0],
            params: vec![(1, g.tensors.len() - 1)],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        match self.mode {
            PadMode::Reflect | PadMode::Symmetric => "MIRROR_PAD",
            _ => "PAD",
        }
    }

    fn attributes(&self) -> String {
        format!("mode {:?}", self.mode)
    }

    /// A border mode's frame, painted on each core on the mirror_pad
    /// fixture (its source arithmetic); constant padding takes the
    /// small-op figure (plain integers: the integer fixture's).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match self.mode {
            PadMode::Constant if super::elementwise::plain_integer_node(g, node) => {
                super::elementwise::PLAIN_INTEGER_STACK
            }
            PadMode::Constant => crate::stack::SMALL_OP,
            _ => Stack::new(356, 296, 296, 224),
        }
    }

    /// TFLM pads int8 with the zero point only: a valued PAD stays float32.
    /// The other modes copy input values, so keep its parameters.
    fn quantization(&self, node: &Node) -> QuantRule {
        if node.input(2).is_some() && self.mode == PadMode::Constant {
            QuantRule::Float
        } else {
            QuantRule::KeepsInputParameters
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        if cx.is_float(node) {
            let value = match node.input(2) {
                Some(v) => match cx.weight_data(v, DataType::F32)? {
                    [a, b, c, d] => f32::from_le_bytes([*a, *b, *c, *d]),
                    _ => return invalid("the pad value must be one float32"),
                },
                None => 0.0,
            };
            let params = pad_params(cx, node, self.mode)?;
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::PadF32(PadF32Op {
                params,
                value,
                input,
                output,
            })));
        }
        if super::elementwise::is_plain_integer(cx, node) {
            let dtype = cx.dtype(input);
            let value = match node.input(2) {
                Some(v) => pad_value(cx, v, dtype)?,
                None => 0,
            };
            let params = pad_params(cx, node, self.mode)?;
            let (input, output) = cx.spans((input, out), dtype)?;
            return Ok(Some(Op::Pad(PadOp {
                params,
                dtype: super::elementwise::runtime_integer(dtype),
                value,
                input,
                output,
            })));
        }
        // Quantized int8, or int16 (TFLM's 16x8 scheme: zero point 0).
        let dtype = cx.dtype(input);
        cx.same_quantization(input, out, self.name())?;
        // PADV2's value, already in the output's quantization, is used as
        // stored (TFLM's pad.cc); a real-valued one (ONNX) is not.
        let value = match node.input(2) {
            Some(v) if self.mode == PadMode::Constant => {
                if cx.dtype(v) != dtype {
                    return unsupported(format!(
                        "{} PAD with a {} pad value (TFLM pads with the zero point or PADV2's value of the input's type)",
                        dtype.name(),
                        cx.dtype(v).name()
                    ));
                }
                // TFLM requires the value in the output's quantization.
                if cx.tensor(v).quantization.is_some() && dtype == DataType::I8 {
                    cx.same_quantization(v, out, "PADV2's value")?;
                }
                pad_value(cx, v, dtype)?
            }
            _ if dtype == DataType::I16 => 0,
            _ => cx.quant(out)?.1,
        };
        let params = pad_params(cx, node, self.mode)?;
        let (input, output) = cx.spans((input, out), dtype)?;
        Ok(Some(Op::Pad(PadOp {
            params,
            dtype: super::elementwise::runtime_integer(dtype),
            value,
            input,
            output,
        })))
    }
}

/// PADV2's constant value (input 2), read as the one element of `dtype`
/// it must be: a value of another length is refused, not reinterpreted.
fn pad_value(cx: &Lowering, value: TensorId, dtype: DataType) -> Lowered<i32> {
    match (dtype, cx.weight_data(value, dtype)?) {
        (DataType::I8, &[b]) => Ok(i32::from(b as i8)),
        (DataType::I16, &[a, b]) => Ok(i32::from(i16::from_le_bytes([a, b]))),
        (DataType::I32, &[a, b, c, d]) => Ok(i32::from_le_bytes([a, b, c, d])),
        _ => invalid(format!("the pad value must be one {}", dtype.name())),
    }
}

/// Where the input lands in the output (input 1: int32 paddings), and
/// what fills the border.
fn pad_params(cx: &Lowering, node: &Node, mode: PadMode) -> Lowered<PadParams> {
    let (input, out) = cx.input_output(node)?;
    let paddings = cx.input(node, 1)?;
    let Some(p) = cx.tensor(paddings).data_i32() else {
        return unsupported("paddings must be a constant int32 tensor");
    };
    let shape = cx.shape(input);
    if p.len() != 2 * shape.len() || p.iter().any(|&v| v < 0) {
        return invalid(format!("paddings {p:?} do not fit shape {shape:?}"));
    }
    let input_dims = padded_dims(shape)?;
    let lead = input_dims.len() - shape.len();
    let mut params = PadParams {
        input_dims,
        mode,
        ..Default::default()
    };
    for i in 0..shape.len() {
        params.before[lead + i] = p[2 * i] as u32;
        params.after[lead + i] = p[2 * i + 1] as u32;
    }
    let expected = params
        .output_dims()
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::from(d)));
    if expected != Some(cx.tensor(out).elements() as u64) {
        return invalid("output shape does not match the paddings");
    }
    Ok(params)
}

/// ONNX Pad (pads from input 1, or the attribute before opset 11), as an
/// IR PAD with int32 `[rank, 2]` paddings and, in constant mode, the pad
/// value as input 2; reflect, edge and wrap fill the border from the
/// input.
fn pad_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let mode = match n.string("mode").unwrap_or("constant") {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => return Err(format!("Pad mode '{other}'")),
    };
    let optional = |i: usize| n.inputs.get(i).filter(|s| !s.is_empty());
    let pads: Vec<i64> = match optional(1) {
        Some(name) => cx
            .constant(name)?
            .i64s()
            .ok_or("pads must be an integer constant")?,
        None => n.ints("pads").ok_or("Pad without pads")?.to_vec(),
    };
    let value = match optional(2) {
        Some(name) => {
            let t = cx.constant(name)?;
            match (t.f32s(), t.i64s()) {
                (Some(v), _) => v.first().map_or(0.0, |&v| f64::from(v)),
                // A plain-integer tensor's value: exact in f64.
                (None, Some(v)) => v.first().map_or(0.0, |&v| v as f64),
                (None, None) => return Err("the pad value must be float32 or an integer".into()),
            }
        }
        None => f64::from(n.float("value", 0.0)),
    };
    let shape = cx.shape(x);
    let rank = shape.len();
    // Axes given (opset 18) select which dimensions `pads` covers.
    let axes: Vec<usize> = match optional(3) {
        Some(name) => cx
            .constant(name)?
            .i64s()
            .ok_or("axes must be an integer constant")?
            .iter()
            .map(|&a| (if a < 0 { a + rank as i64 } else { a }) as usize)
            .collect(),
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() || axes.iter().any(|&a| a >= rank) {
        return Err(format!("pads {pads:?} do not fit a rank-{rank} input"));
    }
    if pads.iter().any(|&p| p < 0) {
        return Err("negative pads (cropping) are not supported".into());
    }
    // Per dimension: (before, after).
    let mut per_dim = vec![(0i64, 0i64); rank];
    for (k, &a) in axes.iter().enumerate() {
        per_dim[a] = (pads[k], pads[k + axes.len()]);
    }
    let per_dim: Vec<(usize, usize)> = per_dim
        .iter()
        .map(|&(b, a)| (b as usize, a as usize))
        .collect();
    let out = padded(cx, x, &per_dim, (mode, value), &n.outputs[0], "Pad");
    cx.values.insert(n.outputs[0].clone(), out);
    Ok(())
}

/// `x` padded by `per_dim` (before, after) in `mode`, with `value` in
/// constant mode: an IR PAD into a new tensor `name` of `x`'s type (float32,
/// or a plain integer type), with int32 `[rank, 2]` paddings (and the value
/// as input 2 unless it is zero, which int8 pads with the zero point).
pub(crate) fn padded(
    cx: &mut Importer,
    x: TensorId,
    per_dim: &[(usize, usize)],
    (mode, value): (PadMode, f64),
    name: &str,
    source: &str,
) -> TensorId {
    let shape = cx.shape(x);
    let out_shape: Vec<usize> = shape
        .iter()
        .zip(per_dim)
        .map(|(&d, &(b, a))| d + b + a)
        .collect();
    let bytes: Vec<u8> = per_dim
        .iter()
        .flat_map(|&(b, a)| [b as i32, a as i32])
        .flat_map(i32::to_le_bytes)
        .collect();
    let paddings = cx.tensor(
        format!("{name} (paddings)"),
        vec![shape.len(), 2],
        DataType::I32,
        Some(bytes),
    );
    let mut inputs = vec![Some(x), Some(paddings)];
    let dtype = cx.result_type(x);
    if value != 0.0 && mode == PadMode::Constant {
        let value_name = format!("{name} (pad value)");
        let constant = match dtype {
            DataType::F32 => cx.f32_constant(value_name, vec![], &[value as f32]),
            _ => {
                // The integer's bytes in its own type (ONNX's value has it).
                let bytes = (value as i64).to_le_bytes()[..dtype.size()].to_vec();
                cx.tensor(value_name, vec![], dtype, Some(bytes))
            }
        };
        inputs.push(Some(constant));
    }
    let out = cx.tensor(name.to_string(), out_shape, dtype, None);
    cx.push(OpKind::Pad(Pad { mode }), inputs, vec![out], source);
    out
}
