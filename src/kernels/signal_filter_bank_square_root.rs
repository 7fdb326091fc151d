//! The square root of TFLM's signal library (`SignalFilterBankSquareRoot`):
//! each uint64 filter-bank channel to its rounded integer square root,
//! shifted right, as `tflm_signal::FilterbankSqrt` computes it.
//!
//! Layer: kernels; uses nothing.

/// Each channel's square root (`sqrt64`) shifted right by `scale_down_bits`
/// (its low 5 bits: a computed shift can hold anything).
pub fn filter_bank_square_root(scale_down_bits: u32, input: &[u64], output: &mut [u32]) {
    for (&x, y) in input.iter().zip(output) {
        *y = sqrt64(x) >> (scale_down_bits & 31);
    }
}

/// The square root of `x`, rounded to nearest (but never past `u32::MAX`),
/// digit by digit. Values below 2^32 take TFLM's 32-bit shortcut, which
/// never rounds past `u16::MAX` (so 2^32 - 1 gives 65535, not 65536).
pub fn sqrt64(x: u64) -> u32 {
    match u32::try_from(x) {
        Ok(small) => u32::from(sqrt32(small)),
        Err(_) => {
            let (root, rest) = digit_by_digit(x, 63 - (x.leading_zeros() | 1));
            (root + u64::from(rest > root && root != u64::from(u32::MAX))) as u32
        }
    }
}

/// The rounded square root of a 32-bit value (at most `u16::MAX`).
fn sqrt32(x: u32) -> u16 {
    if x == 0 {
        return 0;
    }
    let (root, rest) = digit_by_digit(u64::from(x), 31 - (x.leading_zeros() | 1));
    (root + u64::from(rest > root && root != u64::from(u16::MAX))) as u16
}

/// The integer square root of `x` and its remainder, from the bit pair
/// at `top` (an even bit at or above `x`'s leading one) down.
fn digit_by_digit(mut x: u64, top: u32) -> (u64, u64) {
    let mut root = 0u64;
    let mut bit = 1u64 << top;
    while bit > 0 {
        if x >= root + bit {
            x -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    (root, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_round_to_nearest_below_the_type_limits() {
        for (x, root) in [
            (0u64, 0u32),
            (1, 1),
            (2, 1),
            (3, 2),
            (15, 4),
            (16, 4),
            (20, 4),
            (21, 5),
            (u64::from(u32::MAX), 65535),
            (1 << 32, 65536),
            (1 << 62, 1 << 31),
            (u64::MAX, u32::MAX),
        ] {
            assert_eq!(sqrt64(x), root, "sqrt({x})");
        }
    }

    /// Against the float root, rounded, on values of every size.
    #[test]
    fn roots_match_the_rounded_float_root() {
        let mut x = 1u64;
        while x < 1 << 52 {
            for v in [x, x + 1, x * 3 / 2] {
                let want = (v as f64).sqrt().round() as u64;
                let limit = if v >> 32 == 0 {
                    65535
                } else {
                    u64::from(u32::MAX)
                };
                assert_eq!(u64::from(sqrt64(v)), want.min(limit), "sqrt({v})");
            }
            x = x * 5 / 3 + 1;
        }
    }
}
