//! TFLM's requantization (`MultiplyByQuantizedMultiplier`) in fewer steps,
//! with the same result for every accumulator and every non-negative
//! multiplier (the only kind the codegen writes; ops that use these paths
//! check it).
//!
//! Layer: arch; uses `quant`.

use crate::quant::rounding_divide_by_pot;

/// `multiply_by_quantized_multiplier(x, multiplier, shift)` for
/// `multiplier >= 0` and `shift` in `-31..=30`.
///
/// TFLM's rounding doubling high multiply adds `2^30` to a non-negative
/// product and `1 - 2^30` to a negative one, then divides by `2^31`
/// truncating toward zero. For a negative product `p`,
/// `trunc((p + 1 - 2^30) / 2^31) = floor((p + 2^30) / 2^31)`, which is also
/// the non-negative case: one 64-bit add and shift, no branch. Saturation
/// only happens for `i32::MIN * i32::MIN`, which a non-negative multiplier
/// excludes.
#[inline(always)]
pub fn requantize(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    let scaled = x.wrapping_shl(left as u32);
    let high = ((i64::from(scaled) * i64::from(multiplier) + (1 << 30)) >> 31) as i32;
    rounding_divide_by_pot(high, right)
}

/// One int8 output: the accumulator with its bias, requantized, moved to
/// the output zero point and clamped, exactly as the reference kernels do.
#[inline(always)]
pub fn to_output(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_offset: i32,
    (min, max): (i32, i32),
) -> i8 {
    requantize(acc, multiplier, shift)
        .saturating_add(output_offset)
        .clamp(min, max) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::multiply_by_quantized_multiplier;

    #[test]
    fn requantize_equals_tflm_on_edges_and_random_values() {
        let xs = [
            0,
            1,
            -1,
            2,
            -2,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        let ms = [
            0,
            1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX,
            i32::MAX - 1,
            1_518_500_250,
        ];
        for &x in &xs {
            for &m in &ms {
                for shift in -31..=30 {
                    assert_eq!(
                        requantize(x, m, shift),
                        multiply_by_quantized_multiplier(x, m, shift),
                        "x {x} m {m} shift {shift}"
                    );
                }
            }
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let r = next();
            let x = (r as i32) >> ((r >> 32) % 32);
            let m = ((r >> 33) as u32 >> 1) as i32;
            let shift = ((r >> 40) % 62) as i32 - 31;
            assert_eq!(
                requantize(x, m, shift),
                multiply_by_quantized_multiplier(x, m, shift),
                "x {x} m {m} shift {shift}"
            );
        }
    }
}
