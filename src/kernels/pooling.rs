//! AVERAGE_POOL_2D and MAX_POOL_2D, int8 (TFLM reference semantics: the
//! average counts only the taps inside the image and rounds half away from
//! zero) and float32, and L2_POOL_2D (float32, as TFLM has it).
//!
//! Layer: kernels; pure functions over slices, use `tensor` and `libm`.

use crate::tensor::{FloatRange, Nhwc};
use crate::wire::wire_struct;

wire_struct! {
    /// Where the windows of a 2-D pool lie, int8 or float32. Padding is the
    /// top/left amount; the bottom/right amount follows from the shapes.
    pub struct PoolGeometry {
        pub input: Nhwc,
        pub output: Nhwc,
        pub filter_height: u32,
        pub filter_width: u32,
        pub stride_height: u32,
        pub stride_width: u32,
        pub padding_top: u32,
        pub padding_left: u32,
        /// Input steps between a window's taps (1 for TFLite's pools; ONNX
        /// may dilate them).
        pub dilation_height: u32,
        pub dilation_width: u32,
    }
}

wire_struct! {
    /// An int8 pool: its geometry and the clamp of its fused activation
    /// (input and output share their quantization).
    pub struct PoolParams {
        pub geometry: PoolGeometry,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

/// The taps of one output position's window along one axis that lie in
/// the input: the first one's input row (or column), and how many there
/// are, `dilation` apart.
#[inline(always)]
pub(crate) fn taps(
    out: usize,
    stride: u32,
    pad: u32,
    filter: u32,
    dilation: u32,
    extent: u32,
) -> (usize, usize) {
    // In i64 with a step of at least 1, so the divisions cannot fault.
    let step = i64::from(dilation.max(1));
    let origin = out as i64 * i64::from(stride) - i64::from(pad);
    // The first tap at or after row 0, and one past the last before `extent`.
    let first = if origin < 0 {
        (step - 1 - origin) / step
    } else {
        0
    };
    let end = ((i64::from(extent) - origin + step - 1) / step).clamp(0, i64::from(filter));
    let count = (end - first).max(0) as usize;
    ((origin + first * step).max(0) as usize, count)
}

/// Every output of a pool: `reduce` turns the values under its window
/// (row by row) into the output value. Shared by int8 and float32.
fn pool<T: Copy, O>(
    p: &PoolGeometry,
    input: &[T],
    output: &mut [O],
    reduce: impl Fn(&mut dyn Iterator<Item = T>) -> O,
) {
    let (dy, dx) = (p.dilation_height as usize, p.dilation_width as usize);
    for b in 0..p.input.batches as usize {
        for out_y in 0..p.output.height as usize {
            let (y0, ny) = taps(
                out_y,
                p.stride_height,
                p.padding_top,
                p.filter_height,
                p.dilation_height,
                p.input.height,
            );
            for out_x in 0..p.output.width as usize {
                let (x0, nx) = taps(
                    out_x,
                    p.stride_width,
                    p.padding_left,
                    p.filter_width,
                    p.dilation_width,
                    p.input.width,
                );
                for c in 0..p.output.channels as usize {
                    // Every tap lies in the input (checked); a stray one
                    // would be left out.
                    let mut taps = (0..ny)
                        .map(|i| y0 + i * dy)
                        .flat_map(|y| (0..nx).map(move |j| (y, x0 + j * dx)))
                        .filter_map(|(y, x)| input.get(p.input.index(b, y, x, c)).copied());
                    let value = reduce(&mut taps);
                    if let Some(o) = output.get_mut(p.output.index(b, out_y, out_x, c)) {
                        *o = value;
                    }
                }
            }
        }
    }
}

pub fn average_pool_s8(p: &PoolParams, input: &[i8], output: &mut [i8]) {
    average_pool_int(p, input, output, |v| v as i8)
}

pub fn max_pool_s8(p: &PoolParams, input: &[i8], output: &mut [i8]) {
    max_pool_int(p, input, output, |v| v as i8)
}

/// int16 AVERAGE_POOL_2D (TFLM's int16 reference: int8's arithmetic).
pub fn average_pool_s16(p: &PoolParams, input: &[i16], output: &mut [i16]) {
    average_pool_int(p, input, output, |v| v as i16)
}

/// int16 MAX_POOL_2D.
pub fn max_pool_s16(p: &PoolParams, input: &[i16], output: &mut [i16]) {
    max_pool_int(p, input, output, |v| v as i16)
}

/// TFLM's integer average pool: the taps' sum divided by their count,
/// rounded half away from zero, clamped, then `narrow`ed to the output type.
#[inline(always)]
fn average_pool_int<T: Copy + Into<i32>>(
    p: &PoolParams,
    input: &[T],
    output: &mut [T],
    narrow: impl Fn(i32) -> T,
) {
    pool(&p.geometry, input, output, |taps| {
        // Wrapping, as TFLM's int32 sum does on a forged window of over
        // 2^16 int16 taps (the checks allow 2^20).
        let (sum, count) = taps.fold((0i32, 0i32), |(s, n), v| (s.wrapping_add(v.into()), n + 1));
        // Round half away from zero, with C++ truncating division.
        let average = match count {
            ..=0 => 0,
            _ if sum > 0 => (sum + count / 2) / count,
            _ => (sum - count / 2) / count,
        };
        narrow(average.max(p.activation_min).min(p.activation_max))
    })
}

/// TFLM's integer max pool: the largest tap, clamped.
#[inline(always)]
fn max_pool_int<T: Copy + Into<i32>>(
    p: &PoolParams,
    input: &[T],
    output: &mut [T],
    narrow: impl Fn(i32) -> T,
) {
    pool(&p.geometry, input, output, |taps| {
        // A window always has a tap (checked); the clamp floor stands in.
        let max = taps.map(Into::into).max().unwrap_or(p.activation_min);
        narrow(max.max(p.activation_min).min(p.activation_max))
    })
}

/// What a float32 pool makes of its window's taps.
#[derive(Clone, Copy, PartialEq)]
enum FloatPool {
    Average,
    Max,
    /// The root of the mean square (L2_POOL_2D).
    L2,
}

fn pool_f32(p: &PoolGeometry, act: FloatRange, input: &[f32], output: &mut [f32], kind: FloatPool) {
    pool(p, input, output, |taps| {
        // One reduction per kind: the sum of the taps, of their squares,
        // or their maximum (`kind` is a constant in each caller).
        let (mut sum, mut max, mut count) = (0f32, f32::MIN, 0u32);
        for v in taps {
            match kind {
                FloatPool::Average => sum += v,
                FloatPool::L2 => sum += v * v,
                FloatPool::Max => max = if v > max { v } else { max },
            }
            count += 1;
        }
        act.apply(match kind {
            FloatPool::Average => sum / count.max(1) as f32,
            FloatPool::Max => max,
            FloatPool::L2 => libm::sqrtf(sum / count.max(1) as f32),
        })
    })
}

/// Float32 average pooling over the taps inside the image (TFLM's float reference).
pub fn average_pool_f32(p: &PoolGeometry, act: FloatRange, input: &[f32], output: &mut [f32]) {
    pool_f32(p, act, input, output, FloatPool::Average)
}

pub fn max_pool_f32(p: &PoolGeometry, act: FloatRange, input: &[f32], output: &mut [f32]) {
    pool_f32(p, act, input, output, FloatPool::Max)
}

/// Float32 L2 pooling, as TFLite's reference `L2Pool`: the square root of
/// the mean of the squares of the taps inside the image.
pub fn l2_pool_f32(p: &PoolGeometry, act: FloatRange, input: &[f32], output: &mut [f32]) {
    pool_f32(p, act, input, output, FloatPool::L2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(h: u32, w: u32, f: u32, stride: u32, pad: u32, out: (u32, u32)) -> PoolParams {
        PoolParams {
            geometry: PoolGeometry {
                input: Nhwc::new(1, h, w, 1),
                output: Nhwc::new(1, out.0, out.1, 1),
                filter_height: f,
                filter_width: f,
                stride_height: stride,
                stride_width: stride,
                padding_top: pad,
                padding_left: pad,
                dilation_height: 1,
                dilation_width: 1,
            },
            activation_min: -128,
            activation_max: 127,
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        let p = params(1, 2, 2, 2, 0, (1, 1));
        let p = PoolParams {
            geometry: PoolGeometry {
                filter_height: 1,
                ..p.geometry
            },
            ..p
        };
        let mut out = [0i8];
        average_pool_s8(&p, &[1, 2], &mut out);
        assert_eq!(out, [2]); // 1.5 -> 2
        average_pool_s8(&p, &[-1, -2], &mut out);
        assert_eq!(out, [-2]); // -1.5 -> -2
        average_pool_s8(&p, &[127, 127], &mut out);
        assert_eq!(out, [127]);
    }

    #[test]
    fn average_at_border_counts_only_inside_taps() {
        // 3x3 window, stride 2, pad 1 over a 3x3 image: the corner window sees 4 values.
        let p = params(3, 3, 3, 2, 1, (2, 2));
        let input = [10, 20, 30, 40, 50, 60, 70, 80, 90];
        let mut out = [0i8; 4];
        average_pool_s8(&p, &input, &mut out);
        assert_eq!(out, [30, 40, 60, 70]);
    }

    #[test]
    fn dilated_windows_skip_rows_and_columns() {
        // 2x2 taps two apart over a 4x4 image: the windows at (0, 0) and
        // (0, 1) see rows 0 and 2 and columns 0, 2 and 1, 3.
        let p = PoolParams {
            geometry: PoolGeometry {
                dilation_height: 2,
                dilation_width: 2,
                ..params(4, 4, 2, 1, 0, (2, 2)).geometry
            },
            ..params(4, 4, 2, 1, 0, (2, 2))
        };
        let input: [i8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let mut out = [0i8; 4];
        max_pool_s8(&p, &input, &mut out);
        assert_eq!(out, [11, 12, 15, 16]);
        // Past the edge, a dilated tap is skipped, not clamped.
        assert_eq!(taps(1, 1, 0, 3, 2, 4), (1, 2));
        assert_eq!(taps(0, 1, 3, 3, 2, 4), (1, 1));
    }

    #[test]
    fn max_pool_with_stride_and_activation() {
        let p = params(2, 4, 2, 2, 0, (1, 2));
        let mut out = [0i8; 2];
        max_pool_s8(&p, &[1, -5, 7, 2, -128, 3, 0, 9], &mut out);
        assert_eq!(out, [3, 9]);
        let relu6 = PoolParams {
            activation_min: 0,
            activation_max: 6,
            ..p
        };
        max_pool_s8(&relu6, &[-1, -5, 7, 2, -128, -3, 0, 9], &mut out);
        assert_eq!(out, [0, 6]);
    }
}
