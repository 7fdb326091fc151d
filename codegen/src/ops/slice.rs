//! SLICE, STRIDED_SLICE (ONNX Slice) and REVERSE_V2 (negative steps), and
//! SPLIT, SPLIT_V and UNPACK as one slice per output, of int8 or int16
//! (quantization unchanged), plain integer, bool or float32 values: the
//! kernel moves elements of any size.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::slice::SliceParams;
use kiln::ops::SliceOp;
use kiln::tensor::MAX_RANK;

use super::{permute_shape, Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::{invalid as invalid_model, ReadResult, TfliteOp};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};

/// Takes `begin[d] + k * step[d]` for every output coordinate `k` of each
/// dimension (the output shape gives the count); a negative step walks the
/// axis backwards from `begin`. The axes
/// in `dropped` (a bit each: STRIDED_SLICE's shrink_axis_mask) take one
/// element and are absent from the output's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub begin: Vec<usize>,
    pub step: Vec<i64>,
    pub dropped: u32,
}

impl Slice {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("SLICE", slice_from_tflite),
            ("STRIDED_SLICE", strided_slice_from_tflite),
            ("SPLIT", split_from_tflite),
            ("SPLIT_V", split_v_from_tflite),
            ("UNPACK", unpack_from_tflite),
            ("REVERSE_V2", reverse_from_tflite),
        ],
        onnx: &[
            OnnxConverter {
                op_type: "Slice",
                inputs: 1,
                convert: slice_from_onnx,
            },
            OnnxConverter {
                op_type: "Split",
                inputs: 1,
                convert: split_from_onnx,
            },
        ],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Slice {
    fn permuted(&self, _node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        if self.begin.len() != to_new.len() || self.step.len() != to_new.len() || self.dropped != 0
        {
            return None;
        }
        Some(Permuted {
            kind: OpKind::Slice(Slice {
                begin: permute_shape(&self.begin, to_new),
                step: permute_shape(&self.step, to_new),
                dropped: 0,
            }),
            data_inputs: vec![0],
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "SLICE"
    }

    fn attributes(&self) -> String {
        format!(
            "begin {:?} step {:?} dropped axes {:#b}",
            self.begin, self.step, self.dropped
        )
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let in_shape = cx.shape(input).to_vec();
        let dtype = cx.dtype(input);
        let rank = in_shape.len();
        // The dropped axes, one element each, back in the output's shape.
        let mut kept = cx.shape(out).iter().copied();
        let out_shape: Vec<usize> = (0..rank.min(32))
            .map(|d| {
                if self.dropped & (1 << d) != 0 {
                    Some(1)
                } else {
                    kept.next()
                }
            })
            .collect::<Option<_>>()
            .unwrap_or_default();
        if rank > MAX_RANK
            || out_shape.len() != rank
            || kept.next().is_some()
            || self.begin.len() != rank
            || self.step.len() != rank
            || cx.dtype(out) != dtype
        {
            return invalid(format!("slice of {in_shape:?} to {:?}", cx.shape(out)));
        }
        if cx.tensor(input).quantization.is_some() || cx.tensor(out).quantization.is_some() {
            cx.same_quantization(input, out, "SLICE")?;
        }
        strided_read(
            cx,
            (input, out),
            (&in_shape, &out_shape),
            &self.begin,
            &self.step,
        )
        .map(Some)
    }
}

/// The SLICE op that reads input coordinate `begin[d] + k * step[d]` for
/// output coordinate `k` of each dimension (`in_shape`, `out_shape`,
/// `begin` and `step` of one rank; a step of 0 repeats one coordinate,
/// which is how BROADCAST_TO runs).
pub(crate) fn strided_read(
    cx: &mut Lowering,
    (input, out): (TensorId, TensorId),
    (in_shape, out_shape): (&[usize], &[usize]),
    begin: &[usize],
    step: &[i64],
) -> Lowered<Op> {
    let dtype = cx.dtype(input);
    let rank = in_shape.len();
    if rank > MAX_RANK || out_shape.len() != rank || begin.len() != rank || step.len() != rank {
        return invalid(format!("slice of {in_shape:?} to {out_shape:?}"));
    }
    if matches!(dtype.size(), 0 | 8) || dtype == DataType::F16 {
        return unsupported(format!(
            "{} values (SLICE and BROADCAST_TO move 1, 2 or 4 bytes)",
            dtype.name()
        ));
    }
    let lead = MAX_RANK - rank;
    let mut params = SliceParams {
        input_dims: [1; MAX_RANK],
        output_dims: [1; MAX_RANK],
        begin: [0; MAX_RANK],
        step: [1; MAX_RANK],
        element_size: dtype.size() as u32,
    };
    for d in 0..rank {
        params.input_dims[lead + d] = to_u32(in_shape[d])?;
        params.output_dims[lead + d] = to_u32(out_shape[d])?;
        params.begin[lead + d] = to_u32(begin[d])?;
        params.step[lead + d] = i32::try_from(step[d]).unwrap_or(i32::MAX);
    }
    if !params.reads_inside() {
        return invalid(format!(
            "slice of {in_shape:?} from {begin:?} by {step:?} reads outside it"
        ));
    }
    let (input, output) = cx.spans((input, out), dtype)?;
    Ok(Op::Slice(SliceOp {
        params,
        input,
        output,
    }))
}

/// Slice of a computed value with constant starts, ends, axes and steps
/// (a negative step walks from `starts` down to `ends`, exclusive).
fn slice_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let ints = |i: usize, attr: &str| -> Step<Option<Vec<i64>>> {
        match n.inputs.get(i).filter(|s| !s.is_empty()) {
            Some(name) => {
                Ok(Some(cx.constant(name)?.i64s().ok_or_else(|| {
                    format!("Slice input {i} must be an integer constant")
                })?))
            }
            None => Ok(n.ints(attr).map(<[i64]>::to_vec)),
        }
    };
    let starts = ints(1, "starts")?.ok_or("Slice without starts")?;
    let ends = ints(2, "ends")?.ok_or("Slice without ends")?;
    let shape = cx.shape(x);
    let rank = shape.len();
    let axes = ints(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut begin = vec![0usize; rank];
    let mut step = vec![1i64; rank];
    let mut out = shape.clone();
    for k in 0..starts.len() {
        let a = if axes[k] < 0 {
            axes[k] + rank as i64
        } else {
            axes[k]
        };
        let a = usize::try_from(a)
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| format!("axis {} out of range", axes[k]))?;
        let dim = shape[a] as i64;
        let range = (starts[k], ends[k], steps[k]);
        let (s, count) = axis_range(dim, range, BackwardStart::InsideAxis)
            .ok_or_else(|| format!("Slice of axis {a} is empty or has step 0"))?;
        begin[a] = s;
        step[a] = steps[k];
        out[a] = count;
    }
    let out = cx.new_output(n, out);
    cx.g.tensors[out].dtype = cx.g.tensors[x].dtype;
    cx.push(
        OpKind::Slice(Slice {
            begin,
            step,
            dropped: 0,
        }),
        vec![Some(x)],
        vec![out],
        "Slice",
    );
    Ok(())
}

/// ONNX Split: consecutive parts of `axis`, their sizes from input 1 or
/// the `split` attribute, or else as equal as `num_outputs` (the output
/// count) allows, the last one smaller (opset 18); one slice per part.
fn split_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x);
    let rank = shape.len() as i64;
    let axis = n.int("axis", 0);
    let a = if axis < 0 { axis + rank } else { axis };
    let Some(a) = usize::try_from(a).ok().filter(|&a| a < shape.len()) else {
        return Err(format!("Split axis {axis} out of range for rank {rank}"));
    };
    let given = match n.inputs.get(1).filter(|s| !s.is_empty()) {
        Some(name) => Some(
            cx.constant(name)?
                .i64s()
                .ok_or("Split sizes must be an integer constant")?,
        ),
        None => n.ints("split").map(<[i64]>::to_vec),
    };
    let count = n.outputs.len();
    let sizes: Vec<usize> = match given {
        Some(sizes) => sizes
            .iter()
            .map(|&v| usize::try_from(v).unwrap_or(0))
            .collect(),
        None => {
            let part = shape[a].div_ceil(count.max(1));
            (0..count)
                .map(|k| part.min(shape[a].saturating_sub(k * part)))
                .collect()
        }
    };
    let total = sizes.iter().try_fold(0usize, |t, &s| t.checked_add(s));
    if sizes.len() != count || total != Some(shape[a]) || sizes.contains(&0) {
        return Err(format!(
            "Split of axis {a} ({}) into {sizes:?} for {count} outputs",
            shape[a]
        ));
    }
    let mut begin = 0;
    for (name, &size) in n.outputs.iter().zip(&sizes) {
        let mut part = shape.clone();
        part[a] = size;
        let out = cx.new_value(name.clone(), part);
        cx.g.tensors[out].dtype = cx.g.tensors[x].dtype;
        let mut first = vec![0; shape.len()];
        first[a] = begin;
        begin += size;
        let kind = OpKind::Slice(Slice {
            begin: first,
            step: vec![1; shape.len()],
            dropped: 0,
        });
        cx.push(kind, vec![Some(x)], vec![out], "Split");
    }
    Ok(())
}

/// The shape of a TFLite operator's input `i`, and the int32 values of
/// its constant inputs `more` (begin, end, strides).
fn tflite_operands(op: &TfliteOp, more: &[usize]) -> ReadResult<(Vec<usize>, Vec<Vec<i64>>)> {
    let tensor = |i: usize| op.input_tensor(i);
    let Some(input) = tensor(0) else {
        return invalid_model("a slice without an input");
    };
    let mut values = Vec::new();
    for &i in more {
        match tensor(i).and_then(|t| t.data_i32()) {
            Some(v) if v.len() == input.shape.len() => {
                values.push(v.into_iter().map(i64::from).collect())
            }
            _ => {
                return invalid_model(format!(
                    "slice input {i} must be one constant int32 per axis"
                ))
            }
        }
    }
    Ok((input.shape.clone(), values))
}

/// The operator's output must have `shape`, as TFLM's Prepare computes it.
fn expect_output(op: &TfliteOp, shape: &[usize], what: &str) -> ReadResult<()> {
    match op.outputs.first().map(|&o| &op.tensors[o].shape) {
        Some(out) if out == shape => Ok(()),
        out => invalid_model(format!(
            "{what} computes shape {shape:?}, the model's output is {out:?}"
        )),
    }
}

/// A Slice that takes the whole input: what a refused slice reads as, its
/// reason recorded.
fn refused(op: &mut TfliteOp, rank: usize, reason: String) -> OpKind {
    op.unsupported(reason);
    OpKind::Slice(Slice {
        begin: vec![0; rank],
        step: vec![1; rank],
        dropped: 0,
    })
}

/// TFLite SLICE: `begin` and `size` (-1: to the end) per axis, constants.
fn slice_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let (shape, values) = tflite_operands(op, &[1, 2])?;
    let (begin, size) = (&values[0], &values[1]);
    let mut counts = Vec::with_capacity(shape.len());
    for d in 0..shape.len() {
        let end = if size[d] < 0 {
            shape[d] as i64
        } else {
            begin[d].saturating_add(size[d])
        };
        if begin[d] < 0 || end > shape[d] as i64 || end <= begin[d] {
            return invalid_model(format!(
                "SLICE of {shape:?} with begin {begin:?}, size {size:?}"
            ));
        }
        counts.push((end - begin[d]) as usize);
    }
    expect_output(op, &counts, "SLICE")?;
    Ok(OpKind::Slice(Slice {
        begin: begin.iter().map(|&b| b as usize).collect(),
        step: vec![1; shape.len()],
        dropped: 0,
    }))
}

/// Where a backward range's start may lie before clamping ends: ONNX clamps
/// it into the axis, TFLM's STRIDED_SLICE to one before it (an empty
/// range).
#[derive(Clone, Copy, PartialEq)]
enum BackwardStart {
    InsideAxis,
    BeforeAxis,
}

/// The first coordinate and the count of a numpy-style range of an axis
/// of `dim`: `start` and `end` (exclusive) count from the end when
/// negative, and clamp to the axis (walking backwards, `end` to `[-1, dim -
/// 1]` and `start` as `backward` says), as ONNX Slice and TFLM's
/// STRIDED_SLICE compute them. `None` when the range is empty or the step
/// is 0.
fn axis_range(
    dim: i64,
    (start, end, step): (i64, i64, i64),
    backward: BackwardStart,
) -> Option<(usize, usize)> {
    let from_end = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
    let lowest_start = match backward {
        BackwardStart::InsideAxis => 0,
        BackwardStart::BeforeAxis => -1,
    };
    let (start, end) = if step > 0 {
        (from_end(start).clamp(0, dim), from_end(end).clamp(0, dim))
    } else {
        (
            from_end(start).clamp(lowest_start, dim - 1),
            from_end(end).clamp(-1, dim - 1),
        )
    };
    let span = match step {
        0 => return None,
        1.. => end - start,
        _ => start - end,
    };
    (span > 0 && start >= 0 && start < dim).then(|| {
        let count = (span.unsigned_abs() - 1) / step.unsigned_abs() + 1;
        (start as usize, count as usize)
    })
}

/// TFLite STRIDED_SLICE, as TFLM computes each axis's start and stop: a
/// masked begin or end is the axis's first or last element in the
/// stride's direction, a negative one counts from the end, both clamp to
/// the axis; a shrunk axis takes the one element at its begin.
fn strided_slice_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let (shape, values) = tflite_operands(op, &[1, 2, 3])?;
    let (begin, end, strides) = (&values[0], &values[1], &values[2]);
    let rank = shape.len();
    let (begin_mask, end_mask) = (op.i32(0, 0)?, op.i32(1, 0)?);
    let (ellipsis_mask, new_axis_mask, shrink_mask) = (op.i32(2, 0)?, op.i32(3, 0)?, op.i32(4, 0)?);
    if ellipsis_mask != 0 || new_axis_mask != 0 {
        let reason = "STRIDED_SLICE with an ellipsis or new axes (TFLM has neither)";
        return Ok(refused(op, rank, reason.into()));
    }
    if op.bool(5)? {
        let reason = "STRIDED_SLICE with offset (end relative to begin)";
        return Ok(refused(op, rank, reason.into()));
    }
    let mut first = vec![0usize; rank];
    let mut step = vec![1i64; rank];
    let mut counts = Vec::with_capacity(rank);
    for d in 0..rank.min(32) {
        let dim = shape[d] as i64;
        let bit = |mask: i32| mask & (1 << d) != 0;
        let stride = strides[d];
        if bit(shrink_mask) && stride < 0 {
            let reason = "STRIDED_SLICE shrinking an axis with a negative stride";
            return Ok(refused(op, rank, reason.into()));
        }
        let range = if bit(shrink_mask) {
            // The one element at begin (TFLM's stop is start + 1).
            let start = if bit(begin_mask) { 0 } else { begin[d] };
            let start = (if start < 0 { start + dim } else { start }).clamp(0, dim);
            (start < dim).then_some((start as usize, 1))
        } else {
            // A masked end lies past the last element in the stride's
            // direction; a masked begin is that direction's first.
            let start = match (bit(begin_mask), stride > 0) {
                (false, _) => begin[d],
                (true, true) => 0,
                (true, false) => dim - 1,
            };
            let stop = match (bit(end_mask), stride > 0) {
                (false, _) => end[d],
                (true, true) => dim,
                (true, false) => -dim - 1,
            };
            axis_range(dim, (start, stop, stride), BackwardStart::BeforeAxis)
        };
        let Some((start, count)) = range else {
            return invalid_model(format!(
                "STRIDED_SLICE of {shape:?} is empty along axis {d}"
            ));
        };
        if !bit(shrink_mask) {
            counts.push(count);
        }
        first[d] = start;
        step[d] = stride;
    }
    expect_output(op, &counts, "STRIDED_SLICE")?;
    Ok(OpKind::Slice(Slice {
        begin: first,
        step,
        dropped: shrink_mask as u32,
    }))
}

/// TFLite REVERSE_V2: the axes of input 1 (constant int32) walked
/// backwards.
fn reverse_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let tensor = |i: usize| op.input_tensor(i);
    let (Some(input), Some(axes)) = (tensor(0), tensor(1)) else {
        return invalid_model("REVERSE_V2 needs an input and its axes");
    };
    let shape = input.shape.clone();
    let rank = shape.len() as i64;
    let Some(axes) = axes.data_i32() else {
        return invalid_model("REVERSE_V2's axes must be a constant int32 tensor");
    };
    let mut begin = vec![0usize; shape.len()];
    let mut step = vec![1i64; shape.len()];
    for axis in axes {
        let a = i64::from(axis);
        let a = if a < 0 { a + rank } else { a };
        let Some(a) = usize::try_from(a).ok().filter(|&a| a < shape.len()) else {
            return invalid_model(format!("REVERSE_V2 axis {axis} of a rank-{rank} input"));
        };
        begin[a] = shape[a].saturating_sub(1);
        step[a] = -1;
    }
    op.inputs.truncate(1);
    Ok(OpKind::Slice(Slice {
        begin,
        step,
        dropped: 0,
    }))
}

/// The constant int32 scalar (or one-element vector) of a TFLite
/// operator's input `i`.
fn constant_scalar(op: &TfliteOp, i: usize, what: &str) -> ReadResult<i64> {
    let value = op.input_tensor(i);
    match value.and_then(|t| t.data_i32()).as_deref() {
        Some(&[v]) => Ok(i64::from(v)),
        _ => invalid_model(format!("{what} must be one constant int32")),
    }
}

/// An operator that cuts input `input` along `axis` (negative: from the
/// end) into consecutive parts of `sizes`, one per output, runs as one
/// slice per output; `drop_axis` removes the axis from each part (UNPACK).
/// The outputs' shapes must be the parts'.
fn split_along(
    op: &mut TfliteOp,
    input: usize,
    axis: i64,
    sizes: &[usize],
    drop_axis: bool,
) -> ReadResult<OpKind> {
    let Some(x) = op.inputs.get(input).copied().flatten() else {
        return invalid_model("a split without an input");
    };
    let shape = op.tensors[x].shape.clone();
    let rank = shape.len();
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    let Some(a) = usize::try_from(a).ok().filter(|&a| a < rank.min(32)) else {
        return invalid_model(format!("split axis {axis} out of range for rank {rank}"));
    };
    if sizes.iter().sum::<usize>() != shape[a] || sizes.contains(&0) {
        return invalid_model(format!("parts {sizes:?} do not cut axis {a} of {shape:?}"));
    }
    let mut kinds = Vec::with_capacity(sizes.len());
    let mut begin = 0;
    for (k, &size) in sizes.iter().enumerate() {
        let mut part = shape.clone();
        part[a] = size;
        if drop_axis {
            part.remove(a);
        }
        if let Some(&out) = op.outputs.get(k) {
            if op.tensors[out].shape != part {
                return invalid_model(format!(
                    "output {k} has shape {:?}, the part is {part:?}",
                    op.tensors[out].shape
                ));
            }
        }
        let mut first = vec![0; rank];
        first[a] = begin;
        begin += size;
        kinds.push(OpKind::Slice(Slice {
            begin: first,
            step: vec![1; rank],
            dropped: if drop_axis { 1 << a } else { 0 },
        }));
    }
    op.inputs = vec![Some(x)];
    op.one_node_per_output(kinds)
}

/// The length of axis `axis` of input `input`, if both exist.
fn axis_length(op: &TfliteOp, input: usize, axis: i64) -> Option<usize> {
    let shape = &op.input_tensor(input)?.shape;
    let a = if axis < 0 {
        axis + shape.len() as i64
    } else {
        axis
    };
    shape.get(usize::try_from(a).ok()?).copied()
}

/// TFLite SPLIT: the axis (input 0) cut into `num_splits` equal parts.
fn split_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let axis = constant_scalar(op, 0, "SPLIT's axis")?;
    let count = op.positive(0, 0, "num_splits")?;
    let length = axis_length(op, 1, axis).unwrap_or(0);
    // Checked before the parts are listed: `num_splits` comes from the file.
    if count > length || !length.is_multiple_of(count) {
        return invalid_model(format!("SPLIT of {length} into {count} equal parts"));
    }
    split_along(op, 1, axis, &vec![length / count; count], false)
}

/// TFLite SPLIT_V: the axis (input 2) cut into the sizes of input 1, one
/// of which may be -1 (the rest).
fn split_v_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let axis = constant_scalar(op, 2, "SPLIT_V's axis")?;
    let length = axis_length(op, 0, axis).unwrap_or(0) as i64;
    let sizes = op
        .inputs
        .get(1)
        .copied()
        .flatten()
        .and_then(|t| op.tensors[t].data_i32())
        .unwrap_or_default();
    let known: i64 = sizes
        .iter()
        .filter(|&&s| s >= 0)
        .map(|&s| i64::from(s))
        .sum();
    let unknown = sizes.iter().filter(|&&s| s < 0).count();
    let sizes: Vec<usize> = sizes
        .iter()
        .map(|&s| if s < 0 { length - known } else { i64::from(s) })
        .map(|s| usize::try_from(s).unwrap_or(0))
        .collect();
    if sizes.is_empty() || unknown > 1 {
        return invalid_model("SPLIT_V's sizes must be constant, with at most one -1");
    }
    split_along(op, 0, axis, &sizes, false)
}

/// TFLite UNPACK: one output per element of the axis, the axis removed.
fn unpack_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let axis = i64::from(op.i32(1, 0)?);
    let count = op.positive(0, 0, "num")?;
    // Checked before the parts are listed: `num` comes from the file.
    let length = axis_length(op, 0, axis).unwrap_or(0);
    if count != length {
        return invalid_model(format!("UNPACK of {length} elements into {count} outputs"));
    }
    split_along(op, 0, axis, &vec![1; count], true)
}

#[cfg(test)]
mod tests {
    use super::{axis_range, BackwardStart};

    #[test]
    fn ranges_clamp_as_onnx_and_tflm_do() {
        use BackwardStart::{BeforeAxis, InsideAxis};
        // Forward: ends past the axis clamp to it.
        assert_eq!(axis_range(5, (1, 100, 2), InsideAxis), Some((1, 2)));
        assert_eq!(axis_range(5, (-2, 5, 1), BeforeAxis), Some((3, 2)));
        // Backward from the last element to past the start.
        assert_eq!(axis_range(5, (-1, -100, -2), InsideAxis), Some((4, 3)));
        // A start before the axis: ONNX clamps it to element 0, TFLM's
        // STRIDED_SLICE to -1, an empty range.
        assert_eq!(axis_range(5, (-9, -100, -1), InsideAxis), Some((0, 1)));
        assert_eq!(axis_range(5, (-9, -100, -1), BeforeAxis), None);
        assert_eq!(axis_range(5, (0, 5, 0), InsideAxis), None);
        assert_eq!(
            axis_range(5, (4, 0, i64::MIN), InsideAxis),
            Some((4, 1)),
            "the most negative step takes one element, no overflow"
        );
    }
}

/// Where a slice's output lies in its input when it is one contiguous run
/// of the input's bytes (steps of 1 where it takes more than one element,
/// and every axis after the first it takes more than one element of taken
/// whole): its byte offset there, so that the planner may place the output
/// inside the input and copy nothing. `None` otherwise.
pub(crate) fn contiguous_offset(p: &SliceParams) -> Option<u32> {
    let first = (0..MAX_RANK)
        .find(|&d| p.output_dims[d] > 1)
        .unwrap_or(MAX_RANK - 1);
    let forward = |d: usize| p.step[d] == 1 || p.output_dims[d] <= 1;
    let whole = |d: usize| p.output_dims[d] == p.input_dims[d] && p.begin[d] == 0 && forward(d);
    if !p.reads_inside()
        || p.output_dims.contains(&0)
        || !forward(first)
        || !(first + 1..MAX_RANK).all(whole)
    {
        return None;
    }
    let mut stride = u64::from(p.element_size);
    let mut offset = 0;
    for d in (0..MAX_RANK).rev() {
        offset += u64::from(p.begin[d]) * stride;
        stride *= u64::from(p.input_dims[d]);
    }
    u32::try_from(offset).ok()
}

#[cfg(test)]
mod contiguous_tests {
    use super::*;

    fn params(input: [u32; 3], output: [u32; 3], begin: [u32; 3], step: [i32; 3]) -> SliceParams {
        let lead = MAX_RANK - 3;
        let mut p = SliceParams {
            input_dims: [1; MAX_RANK],
            output_dims: [1; MAX_RANK],
            begin: [0; MAX_RANK],
            step: [1; MAX_RANK],
            element_size: 2,
        };
        p.input_dims[lead..].copy_from_slice(&input);
        p.output_dims[lead..].copy_from_slice(&output);
        p.begin[lead..].copy_from_slice(&begin);
        p.step[lead..].copy_from_slice(&step);
        p
    }

    /// A view is found exactly where the kernel reads one run of bytes:
    /// checked against the kernel's own reads on every small slice.
    #[test]
    fn contiguous_offsets_are_where_the_kernel_reads_one_run() {
        let mut views = 0;
        for shape in [[2, 3, 4], [1, 3, 4], [3, 1, 2], [4, 2, 1]] {
            let count = shape.iter().product::<u32>() as usize;
            // Input elements numbered; 2 bytes each.
            let input: Vec<u8> = (0..count as u16).flat_map(u16::to_le_bytes).collect();
            let ranges = |n: u32| {
                (0..n).flat_map(move |b| {
                    (1..=n - b).flat_map(move |len| [(b, len, 1), (b + len - 1, len, -1)])
                })
            };
            for (b0, n0, s0) in ranges(shape[0]) {
                for (b1, n1, s1) in ranges(shape[1]) {
                    for (b2, n2, s2) in ranges(shape[2]) {
                        let p = params(shape, [n0, n1, n2], [b0, b1, b2], [s0, s1, s2]);
                        let mut out = vec![0u8; (n0 * n1 * n2) as usize * 2];
                        kiln::kernels::slice::slice(&p, &input, &mut out);
                        let run = input.windows(out.len()).position(|w| w == out.as_slice());
                        match contiguous_offset(&p) {
                            Some(offset) => {
                                views += 1;
                                let at = offset as usize;
                                assert_eq!(&input[at..at + out.len()], &out[..], "{p:?}");
                            }
                            // Outside a view, no forward run of elements
                            // that long starts at an element boundary.
                            None => assert!(
                                run.is_none_or(|at| at % 2 != 0),
                                "{p:?} reads one run at {run:?}"
                            ),
                        }
                    }
                }
            }
        }
        assert!(views > 50, "{views}");
    }
}
