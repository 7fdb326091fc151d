//! The reductions over any set of axes: MEAN (and ONNX ReduceMean and
//! GlobalAveragePool) and SUM (ONNX ReduceSum), int8 with TFLM's
//! requantized sum, and float32; REDUCE_MAX and REDUCE_MIN (ONNX ReduceMax,
//! ReduceMin), int8 with the input's parameters, and float32.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::mean::Extreme;
use kiln::kernels::mean::{MeanParams, Reduction};
use kiln::ops::{MeanF32Op, MeanOp, MeanS16Op, ReduceExtremeF32Op, ReduceExtremeOp, SumF32Op};

use super::{Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Attribute, Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, padded_dims, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// Which reduction: MEAN, SUM, REDUCE_MAX or REDUCE_MIN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reducer {
    Mean,
    Sum,
    Max,
    Min,
}

/// A reduction over constant axes. Inputs: data, axes (an int32
/// constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reduce {
    pub reducer: Reducer,
    pub keep_dims: bool,
}

/// The TFLite reader of `reducer`: its ReducerOptions' keep_dims.
macro_rules! tflite_reduce {
    ($reducer:ident) => {
        |op| {
            Ok(OpKind::Reduce(Reduce {
                reducer: Reducer::$reducer,
                keep_dims: op.bool(0)?,
            }))
        }
    };
}

/// The ONNX converter of op type `$name` to `reducer`.
macro_rules! onnx_reduce {
    ($name:literal, $reducer:ident) => {
        OnnxConverter {
            op_type: $name,
            inputs: 1,
            convert: |cx, n| reduce_from_onnx(cx, n, Reducer::$reducer),
        }
    };
}

impl Reduce {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("MEAN", tflite_reduce!(Mean)),
            ("SUM", tflite_reduce!(Sum)),
            ("REDUCE_MAX", tflite_reduce!(Max)),
            ("REDUCE_MIN", tflite_reduce!(Min)),
        ],
        onnx: &[
            onnx_reduce!("ReduceMean", Mean),
            onnx_reduce!("ReduceSum", Sum),
            onnx_reduce!("ReduceMax", Max),
            onnx_reduce!("ReduceMin", Min),
            // A layer norm is two means and the arithmetic between them.
            OnnxConverter {
                op_type: "LayerNormalization",
                inputs: 2,
                convert: crate::import::onnx::layer_normalization,
            },
            OnnxConverter {
                op_type: "GlobalAveragePool",
                inputs: 1,
                convert: global_average_pool_from_onnx,
            },
        ],
        // int16: MEAN and SUM (TFLM has no int16 REDUCE_MAX or REDUCE_MIN).
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl Reduce {
    /// The extreme a REDUCE_MAX or REDUCE_MIN keeps.
    fn extreme(&self) -> Extreme {
        match self.reducer {
            Reducer::Min => Extreme::Min,
            _ => Extreme::Max,
        }
    }
}

impl IrOp for Reduce {
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        reduction_stack(g, node)
    }

    fn permuted(&self, node: &Node, to_new: &[usize], g: &mut Graph) -> Option<Permuted> {
        permuted_reduction(node, to_new, g, self.keep_dims, OpKind::Reduce(*self))
    }

    fn name(&self) -> &'static str {
        match self.reducer {
            Reducer::Mean => "MEAN",
            Reducer::Sum => "SUM",
            Reducer::Max => "REDUCE_MAX",
            Reducer::Min => "REDUCE_MIN",
        }
    }

    fn attributes(&self) -> String {
        format!("keep_dims {}", self.keep_dims)
    }

    /// MEAN and SUM requantize to parameters of their own; TFLM requires
    /// REDUCE_MAX's and REDUCE_MIN's output to have their input's.
    fn quantization(&self, _node: &Node) -> QuantRule {
        match self.reducer {
            Reducer::Max | Reducer::Min => QuantRule::KeepsInputParameters,
            _ => QuantRule::Calibrated,
        }
    }

    /// int8 MEAN and SUM are one requantized sum (MEAN's multiplier has
    /// the count folded in, SUM's is the scale ratio alone, as TFLM's).
    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let reduction = reduction(cx, node)?;
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(match self.reducer {
                Reducer::Mean => Op::MeanF32(MeanF32Op {
                    reduction,
                    input,
                    output,
                }),
                Reducer::Sum => Op::SumF32(SumF32Op {
                    reduction,
                    input,
                    output,
                }),
                Reducer::Max | Reducer::Min => Op::ReduceExtremeF32(ReduceExtremeF32Op {
                    reduction,
                    extreme: self.extreme(),
                    input,
                    output,
                }),
            }));
        }
        let int16 = cx.dtype(input) == DataType::I16;
        if int16 && matches!(self.reducer, Reducer::Max | Reducer::Min) {
            return unsupported(format!("int16 {} (TFLM has no such kernel)", self.name()));
        }
        if matches!(self.reducer, Reducer::Max | Reducer::Min) {
            cx.same_quantization(input, out, self.name())?;
            let (input, output) = cx.spans((input, out), DataType::I8)?;
            return Ok(Some(Op::ReduceExtreme(ReduceExtremeOp {
                reduction,
                extreme: self.extreme(),
                input,
                output,
            })));
        }
        let ((si, zi), (so, zo)) = (cx.quant(input)?, cx.quant(out)?);
        let (multiplier, shift) = match self.reducer {
            Reducer::Mean => mean_multiplier(si, so, reduction.reduced_elements().max(1)),
            _ => quantize_multiplier(f64::from(si) / f64::from(so)),
        };
        let params = MeanParams {
            reduction,
            input_zero_point: zi,
            output_zero_point: zo,
            multiplier,
            shift,
        };
        if int16 {
            // TFLite's 16x8 scheme, as kiln's other int16 kernels; the
            // int32 sum is exact for fewer than 2^15 values (the runtime
            // checks it).
            if params.reduction.reduced_elements() >= 1 << 15 {
                return unsupported(format!(
                    "int16 {} over 2^15 values or more (the int32 sum could wrap)",
                    self.name()
                ));
            }
            if zi != 0 || zo != 0 || cx.dtype(out) != DataType::I16 {
                return unsupported(format!(
                    "int16 {} with a zero point or to another type",
                    self.name()
                ));
            }
            let (input, output) = cx.spans((input, out), DataType::I16)?;
            return Ok(Some(Op::MeanS16(MeanS16Op {
                params,
                input,
                output,
            })));
        }
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::Mean(MeanOp {
            params,
            input,
            output,
        })))
    }
}

/// The frame of an int8 reduction (MEAN, SUM, REDUCE_MAX: the reduction
/// walk keeps its odometers in registers), painted on each core on the
/// sum and reduce_max fixtures; a float32 one takes the small-op figure.
pub(super) fn reduction_stack(g: &Graph, node: &Node) -> Stack {
    match node.outputs.first().map(|&t| g.tensors[t].dtype) {
        Some(DataType::F32) | None => crate::stack::SMALL_OP,
        Some(_) => Stack::new(264, 208, 208, 176),
    }
}

/// A reduction in another layout: the reduced axes follow their dimensions
/// (a new int32 constant); without `keep_dims` the kept dimensions keep
/// their new order.
fn permuted_reduction(
    node: &Node,
    to_new: &[usize],
    g: &mut Graph,
    keep_dims: bool,
    kind: OpKind,
) -> Option<Permuted> {
    let axes_input = node.input(1)?;
    let rank = to_new.len();
    let axes: Vec<usize> = g.tensors[axes_input]
        .data_i32()?
        .iter()
        .map(|&a| usize::try_from(if a < 0 { a + rank as i32 } else { a }).ok())
        .collect::<Option<_>>()?;
    if axes.iter().any(|&a| a >= rank) {
        return None;
    }
    let new_axes: Vec<i32> = axes.iter().map(|&a| to_new[a] as i32).collect();
    let output = if keep_dims {
        to_new.to_vec()
    } else {
        let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
        let mut new_kept: Vec<usize> = kept.iter().map(|&d| to_new[d]).collect();
        new_kept.sort_unstable();
        kept.iter()
            .map(|&d| new_kept.iter().position(|&n| n == to_new[d]))
            .collect::<Option<_>>()?
    };
    let mut tensor = g.tensors[axes_input].clone();
    tensor.name = format!("{} (permuted)", tensor.name);
    tensor.dtype = DataType::I32;
    tensor.shape = vec![new_axes.len()];
    tensor.data = Some(new_axes.iter().flat_map(|v| v.to_le_bytes()).collect());
    g.tensors.push(tensor);
    Some(Permuted {
        kind,
        data_inputs: vec![0],
        params: vec![(1, g.tensors.len() - 1)],
        output,
    })
}

/// Which axes a reduction reduces (input 1: int32 axes).
pub(super) fn reduction(cx: &Lowering, node: &Node) -> Lowered<Reduction> {
    let (input, out) = cx.input_output(node)?;
    let axes = cx.input(node, 1)?;
    let Some(axes) = cx.tensor(axes).data_i32() else {
        return unsupported("axes must be a constant int32 tensor");
    };
    let shape = cx.shape(input);
    let input_dims = padded_dims(shape)?;
    let lead = input_dims.len() - shape.len();
    let mut r = Reduction {
        input_dims,
        ..Default::default()
    };
    for &a in &axes {
        let a = if a < 0 { a + shape.len() as i32 } else { a };
        if !(0..shape.len() as i32).contains(&a) {
            return invalid(format!("axis {a} out of range"));
        }
        r.reduce[lead + a as usize] = true;
    }
    if cx.tensor(out).elements() as u64 * r.reduced_elements() != cx.tensor(input).elements() as u64
    {
        return invalid("output size does not match the reduced axes");
    }
    Ok(r)
}

/// `input_scale / output_scale` with the division by the number of reduced
/// elements folded into the multiplier, as TFLM's `QuantizedMeanOrSum` does.
fn mean_multiplier(input_scale: f32, output_scale: f32, reduced: u64) -> (i32, i32) {
    let (multiplier, shift) = quantize_multiplier(f64::from(input_scale) / f64::from(output_scale));
    let bits = 63 - reduced.leading_zeros() as i32;
    let bits = bits.min(32).min(31 + shift);
    let multiplier = ((i64::from(multiplier) << bits) / reduced as i64) as i32;
    (multiplier, shift - bits)
}

/// GlobalAveragePool as TFLite's converter writes Keras'
/// GlobalAveragePooling2D: a MEAN over the spatial axes, keeping them.
/// Unlike AVERAGE_POOL_2D its int8 output has parameters of its own (a
/// QDQ model's included).
fn global_average_pool_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let rank = cx.shape(cx.value(&n.inputs[0])?).len() as i64;
    let mut mean = n.clone();
    mean.inputs.truncate(1);
    let attribute = |ints: Vec<i64>, i: Option<i64>| Attribute {
        ints,
        i,
        ..Attribute::default()
    };
    mean.attributes
        .insert("axes".into(), attribute((2..rank).collect(), None));
    mean.attributes
        .insert("keepdims".into(), attribute(vec![], Some(1)));
    reduce_from_onnx(cx, &mean, Reducer::Mean)
}

/// ReduceMean, ReduceSum, ReduceMax and ReduceMin over constant axes (an attribute in
/// older opsets, input 1 since), as the IR reduction with int32 axes.
fn reduce_from_onnx(cx: &mut Importer, n: &OnnxNode, reducer: Reducer) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let axes: Vec<i64> = match (n.ints("axes"), n.inputs.get(1).filter(|s| !s.is_empty())) {
        (Some(a), _) => a.to_vec(),
        (None, Some(name)) => cx
            .constant(name)?
            .i64s()
            .ok_or("axes must be an integer constant")?,
        (None, None) => vec![],
    };
    let keep_dims = n.int("keepdims", 1) != 0;
    let rank = cx.shape(x).len() as i64;
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a })
        .map(|a| usize::try_from(a).ok().filter(|&a| (a as i64) < rank))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("axes out of range for rank {rank}"))?;
    if axes.is_empty() {
        if n.int("noop_with_empty_axes", 0) != 0 {
            cx.values.insert(n.outputs[0].clone(), x);
            return Ok(());
        }
        axes = (0..rank as usize).collect();
    }
    axes.sort_unstable();
    axes.dedup();
    let name = n.outputs[0].clone();
    push_reduce(
        cx,
        Reduce { reducer, keep_dims },
        x,
        &axes,
        name,
        &n.op_type,
    );
    Ok(())
}

/// `reduce` of `x` over `axes` (sorted, distinct, in range), as the new
/// float32 value `name`; an ONNX LayerNormalization's means come from here
/// too.
pub(crate) fn push_reduce(
    cx: &mut Importer,
    reduce: Reduce,
    x: TensorId,
    axes: &[usize],
    name: String,
    source: &str,
) -> TensorId {
    let out_shape: Vec<usize> = cx
        .shape(x)
        .iter()
        .enumerate()
        .filter_map(|(d, &len)| match (axes.contains(&d), reduce.keep_dims) {
            (false, _) => Some(len),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let axes_bytes: Vec<u8> = axes
        .iter()
        .flat_map(|&a| (a as i32).to_le_bytes())
        .collect();
    let axes_id = cx.tensor(
        format!("{name} (axes)"),
        vec![axes.len()],
        DataType::I32,
        Some(axes_bytes),
    );
    let out = cx.new_value(name, out_shape);
    let kind = OpKind::Reduce(reduce);
    cx.push(kind, vec![Some(x), Some(axes_id)], vec![out], source);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_folds_the_count() {
        // scale ratio 1 -> (2^30, 1); 4 elements -> 2^30 with shift -1.
        assert_eq!(super::mean_multiplier(0.5, 0.5, 4), (1 << 30, -1));
    }
}
