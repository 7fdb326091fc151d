//! BATCH_MATMUL: a matrix product per batch, the batch dimensions
//! broadcast; int8 (TFLM's reference: the FULLY_CONNECTED arithmetic on
//! both operands' zero points, requantized per tensor), int16 (64-bit
//! sums) and float32.
//!
//! Layer: kernels; a pure function over slices, uses `quant` and `wire`.

use crate::quant::{multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_wide};
use crate::wire::wire_struct;

/// Batch dimensions a product broadcasts over (TFLM: ranks up to 5).
pub const MAX_BATCH_DIMS: usize = 3;

wire_struct! {
    /// The shapes of `output[b] = lhs[b] x rhs[b]`: `lhs` is `rows x depth`
    /// (stored `depth x rows` when `adj_x`), `rhs` is `depth x cols`
    /// (stored `cols x depth` when `adj_y`), the output `rows x cols`.
    pub struct MatMulGeometry {
        /// The output's batch dimensions, padded on the left with ones.
        pub batches: [u32; MAX_BATCH_DIMS],
        /// Elements between one batch index and the next in each operand:
        /// 0 along a dimension the operand broadcasts.
        pub lhs_strides: [u32; MAX_BATCH_DIMS],
        pub rhs_strides: [u32; MAX_BATCH_DIMS],
        pub rows: u32,
        pub depth: u32,
        pub cols: u32,
        pub adj_x: bool,
        pub adj_y: bool,
    }
}

impl MatMulGeometry {
    /// The number of products (output matrices).
    pub fn batch_count(&self) -> u64 {
        crate::tensor::element_count(self.batches.iter().map(|&b| u64::from(b)))
    }

    /// Elements of one operand a walk reaches: its last matrix's end.
    pub fn reach(&self, strides: &[u32; MAX_BATCH_DIMS], matrix: u64) -> u64 {
        self.batches
            .iter()
            .zip(strides)
            .fold(matrix, |sum, (&b, &s)| {
                sum.saturating_add(u64::from(b.saturating_sub(1)) * u64::from(s))
            })
    }
}

wire_struct! {
    /// int8 BATCH_MATMUL: the geometry, the operands' zero points and the
    /// output's requantization (`lhs_scale * rhs_scale / output_scale`).
    pub struct BatchMatMulParams {
        pub geometry: MatMulGeometry,
        pub lhs_zero_point: i32,
        pub rhs_zero_point: i32,
        pub output_zero_point: i32,
        pub multiplier: i32,
        pub shift: i32,
    }
}

/// Every output value: `dot` folds the pairs `(lhs[r][k], rhs[k][c])` for
/// `k` in order. Shared by int8 and float32.
fn matmul<T: Copy, O>(
    g: &MatMulGeometry,
    lhs: &[T],
    rhs: &[T],
    output: &mut [O],
    dot: impl Fn(&mut dyn Iterator<Item = (T, T)>) -> O,
) {
    let (rows, depth, cols) = (g.rows as usize, g.depth as usize, g.cols as usize);
    let [b0, b1, b2] = g.batches.map(|b| b as usize);
    let (ls, rs) = (
        g.lhs_strides.map(|s| s as usize),
        g.rhs_strides.map(|s| s as usize),
    );
    let mut out = output.iter_mut();
    for i in 0..b0 {
        for j in 0..b1 {
            for k in 0..b2 {
                let lhs_base = i * ls[0] + j * ls[1] + k * ls[2];
                let rhs_base = i * rs[0] + j * rs[1] + k * rs[2];
                for r in 0..rows {
                    for c in 0..cols {
                        let mut pairs = (0..depth).filter_map(|d| {
                            let l = if g.adj_x { d * rows + r } else { r * depth + d };
                            let x = if g.adj_y { c * depth + d } else { d * cols + c };
                            // Inside both operands (checked); a stray index
                            // adds nothing.
                            Some((*lhs.get(lhs_base + l)?, *rhs.get(rhs_base + x)?))
                        });
                        if let Some(o) = out.next() {
                            *o = dot(&mut pairs);
                        }
                    }
                }
            }
        }
    }
}

/// int8: `sum((lhs - lhs_zp) * (rhs - rhs_zp))`, requantized, offset and
/// clamped to int8 (BATCH_MATMUL has no fused activation).
pub fn batch_matmul_s8(p: &BatchMatMulParams, lhs: &[i8], rhs: &[i8], output: &mut [i8]) {
    matmul(&p.geometry, lhs, rhs, output, |pairs| {
        let total = pairs.fold(0i32, |sum, (l, r)| {
            let product = (i32::from(l) - p.lhs_zero_point) * (i32::from(r) - p.rhs_zero_point);
            sum.wrapping_add(product)
        });
        let v = multiply_by_quantized_multiplier(total, p.multiplier, p.shift)
            .saturating_add(p.output_zero_point);
        v.clamp(-128, 127) as i8
    });
}

/// int16 (zero points 0): TFLM's int16 template, the products summed in
/// 64 bits (exact) and requantized by TFLite's 64-bit
/// `MultiplyByQuantizedMultiplier`, clamped to int16.
pub fn batch_matmul_s16(p: &BatchMatMulParams, lhs: &[i16], rhs: &[i16], output: &mut [i16]) {
    matmul(&p.geometry, lhs, rhs, output, |pairs| {
        let total = pairs.fold(0i64, |sum, (l, r)| {
            sum.wrapping_add(i64::from(l) * i64::from(r))
        });
        let v = multiply_by_quantized_multiplier_wide(total, p.multiplier, p.shift)
            .saturating_add(p.output_zero_point);
        v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
    });
}

/// float32: the products summed in depth order, as TFLM's reference adds.
pub fn batch_matmul_f32(g: &MatMulGeometry, lhs: &[f32], rhs: &[f32], output: &mut [f32]) {
    matmul(g, lhs, rhs, output, |pairs| {
        pairs.fold(0f32, |sum, (l, r)| sum + l * r)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(adj_x: bool, adj_y: bool) -> MatMulGeometry {
        MatMulGeometry {
            batches: [1, 1, 2],
            lhs_strides: [0, 0, 6],
            rhs_strides: [0, 0, 0],
            rows: 2,
            depth: 3,
            cols: 2,
            adj_x,
            adj_y,
        }
    }

    #[test]
    fn batches_with_a_broadcast_rhs_and_transposed_operands() {
        // lhs: two 2x3 matrices; rhs: one 3x2 matrix for both batches.
        let lhs = [1., 2., 3., 4., 5., 6., -1., 0., 1., 2., -2., 0.5];
        let rhs = [1., 0., 0., 1., 1., 1.];
        let mut out = [0f32; 8];
        batch_matmul_f32(&geometry(false, false), &lhs, &rhs, &mut out);
        assert_eq!(out, [4., 5., 10., 11., 0., 1., 2.5, -1.5]);
        // The same products with both operands stored transposed.
        let lhs_t = [1., 4., 2., 5., 3., 6., -1., 2., 0., -2., 1., 0.5];
        let rhs_t = [1., 0., 1., 0., 1., 1.];
        let mut out_t = [0f32; 8];
        batch_matmul_f32(&geometry(true, true), &lhs_t, &rhs_t, &mut out_t);
        assert_eq!(out_t, out);
    }

    #[test]
    fn int8_subtracts_both_zero_points_and_requantizes() {
        let p = BatchMatMulParams {
            geometry: MatMulGeometry {
                batches: [1, 1, 1],
                rows: 1,
                depth: 2,
                cols: 1,
                ..geometry(false, false)
            },
            lhs_zero_point: 1,
            rhs_zero_point: -2,
            output_zero_point: 5,
            // 0.5
            multiplier: 1 << 30,
            shift: 0,
        };
        let mut out = [0i8];
        // (3 - 1) * (4 + 2) + (5 - 1) * (-2 + 2) = 12 -> 6 + 5.
        batch_matmul_s8(&p, &[3, 5], &[4, -2], &mut out);
        assert_eq!(out, [11]);
    }

    #[test]
    fn int16_sums_past_the_int32_range() {
        // 3 * 32767^2 = 3,221,028,867 overflows i32; times 2^-30 it is
        // 2.9998, which rounds to 3.
        let p = BatchMatMulParams {
            geometry: MatMulGeometry {
                batches: [1, 1, 1],
                lhs_strides: [0; MAX_BATCH_DIMS],
                rhs_strides: [0; MAX_BATCH_DIMS],
                rows: 1,
                depth: 3,
                cols: 1,
                adj_x: false,
                adj_y: false,
            },
            multiplier: 1 << 30,
            shift: -29,
            ..Default::default()
        };
        let mut out = [0i16; 1];
        batch_matmul_s16(&p, &[i16::MAX; 3], &[i16::MAX; 3], &mut out);
        assert_eq!(out, [3]);
    }
}
