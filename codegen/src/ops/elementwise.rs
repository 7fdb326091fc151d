//! The broadcasting binary ops: ADD, SUB, MUL, DIV and SQUARED_DIFFERENCE
//! (int8 and float32; all but DIV in int16 too), and what every
//! binary op shares: numpy broadcasting onto the output, and an operand
//! that may be a constant kept in the weights.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::elementwise::{AddParams, Broadcast, MulParams};
use kiln::ops::{
    AddF32Op, AddOp, AddS16Op, AddSub, BinaryF32, ConstantOperand, DivF32Op, DivOp,
    IntegerBinaryOp, IntegerFunction, IntegerParams, MulF32Op, MulOp, MulS16Op,
    SquaredDifferenceF32Op, SquaredDifferenceOp, SquaredDifferenceS16Op, SubF32Op, SubOp, SubS16Op,
};
use kiln::tensor::DType;
use kiln::tensor::MAX_RANK;
use kiln::Span;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{Activation, DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{float_range, invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{activation_range, activation_range_i16, quantize_multiplier};
use crate::stack::Stack;

/// ADD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Add {
    pub activation: Activation,
}

/// SUB.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sub {
    pub activation: Activation,
}

/// MUL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mul {
    pub activation: Activation,
}

/// SQUARED_DIFFERENCE: `(x - y)²`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SquaredDifference;

impl SquaredDifference {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SQUARED_DIFFERENCE", |_| {
            Ok(OpKind::SquaredDifference(SquaredDifference))
        })],
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for SquaredDifference {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "SQUARED_DIFFERENCE"
    }

    /// Painted on each core on the squared_difference and
    /// squared_difference_int16 fixtures.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return Stack::new(396, 308, 308, 280);
        }
        Stack::new(340, 268, 268, 232)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            let binary = binary_f32(cx, node, Activation::None)?;
            return Ok(Some(Op::SquaredDifferenceF32(SquaredDifferenceF32Op {
                binary,
            })));
        }
        let add = add_like(cx, node, Activation::None, Headroom::SquaredDifference)?;
        if cx.dtype(cx.input(node, 0)?) == DataType::I16 {
            return Ok(Some(Op::SquaredDifferenceS16(SquaredDifferenceS16Op {
                add,
            })));
        }
        Ok(Some(Op::SquaredDifference(SquaredDifferenceOp { add })))
    }
}

/// DIV (float32 only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Div {
    pub activation: Activation,
}

impl Add {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("ADD", |op| {
            Ok(OpKind::Add(Add {
                activation: op.activation(0)?,
            }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Add",
            inputs: 2,
            convert: |cx, n| {
                let kind = OpKind::Add(Add {
                    activation: Activation::None,
                });
                cx.binary_node(n, kind)
            },
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl Sub {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SUB", |op| {
            Ok(OpKind::Sub(Sub {
                activation: op.activation(0)?,
            }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Sub",
            inputs: 2,
            convert: |cx, n| {
                let kind = OpKind::Sub(Sub {
                    activation: Activation::None,
                });
                cx.binary_node(n, kind)
            },
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl Mul {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("MUL", |op| {
            Ok(OpKind::Mul(Mul {
                activation: op.activation(0)?,
            }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Mul",
            inputs: 2,
            convert: |cx, n| {
                let kind = OpKind::Mul(Mul {
                    activation: Activation::None,
                });
                cx.binary_node(n, kind)
            },
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl Div {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("DIV", |op| {
            Ok(OpKind::Div(Div {
                activation: op.activation(0)?,
            }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Div",
            inputs: 2,
            convert: |cx, n| {
                let kind = OpKind::Div(Div {
                    activation: Activation::None,
                });
                cx.binary_node(n, kind)
            },
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for Add {
    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }

    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "ADD"
    }

    fn attributes(&self) -> String {
        format!("{:?}", self.activation)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            let binary = binary_f32(cx, node, self.activation)?;
            return Ok(Some(Op::AddF32(AddF32Op { binary })));
        }
        if is_plain_integer(cx, node) {
            let op = integer_binary(cx, node, IntegerFunction::Add, self.activation)?;
            return Ok(Some(op));
        }
        let add = add_sub(cx, node, self.activation)?;
        Ok(Some(match cx.dtype(cx.input(node, 0)?) {
            DataType::I16 => Op::AddS16(AddS16Op { add }),
            _ => Op::Add(AddOp { add }),
        }))
    }

    /// int8 on the RV32: with one int8 ADD in the model, link-time
    /// optimization specializes its kernel for that layer's parameters
    /// (208 bytes); with several, they share one frame, painted at 280 on
    /// the while fixture (its five ADDs, one per pass of the loop).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if plain_integer_node(g, node) {
            return PLAIN_INTEGER_STACK;
        }
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return ADD_SUB_INT16_STACK;
        }
        if let Some(shared) = shared_float_kernel(g, node) {
            return shared;
        }
        let riscv32 = if kernel_callers(g, node) > 1 {
            280
        } else {
            208
        };
        Stack::new(332, 208, 208, riscv32)
    }
}

/// The frame of a float32 ADD, SUB or MUL whose kernel several layers of
/// the model share. With one caller, link-time optimization specializes
/// the kernel for that layer's shapes and its frame is the op's usual
/// figure; shared, the general broadcasting kernel keeps its index arrays
/// on the stack (516 bytes on the M4). Painted on the while_gru_float
/// fixture, a GRU over six steps, each pass a copy of its layers.
fn shared_float_kernel(g: &Graph, node: &Node) -> Option<Stack> {
    let float = node
        .input(0)
        .is_some_and(|t| g.tensors[t].dtype == DataType::F32);
    (float && kernel_callers(g, node) > 1).then_some(Stack::new(828, 672, 672, 396))
}

/// How many layers of the model run `node`'s kernel: nodes of its op and
/// input type (plain integer ones, a kernel of their own, apart).
fn kernel_callers(g: &Graph, node: &Node) -> usize {
    let dtype = |n: &Node| n.input(0).map(|t| g.tensors[t].dtype);
    let plain = plain_integer_node(g, node);
    g.nodes
        .iter()
        .filter(|n| std::mem::discriminant(&n.kind) == std::mem::discriminant(&node.kind))
        .filter(|n| dtype(n) == dtype(node) && plain_integer_node(g, n) == plain)
        .count()
}

impl IrOp for Sub {
    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }

    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "SUB"
    }

    fn attributes(&self) -> String {
        format!("{:?}", self.activation)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            let binary = binary_f32(cx, node, self.activation)?;
            return Ok(Some(Op::SubF32(SubF32Op { binary })));
        }
        if is_plain_integer(cx, node) {
            let op = integer_binary(cx, node, IntegerFunction::Sub, self.activation)?;
            return Ok(Some(op));
        }
        let add = add_sub(cx, node, self.activation)?;
        Ok(Some(match cx.dtype(cx.input(node, 0)?) {
            DataType::I16 => Op::SubS16(SubS16Op { add }),
            _ => Op::Sub(SubOp { add }),
        }))
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if plain_integer_node(g, node) {
            return PLAIN_INTEGER_STACK;
        }
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return ADD_SUB_INT16_STACK;
        }
        shared_float_kernel(g, node).unwrap_or(Stack::new(412, 288, 288, 288))
    }
}

impl IrOp for Mul {
    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }

    /// int16: painted on each core on the mul_int16 fixture.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if plain_integer_node(g, node) {
            return PLAIN_INTEGER_STACK;
        }
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return Stack::new(396, 436, 304, 280);
        }
        shared_float_kernel(g, node).unwrap_or(crate::stack::SMALL_OP)
    }

    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "MUL"
    }

    fn attributes(&self) -> String {
        format!("{:?}", self.activation)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            let binary = binary_f32(cx, node, self.activation)?;
            return Ok(Some(Op::MulF32(MulF32Op { binary })));
        }
        if is_plain_integer(cx, node) {
            let op = integer_binary(cx, node, IntegerFunction::Mul, self.activation)?;
            return Ok(Some(op));
        }
        let (params, constant, input1, input2, output) =
            mul_like(cx, node, self.activation, |sa, sb, so| sa * sb / so)?;
        if cx.dtype(cx.input(node, 0)?) == DataType::I16 {
            return Ok(Some(Op::MulS16(MulS16Op {
                params,
                constant,
                input1,
                input2,
                output,
            })));
        }
        Ok(Some(Op::Mul(MulOp {
            params,
            constant,
            input1,
            input2,
            output,
        })))
    }
}

/// The operands and parameters of a quantized op TFLM prepares as MUL
/// (MUL; DIV in int8 only): offsets, and one output multiplier, `real` of
/// the input and output scales (in double precision, as TFLM computes it).
/// int16 operands have zero points 0 (TFLM requires it).
fn mul_like(
    cx: &mut Lowering,
    node: &Node,
    activation: Activation,
    real: impl Fn(f64, f64, f64) -> f64,
) -> Lowered<(MulParams, ConstantOperand, Span, Span, Span)> {
    let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
    let ((sa, za), (sb, zb), (so, zo)) = (cx.quant(a)?, cx.quant(b)?, cx.quant(out)?);
    let element = cx.dtype(a);
    let (activation_min, activation_max) = if element == DataType::I16 {
        if [za, zb, zo] != [0; 3] || cx.dtype(b) != element || cx.dtype(out) != element {
            return unsupported(format!(
                "int16 {} with a zero point or between types",
                node.kind.name()
            ));
        }
        activation_range_i16(activation, so)
    } else {
        activation_range(activation, so, zo)
    };
    let (output_multiplier, output_shift) =
        quantize_multiplier(real(f64::from(sa), f64::from(sb), f64::from(so)));
    let (constant, input1, input2) = binary_operands(cx, a, b, element)?;
    let params = MulParams {
        broadcast: broadcast(cx, a, b, out)?,
        input1_offset: -za,
        input2_offset: -zb,
        output_multiplier,
        output_shift,
        output_offset: zo,
        activation_min,
        activation_max,
    };
    Ok((
        params,
        constant,
        input1,
        input2,
        cx.activation(out, element)?,
    ))
}

impl IrOp for Div {
    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }

    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "DIV"
    }

    /// int8: painted on each core on the div fixture (the reciprocal's
    /// Newton steps keep more in registers than MUL).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let float = node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::F32);
        if float {
            return crate::stack::SMALL_OP;
        }
        Stack::new(360, 288, 320, 288)
    }

    /// A model kiln quantizes keeps its DIV in float32: an int8 divisor
    /// near its zero point is a quotient out of any calibrated range.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            let binary = binary_f32(cx, node, self.activation)?;
            return Ok(Some(Op::DivF32(DivF32Op { binary })));
        }
        if cx.dtype(cx.input(node, 0)?) != DataType::I8 {
            return unsupported("DIV of other types than int8 and float32 (as TFLM)");
        }
        let (params, constant, input1, input2, output) =
            mul_like(cx, node, self.activation, |sa, sb, so| sa / (sb * so))?;
        // The kernel's last rounding shift lies between 23 - output_shift
        // (an int8 numerator has at least 23 bits of headroom, a divisor of
        // 1 no reciprocal shift) and 38 - output_shift (headroom 31, a
        // divisor up to 255): TFLM's shift must not go negative, and its
        // mask `(1 << shift) - 1` must fit 64 bits.
        if !(-24..=23).contains(&params.output_shift) {
            return unsupported(format!(
                "int8 DIV with an output multiplier outside 2^-25..2^23 (output shift {})",
                params.output_shift
            ));
        }
        Ok(Some(Op::Div(DivOp {
            params,
            constant,
            input1,
            input2,
            output,
        })))
    }
}

/// How TFLM brings the two inputs of an ADD-like int8 op to a common scale.
#[derive(Clone, Copy, PartialEq)]
enum Headroom {
    /// ADD and SUB: 20 bits.
    Sum,
    /// SQUARED_DIFFERENCE: 7 bits for int8, none for int16 (the square of
    /// a difference must fit 32 bits), the output's multiplier taking the
    /// square of the common scale and required below one.
    SquaredDifference,
}

/// Quantized ADD or SUB, which TFLM prepares alike: both inputs brought
/// to a common scale with 20 bits of headroom (int8) or 15 (int16).
fn add_sub(cx: &mut Lowering, node: &Node, activation: Activation) -> Lowered<AddSub> {
    add_like(cx, node, activation, Headroom::Sum)
}

/// The parameters of an ADD-like quantized op (ADD, SUB, SQUARED_DIFFERENCE),
/// as TFLM prepares each.
fn add_like(
    cx: &mut Lowering,
    node: &Node,
    activation: Activation,
    headroom: Headroom,
) -> Lowered<AddSub> {
    let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
    let dtype = cx.dtype(a);
    let int16 = dtype == DataType::I16;
    let left_shift: i32 = match headroom {
        Headroom::Sum if int16 => 15,
        Headroom::Sum => 20,
        Headroom::SquaredDifference if int16 => 0,
        Headroom::SquaredDifference => 7,
    };
    let ((sa, za), (sb, zb), (so, zo)) = (cx.quant(a)?, cx.quant(b)?, cx.quant(out)?);
    if int16 && ([za, zb, zo] != [0; 3] || cx.dtype(b) != dtype || cx.dtype(out) != dtype) {
        return unsupported(format!(
            "int16 {} with a zero point or between types",
            node.kind.name()
        ));
    }
    let twice_max_input_scale = 2.0 * f64::from(sa.max(sb));
    let (input1_multiplier, input1_shift) =
        quantize_multiplier(f64::from(sa) / twice_max_input_scale);
    let (input2_multiplier, input2_shift) =
        quantize_multiplier(f64::from(sb) / twice_max_input_scale);
    let headroom_scale = (1i64 << left_shift) as f64;
    let output_real = match headroom {
        Headroom::Sum => twice_max_input_scale / (headroom_scale * f64::from(so)),
        Headroom::SquaredDifference => {
            twice_max_input_scale * twice_max_input_scale
                / (headroom_scale * headroom_scale * f64::from(so))
        }
    };
    if output_real >= 1.0 {
        let name = node.kind.name();
        return invalid(format!(
            "{name}'s output scale {so} is too small for input scales {sa} and {sb} \
             (TFLM requires its multiplier below one)"
        ));
    }
    let (output_multiplier, output_shift) = quantize_multiplier(output_real);
    let (activation_min, activation_max) = if int16 {
        activation_range_i16(activation, so)
    } else {
        activation_range(activation, so, zo)
    };
    let element = if int16 { DataType::I16 } else { DataType::I8 };
    let (constant, input1, input2) = binary_operands(cx, a, b, element)?;
    Ok(AddSub {
        params: AddParams {
            broadcast: broadcast(cx, a, b, out)?,
            input1_offset: -za,
            input2_offset: -zb,
            left_shift,
            input1_multiplier,
            input1_shift,
            input2_multiplier,
            input2_shift,
            output_multiplier,
            output_shift,
            output_offset: zo,
            activation_min,
            activation_max,
        },
        constant,
        input1,
        input2,
        output: cx.activation(out, element)?,
    })
}

/// Whether a node computes on plain integers: its first input is an int8,
/// int16 or int32 tensor without quantization parameters (TFLite's int32
/// arithmetic, ONNX's integer tensors).
pub(crate) fn is_plain_integer(cx: &Lowering, node: &Node) -> bool {
    plain_integer_node(cx.graph(), node)
}

/// `is_plain_integer` on the graph (for the stack figures).
pub(crate) fn plain_integer_node(g: &Graph, node: &Node) -> bool {
    node.input(0).is_some_and(|t| {
        let tensor = &g.tensors[t];
        matches!(tensor.dtype, DataType::I8 | DataType::I16 | DataType::I32)
            && tensor.quantization.is_none()
    })
}

/// int16 ADD's and SUB's frame, painted on each core on the add_sub_int16
/// fixture (which holds both: the larger).
const ADD_SUB_INT16_STACK: Stack = Stack::new(444, 352, 352, 340);

/// The plain-integer ops' frame (their kernels keep the loop in
/// registers), painted on each core on the integer fixture.
pub(crate) const PLAIN_INTEGER_STACK: Stack = Stack::new(160, 88, 88, 64);

/// The runtime type of a plain-integer tensor (int8, int16, int32).
pub(crate) fn runtime_integer(dtype: DataType) -> DType {
    match dtype {
        DataType::I8 => DType::I8,
        DataType::I16 => DType::I16,
        _ => DType::I32,
    }
}

/// The runtime element type of an int8, int16, int32 or float32 tensor
/// (for the ops that move values of any of these types as they are).
pub(crate) fn element_dtype(dtype: DataType) -> Option<DType> {
    Some(match dtype {
        DataType::I8 => DType::I8,
        DataType::I16 => DType::I16,
        DataType::I32 => DType::I32,
        DataType::F32 => DType::F32,
        _ => return None,
    })
}

/// A plain-integer binary op on inputs 0 and 1 (`is_plain_integer`): the
/// arithmetic wraps in the tensors' type, then the fused activation clamps
/// (TFLM's CalculateActivationRange for integers).
pub(crate) fn integer_binary(
    cx: &mut Lowering,
    node: &Node,
    function: IntegerFunction,
    activation: Activation,
) -> Lowered<Op> {
    let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
    let dtype = cx.dtype(a);
    let (low, high) = match dtype {
        DataType::I8 => (i32::from(i8::MIN), i32::from(i8::MAX)),
        DataType::I16 => (i32::from(i16::MIN), i32::from(i16::MAX)),
        _ => (i32::MIN, i32::MAX),
    };
    let (activation_min, activation_max) = match activation {
        Activation::None => (low, high),
        Activation::Relu => (0, high),
        Activation::Relu6 => (0, 6.min(high)),
        Activation::ReluN1To1 => (-1, 1),
    };
    if cx.tensor(b).quantization.is_some() || cx.tensor(out).quantization.is_some() {
        return unsupported("a quantized operand of a plain-integer op");
    }
    integer_binary_of_values(cx, node, function, (activation_min, activation_max))
}

/// [`integer_binary`] of the stored values whatever their quantization
/// (for ops that only select one, as int16 MAXIMUM and MINIMUM), clamped
/// to `activation_min..=activation_max`.
pub(crate) fn integer_binary_of_values(
    cx: &mut Lowering,
    node: &Node,
    function: IntegerFunction,
    (activation_min, activation_max): (i32, i32),
) -> Lowered<Op> {
    let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
    let dtype = cx.dtype(a);
    let (constant, input1, input2) = binary_operands(cx, a, b, dtype)?;
    Ok(Op::IntegerBinary(IntegerBinaryOp {
        params: IntegerParams {
            function,
            broadcast: broadcast(cx, a, b, out)?,
            activation_min,
            activation_max,
        },
        dtype: runtime_integer(dtype),
        constant,
        input1,
        input2,
        output: cx.activation(out, dtype)?,
    }))
}

/// A float32 binary op on inputs 0 and 1.
pub(crate) fn binary_f32(
    cx: &mut Lowering,
    node: &Node,
    activation: Activation,
) -> Lowered<BinaryF32> {
    let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
    let (constant, input1, input2) = binary_operands(cx, a, b, DataType::F32)?;
    Ok(BinaryF32 {
        broadcast: broadcast(cx, a, b, out)?,
        activation: float_range(activation),
        constant,
        input1,
        input2,
        output: cx.activation(out, DataType::F32)?,
    })
}

/// Numpy-style broadcasting of two inputs onto the output shape.
pub(crate) fn broadcast(
    cx: &Lowering,
    a: TensorId,
    b: TensorId,
    out: TensorId,
) -> Lowered<Broadcast> {
    let (sa, sb, so) = (cx.shape(a), cx.shape(b), cx.shape(out));
    if so.len() > MAX_RANK || sa.len() > so.len() || sb.len() > so.len() {
        return unsupported(format!("broadcasting {sa:?} and {sb:?} to {so:?}"));
    }
    let pad = |s: &[usize]| -> [usize; MAX_RANK] {
        let mut d = [1; MAX_RANK];
        d[MAX_RANK - s.len()..].copy_from_slice(s);
        d
    };
    let (da, db, dout) = (pad(sa), pad(sb), pad(so));
    let strides = |d: &[usize; MAX_RANK]| -> Lowered<[u32; MAX_RANK]> {
        let mut s = [0u32; MAX_RANK];
        let mut stride = 1usize;
        for i in (0..MAX_RANK).rev() {
            if d[i] == dout[i] {
                s[i] = if d[i] == 1 { 0 } else { to_u32(stride)? };
            } else if d[i] == 1 {
                s[i] = 0;
            } else {
                return invalid(format!("cannot broadcast {sa:?} and {sb:?} to {so:?}"));
            }
            stride *= d[i];
        }
        Ok(s)
    };
    let mut output_dims = [0u32; MAX_RANK];
    for (o, &d) in output_dims.iter_mut().zip(&dout) {
        *o = to_u32(d)?;
    }
    Ok(Broadcast {
        output_dims,
        input1_strides: strides(&da)?,
        input2_strides: strides(&db)?,
        same_shape: sa == so && sb == so,
    })
}

/// The operands of a binary op: arena values, or one constant copied into
/// the weights.
pub(crate) fn binary_operands(
    cx: &mut Lowering,
    a: TensorId,
    b: TensorId,
    dtype: DataType,
) -> Lowered<(ConstantOperand, Span, Span)> {
    two_operands(cx, (a, dtype), (b, dtype))
}

/// Two operands of their own types (GATHER's table and int32 indices), as
/// [`binary_operands`] places them.
pub(crate) fn two_operands(
    cx: &mut Lowering,
    (a, a_type): (TensorId, DataType),
    (b, b_type): (TensorId, DataType),
) -> Lowered<(ConstantOperand, Span, Span)> {
    let is_constant = |t: TensorId| cx.tensor(t).is_constant();
    Ok(match (is_constant(a), is_constant(b)) {
        (false, false) => (
            ConstantOperand::Neither,
            cx.activation(a, a_type)?,
            cx.activation(b, b_type)?,
        ),
        (true, false) => (
            ConstantOperand::First,
            cx.copied_constant(a, a_type)?,
            cx.activation(b, b_type)?,
        ),
        (false, true) => (
            ConstantOperand::Second,
            cx.activation(a, a_type)?,
            cx.copied_constant(b, b_type)?,
        ),
        (true, true) => {
            return unsupported(
                "both operands are constants (fold them before converting the model)",
            )
        }
    })
}
