//! BATCH_MATMUL (and ONNX MatMul where the weight is not a 2-D constant:
//! two activations, or a batched constant), int8 with TFLM's arithmetic and
//! float32.
//!
//! Layer: ops; uses `lower`, `quantize::multiplier` and the elementwise
//! ops' operand placement (one operand may be a constant).

use kiln::graph::Op;
use kiln::kernels::batch_matmul::{BatchMatMulParams, MatMulGeometry, MAX_BATCH_DIMS};
use kiln::ops::{BatchMatMulF32Op, BatchMatMulOp, BatchMatMulS16Op};

use super::elementwise::binary_operands;
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{broadcast_shape, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::fully_connected_multiplier;
use crate::stack::Stack;

/// BATCH_MATMUL: `lhs x rhs` per batch, either operand stored transposed
/// (`adj_x`, `adj_y`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchMatMul {
    pub adj_x: bool,
    pub adj_y: bool,
}

impl BatchMatMul {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("BATCH_MATMUL", |op| {
            Ok(OpKind::BatchMatMul(BatchMatMul {
                adj_x: op.bool(0)?,
                adj_y: op.bool(1)?,
            }))
        })],
        // ONNX MatMul is FULLY_CONNECTED's converter, which hands over here
        // (`matmul_from_onnx`) when the weight is not a 2-D constant.
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for BatchMatMul {
    fn name(&self) -> &'static str {
        "BATCH_MATMUL"
    }

    fn attributes(&self) -> String {
        format!("adj_x {} adj_y {}", self.adj_x, self.adj_y)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let (Some(a), Some(&out)) = (node.input(0), node.outputs.first()) else {
            return 0;
        };
        let s = &g.tensors[a].shape;
        let depth = match (self.adj_x, s.len()) {
            (_, ..=1) => 1,
            (false, n) => s[n - 1],
            (true, n) => s[n - 2],
        };
        (g.tensors[out].elements() * depth) as u64
    }

    /// Painted on each core on the batch_matmul and batch_matmul_int16
    /// fixtures.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return Stack::new(228, 328, 332, 148);
        }
        Stack::new(256, 320, 320, 160)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        let geometry = geometry(self, cx.shape(a), cx.shape(b), cx.shape(out))?;
        if cx.is_float(node) {
            let (constant, lhs, rhs) = binary_operands(cx, a, b, DataType::F32)?;
            return Ok(Some(Op::BatchMatMulF32(BatchMatMulF32Op {
                geometry,
                constant,
                lhs,
                rhs,
                output: cx.activation(out, DataType::F32)?,
            })));
        }
        let ((sa, za), (sb, zb), (so, zo)) = (cx.quant(a)?, cx.quant(b)?, cx.quant(out)?);
        let (multiplier, shift) = fully_connected_multiplier(sa, sb, so);
        let params = BatchMatMulParams {
            geometry,
            lhs_zero_point: za,
            rhs_zero_point: zb,
            output_zero_point: zo,
            multiplier,
            shift,
        };
        // int16 (TFLite's 16x8 scheme): both operands and the output
        // int16, zero points 0, sums in 64 bits.
        if cx.dtype(a) == DataType::I16 {
            if [za, zb, zo] != [0; 3]
                || cx.dtype(b) != DataType::I16
                || cx.dtype(out) != DataType::I16
            {
                return unsupported("int16 BATCH_MATMUL with a zero point or between types");
            }
            let (constant, lhs, rhs) = binary_operands(cx, a, b, DataType::I16)?;
            return Ok(Some(Op::BatchMatMulS16(BatchMatMulS16Op {
                params,
                constant,
                lhs,
                rhs,
                output: cx.activation(out, DataType::I16)?,
            })));
        }
        let (constant, lhs, rhs) = binary_operands(cx, a, b, DataType::I8)?;
        Ok(Some(Op::BatchMatMul(BatchMatMulOp {
            params,
            constant,
            lhs,
            rhs,
            output: cx.activation(out, DataType::I8)?,
        })))
    }
}

/// The product's shapes from its operands' (ranks 2 to 5, batch
/// dimensions broadcast as numpy does) and checked against the output's.
fn geometry(
    op: &BatchMatMul,
    lhs: &[usize],
    rhs: &[usize],
    out: &[usize],
) -> Lowered<MatMulGeometry> {
    let rank = lhs.len().max(rhs.len());
    if !(2..=2 + MAX_BATCH_DIMS).contains(&lhs.len())
        || !(2..=2 + MAX_BATCH_DIMS).contains(&rhs.len())
    {
        return unsupported(format!(
            "BATCH_MATMUL of ranks {} and {} (kiln: 2 to {})",
            lhs.len(),
            rhs.len(),
            2 + MAX_BATCH_DIMS
        ));
    }
    let last_two = |s: &[usize]| (s[s.len() - 2], s[s.len() - 1]);
    let ((lr, lc), (rr, rc)) = (last_two(lhs), last_two(rhs));
    let (rows, depth) = if op.adj_x { (lc, lr) } else { (lr, lc) };
    let (depth_rhs, cols) = if op.adj_y { (rc, rr) } else { (rr, rc) };
    if depth != depth_rhs {
        return invalid(format!(
            "BATCH_MATMUL of {lhs:?} and {rhs:?}: depths differ"
        ));
    }
    // Batch dimensions, padded on the left with ones to MAX_BATCH_DIMS.
    let batch = |s: &[usize]| -> [usize; MAX_BATCH_DIMS] {
        let dims = &s[..s.len() - 2];
        let mut d = [1; MAX_BATCH_DIMS];
        d[MAX_BATCH_DIMS - dims.len()..].copy_from_slice(dims);
        d
    };
    let (bl, br) = (batch(lhs), batch(rhs));
    let Some(batches) = broadcast_shape(&[&bl, &br]) else {
        return invalid(format!(
            "BATCH_MATMUL batches of {lhs:?} and {rhs:?} do not broadcast"
        ));
    };
    let strides = |d: [usize; MAX_BATCH_DIMS], matrix: usize| -> Lowered<[u32; MAX_BATCH_DIMS]> {
        let mut s = [0u32; MAX_BATCH_DIMS];
        let mut stride = matrix;
        for i in (0..MAX_BATCH_DIMS).rev() {
            s[i] = if d[i] == 1 { 0 } else { to_u32(stride)? };
            stride *= d[i];
        }
        Ok(s)
    };
    let expected: Vec<usize> = batches[MAX_BATCH_DIMS - (rank - 2)..]
        .iter()
        .copied()
        .chain([rows, cols])
        .collect();
    if out != expected {
        return invalid(format!(
            "BATCH_MATMUL of {lhs:?} and {rhs:?} gives {expected:?}, not {out:?}"
        ));
    }
    Ok(MatMulGeometry {
        batches: [
            to_u32(batches[0])?,
            to_u32(batches[1])?,
            to_u32(batches[2])?,
        ],
        lhs_strides: strides(bl, rows * depth)?,
        rhs_strides: strides(br, depth * cols)?,
        rows: to_u32(rows)?,
        depth: to_u32(depth)?,
        cols: to_u32(cols)?,
        adj_x: op.adj_x,
        adj_y: op.adj_y,
    })
}

/// A shape of rank two or more as its batch dimensions and its matrix's
/// rows and columns.
fn matrices(shape: &[usize]) -> (&[usize], [usize; 2]) {
    let (batch, matrix) = shape.split_at(shape.len() - 2);
    (batch, [matrix[0], matrix[1]])
}

/// ONNX MatMul as numpy's matmul: a 1-D operand gains a unit dimension
/// (rows for `A`, columns for `B`), which the result then drops; batch
/// dimensions broadcast. `B` may be an activation or a constant.
pub(crate) fn matmul_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let (mut a, mut b) = cx.binary_operands(&n.inputs[0], &n.inputs[1])?;
    let (sa, sb) = (cx.shape(a), cx.shape(b));
    let name = &n.outputs[0];
    if sa.is_empty() || sb.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    if sa.len() == 1 {
        a = cx.reshaped(a, vec![1, sa[0]], format!("{name} (A as a row)"));
    }
    if sb.len() == 1 {
        b = cx.reshaped(b, vec![sb[0], 1], format!("{name} (B as a column)"));
    }
    // Both have two dimensions or more now: matrices, after their batches.
    let (la, lb) = (cx.shape(a), cx.shape(b));
    let ((batch_a, [rows, depth]), (batch_b, [depth_b, cols])) = (matrices(&la), matrices(&lb));
    if depth != depth_b {
        return Err(format!("MatMul of {sa:?} and {sb:?}: depths differ"));
    }
    let Some(mut shape) = broadcast_shape(&[batch_a, batch_b]) else {
        return Err(format!(
            "MatMul batches of {sa:?} and {sb:?} do not broadcast"
        ));
    };
    shape.extend([rows, cols]);
    let kind = OpKind::BatchMatMul(BatchMatMul {
        adj_x: false,
        adj_y: false,
    });
    // numpy's result drops the unit dimensions a 1-D operand gained.
    let mut final_shape = shape.clone();
    if sb.len() == 1 {
        final_shape.pop();
    }
    if sa.len() == 1 {
        final_shape.remove(final_shape.len() - usize::from(sb.len() != 1) - 1);
    }
    if final_shape == shape {
        let out = cx.new_output(n, shape);
        cx.push(kind, vec![Some(a), Some(b)], vec![out], "MatMul");
    } else {
        let product = cx.new_value(format!("{name} (product)"), shape);
        cx.push(kind, vec![Some(a), Some(b)], vec![product], "MatMul");
        let out = cx.reshaped(product, final_shape, name.clone());
        cx.values.insert(name.clone(), out);
    }
    Ok(())
}
