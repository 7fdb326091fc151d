//! The ops that compare values: the comparisons (TFLite LESS, LESS_EQUAL,
//! GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL; ONNX Less, LessOrEqual,
//! Greater, GreaterOrEqual, Equal) to a bool tensor, SELECT_V2 (ONNX
//! Where; and TFLite's IF, whose branches the importer inlines with a
//! SELECT_V2 per output), and MAXIMUM and MINIMUM (ONNX Max and Min); int8
//! with TFLM's arithmetic and float32; SELECT_V2 of int16 values too.
//!
//! Layer: ops; uses `lower`, `quantize::multiplier` and the elementwise
//! ops' broadcast and operand placement.

use kiln::graph::Op;
use kiln::kernels::compare::{CompareKind, CompareParams, SelectGeometry};
use kiln::ops::{
    CompareF32Op, CompareOp, IntegerCompareOp, IntegerFunction, MaxMinF32Op, MaxMinOp, SelectOp,
};
use kiln::DType;

use super::elementwise::{binary_operands, broadcast, runtime_integer};
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{broadcast_shape, Activation, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// A comparison of two values (broadcast) to a bool tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub kind: CompareKind,
}

/// SELECT_V2: `condition ? input1 : input2`, every operand broadcast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Select;

/// MAXIMUM, or MINIMUM (`maximum` false).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxMin {
    pub maximum: bool,
}

/// The comparisons' and SELECT_V2's frame, painted on each core on the
/// comparisons fixture.
const COMPARE_STACK: Stack = Stack::new(356, 284, 284, 256);

macro_rules! comparison {
    ($kind:ident) => {
        |_| {
            Ok(OpKind::Comparison(Comparison {
                kind: CompareKind::$kind,
            }))
        }
    };
}

macro_rules! onnx_comparison {
    ($name:literal, $kind:ident) => {
        OnnxConverter {
            op_type: $name,
            inputs: 2,
            convert: |cx, n| comparison_from_onnx(cx, n, CompareKind::$kind),
        }
    };
}

impl Comparison {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("LESS", comparison!(Less)),
            ("LESS_EQUAL", comparison!(LessEqual)),
            ("GREATER", comparison!(Greater)),
            ("GREATER_EQUAL", comparison!(GreaterEqual)),
            ("EQUAL", comparison!(Equal)),
            ("NOT_EQUAL", comparison!(NotEqual)),
        ],
        onnx: &[
            onnx_comparison!("Less", Less),
            onnx_comparison!("LessOrEqual", LessEqual),
            onnx_comparison!("Greater", Greater),
            onnx_comparison!("GreaterOrEqual", GreaterEqual),
            onnx_comparison!("Equal", Equal),
        ],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl Select {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("SELECT_V2", |_| Ok(OpKind::Select(Select))),
            // `import::tflite`'s subgraph reading inlines both branches.
            ("IF", |_| {
                crate::import::tflite::invalid("IF is inlined where it is read")
            }),
        ],
        onnx: &[OnnxConverter {
            op_type: "Where",
            inputs: 3,
            convert: select_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl MaxMin {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("MAXIMUM", |_| Ok(OpKind::MaxMin(MaxMin { maximum: true }))),
            ("MINIMUM", |_| Ok(OpKind::MaxMin(MaxMin { maximum: false }))),
        ],
        onnx: &[
            OnnxConverter {
                op_type: "Max",
                inputs: 1,
                convert: |cx, n| max_min_from_onnx(cx, n, true),
            },
            OnnxConverter {
                op_type: "Min",
                inputs: 1,
                convert: |cx, n| max_min_from_onnx(cx, n, false),
            },
        ],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Comparison {
    fn name(&self) -> &'static str {
        match self.kind {
            CompareKind::Less => "LESS",
            CompareKind::LessEqual => "LESS_EQUAL",
            CompareKind::Greater => "GREATER",
            CompareKind::GreaterEqual => "GREATER_EQUAL",
            CompareKind::Equal => "EQUAL",
            CompareKind::NotEqual => "NOT_EQUAL",
        }
    }

    /// Each input keeps its own parameters (the kernel rescales both); a
    /// constant operand is quantized on its own.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    /// Painted on each core on the comparisons fixture. Plain integers
    /// take the plain-integer ops' figure: the integer comparison's own
    /// frame, as `opprof` paints it from the basic_classifier blob, is that
    /// figure on the M4, M33 and RV32 (88, 88, 64 bytes; the M0's opprof
    /// overflows its flash, and the whole fixture paints 160 there).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if super::elementwise::plain_integer_node(g, node) {
            return super::elementwise::PLAIN_INTEGER_STACK;
        }
        COMPARE_STACK
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        let b_cast = broadcast(cx, a, b, out)?;
        let output = cx.activation(out, DataType::Bool)?;
        if super::elementwise::is_plain_integer(cx, node) {
            let dtype = cx.dtype(a);
            let (constant, input1, input2) = binary_operands(cx, a, b, dtype)?;
            return Ok(Some(Op::IntegerCompare(IntegerCompareOp {
                broadcast: b_cast,
                kind: self.kind,
                dtype: runtime_integer(dtype),
                constant,
                input1,
                input2,
                output,
            })));
        }
        if cx.dtype(a) == DataType::F32 {
            let (constant, input1, input2) = binary_operands(cx, a, b, DataType::F32)?;
            return Ok(Some(Op::CompareF32(CompareF32Op {
                broadcast: b_cast,
                kind: self.kind,
                constant,
                input1,
                input2,
                output,
            })));
        }
        let ((sa, za), (sb, zb)) = (cx.quant(a)?, cx.quant(b)?);
        // TFLM's QuantizeMultiplierSmallerThanOneExp: each input's scale.
        let scaling = |scale: f32| {
            if scale >= 1.0 {
                return unsupported(format!(
                    "an int8 comparison of an input with scale {scale} (TFLM takes scales under 1)"
                ));
            }
            Ok(quantize_multiplier(f64::from(scale)))
        };
        let ((m1, s1), (m2, s2)) = (scaling(sa)?, scaling(sb)?);
        let (constant, input1, input2) = binary_operands(cx, a, b, DataType::I8)?;
        Ok(Some(Op::Compare(CompareOp {
            params: CompareParams {
                broadcast: b_cast,
                kind: self.kind,
                left_shift: 8,
                input1_offset: -za,
                input1_multiplier: m1,
                input1_shift: s1,
                input2_offset: -zb,
                input2_multiplier: m2,
                input2_shift: s2,
            },
            constant,
            input1,
            input2,
            output,
        })))
    }
}

impl IrOp for Select {
    fn name(&self) -> &'static str {
        "SELECT_V2"
    }

    /// int8 values and output share one quantization: the op moves bytes.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::SharedInterval
    }

    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        COMPARE_STACK
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (c, a, b, out) = (
            cx.input(node, 0)?,
            cx.input(node, 1)?,
            cx.input(node, 2)?,
            cx.output(node)?,
        );
        let values = broadcast(cx, a, b, out)?;
        let condition_strides = broadcast(cx, c, c, out)?.input1_strides;
        let condition = cx.activation(c, DataType::Bool)?;
        let plain = |t| cx.tensor(t).quantization.is_none();
        let (element, dtype) = if cx.dtype(out) == DataType::F32 {
            (DType::F32, DataType::F32)
        } else if [a, b, out].into_iter().all(plain) {
            // Plain integers: the op moves them as they are.
            (runtime_integer(cx.dtype(out)), cx.dtype(out))
        } else {
            // Quantized int8 or int16: TFLM moves the stored values.
            cx.same_quantization(a, out, "SELECT_V2")?;
            cx.same_quantization(b, out, "SELECT_V2")?;
            let dtype = cx.dtype(out);
            if dtype != DataType::I16 && dtype != DataType::I8 {
                return unsupported(format!("SELECT_V2 of quantized {dtype:?} values"));
            }
            (runtime_integer(dtype), dtype)
        };
        let (constant, input1, input2) = binary_operands(cx, a, b, dtype)?;
        Ok(Some(Op::Select(SelectOp {
            geometry: SelectGeometry {
                values,
                condition_strides,
            },
            element,
            constant,
            condition,
            input1,
            input2,
            output: cx.activation(out, dtype)?,
        })))
    }
}

impl IrOp for MaxMin {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        if self.maximum {
            "MAXIMUM"
        } else {
            "MINIMUM"
        }
    }

    /// int8 inputs and output share one quantization (TFLM compares the
    /// bytes).
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::SharedInterval
    }

    /// Painted on each core on the compare_select fixture (its deepest op);
    /// plain integers (and int16 values, which run on the same kernel) on
    /// the integer fixture.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let int16 = node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16);
        if int16 || super::elementwise::plain_integer_node(g, node) {
            return super::elementwise::PLAIN_INTEGER_STACK;
        }
        Stack::new(560, 532, 532, 256)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        let b_cast = broadcast(cx, a, b, out)?;
        let maximum = self.maximum;
        let function = if maximum {
            IntegerFunction::Max
        } else {
            IntegerFunction::Min
        };
        if super::elementwise::is_plain_integer(cx, node) {
            let op = super::elementwise::integer_binary(cx, node, function, Activation::None)?;
            return Ok(Some(op));
        }
        // int16 (zero point 0, one scale): the larger or smaller stored
        // value, as TFLM compares them.
        if cx.dtype(out) == DataType::I16 {
            cx.same_quantization(a, out, self.name())?;
            cx.same_quantization(b, out, self.name())?;
            if cx.dtype(a) != DataType::I16 || cx.dtype(b) != DataType::I16 {
                return invalid("MAXIMUM/MINIMUM inputs of another type than the output");
            }
            let full = (i32::from(i16::MIN), i32::from(i16::MAX));
            let op = super::elementwise::integer_binary_of_values(cx, node, function, full)?;
            return Ok(Some(op));
        }
        if cx.dtype(out) == DataType::F32 {
            let (constant, input1, input2) = binary_operands(cx, a, b, DataType::F32)?;
            return Ok(Some(Op::MaxMinF32(MaxMinF32Op {
                broadcast: b_cast,
                maximum,
                constant,
                input1,
                input2,
                output: cx.activation(out, DataType::F32)?,
            })));
        }
        cx.same_quantization(a, out, self.name())?;
        cx.same_quantization(b, out, self.name())?;
        let (constant, input1, input2) = binary_operands(cx, a, b, DataType::I8)?;
        Ok(Some(Op::MaxMin(MaxMinOp {
            broadcast: b_cast,
            maximum,
            constant,
            input1,
            input2,
            output: cx.activation(out, DataType::I8)?,
        })))
    }
}

/// An ONNX comparison: a binary op whose output is bool.
fn comparison_from_onnx(cx: &mut Importer, n: &OnnxNode, kind: CompareKind) -> Step<()> {
    cx.binary_node(n, OpKind::Comparison(Comparison { kind }))?;
    let out = cx.value(&n.outputs[0])?;
    cx.g.tensors[out].dtype = DataType::Bool;
    Ok(())
}

/// ONNX Where: its condition a computed bool value, either value operand
/// possibly an initializer; the three broadcast together.
fn select_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let condition = cx.value(&n.inputs[0])?;
    if cx.g.tensors[condition].dtype != DataType::Bool {
        return Err("Where's condition must be a bool value".into());
    }
    let (a, b) = cx.binary_operands(&n.inputs[1], &n.inputs[2])?;
    let shapes = [cx.shape(condition), cx.shape(a), cx.shape(b)];
    let Some(shape) = broadcast_shape(&[&shapes[0], &shapes[1], &shapes[2]]) else {
        return Err(format!("Where of shapes {shapes:?} does not broadcast"));
    };
    let out = cx.new_output(n, shape);
    cx.g.tensors[out].dtype = cx.result_type(a);
    cx.push(
        OpKind::Select(Select),
        vec![Some(condition), Some(a), Some(b)],
        vec![out],
        "Where",
    );
    Ok(())
}

/// ONNX Max and Min of any number of inputs: a chain of MAXIMUM (or
/// MINIMUM) ops (a constant among the first two only); of one input, that
/// input.
fn max_min_from_onnx(cx: &mut Importer, n: &OnnxNode, maximum: bool) -> Step<()> {
    let inputs: Vec<&String> = n.inputs.iter().filter(|s| !s.is_empty()).collect();
    let kind = OpKind::MaxMin(MaxMin { maximum });
    let name = n.outputs[0].clone();
    let (mut acc, rest) = match inputs.as_slice() {
        [] => return Err("Max or Min without inputs".into()),
        [only] => {
            let v = cx.value(only)?;
            cx.values.insert(name, v);
            return Ok(());
        }
        [first, second, rest @ ..] => {
            let (a, b) = cx.binary_operands(first, second)?;
            let last = rest.is_empty();
            let step = if last {
                name.clone()
            } else {
                format!("{name} (1)")
            };
            (cx.binary(kind.clone(), a, b, step, &n.op_type)?, rest)
        }
    };
    for (i, input) in rest.iter().enumerate() {
        let b = cx.value(input)?;
        let a = acc;
        let step = if i + 1 == rest.len() {
            name.clone()
        } else {
            format!("{name} ({})", i + 2)
        };
        acc = cx.binary(kind.clone(), a, b, step, &n.op_type)?;
    }
    Ok(())
}
