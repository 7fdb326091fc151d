//! The log of TFLM's signal library (`SignalFilterBankLog`): each uint32
//! filter-bank channel, shifted left by a correction, to a scaled natural
//! log in int16, by `tflm_signal::Log32`'s fixed-point arithmetic (a
//! piecewise-linear correction of log2's fraction, then times ln 2 and the
//! output scale in Q16).
//!
//! Layer: kernels; uses nothing.

/// `65536 * (log2(1 + i/128) - i/128)`, rounded, for `i` in `0..=128`: how
/// far log2 bows above its chord at each of 128 segments of the fraction
/// (a test recomputes every entry).
const LOG2_BOW: [u16; 129] = [
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944,
    3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714,
    4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533,
    5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568,
    5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944,
    4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848, 3759,
    3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090,
    1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0,
];

/// ln 2 in Q16.
const LN2_Q16: u64 = 45426;

/// Each channel of `input`, shifted left by `correction_bits` (< 32; bits
/// shifted out are lost, as in TFLM), to `log32(scaled, output_scale)`
/// saturated at `i16::MAX`; a channel of 0 or 1 after the shift gives 0.
pub fn filter_bank_log(output_scale: u32, correction_bits: u32, input: &[u32], output: &mut [i16]) {
    for (&x, y) in input.iter().zip(output) {
        let scaled = x.wrapping_shl(correction_bits);
        *y = match scaled {
            0 | 1 => 0,
            _ => log32(scaled, output_scale).min(i16::MAX as u32) as i16,
        };
    }
}

/// `ln(x) * out_scale`, rounded: log2 as an integer part and a Q16
/// fraction, times ln 2 in Q16, times `out_scale` and back from Q16 (the
/// product wrapping in uint32, as TFLM's does). `x` must be at least 1.
pub fn log32(x: u32, out_scale: u32) -> u32 {
    let integer = 31 - x.leading_zeros();
    let log2 = (integer << 16) + log2_fraction(x, integer);
    let loge = ((LN2_Q16 * u64::from(log2) + (1 << 15)) >> 16) as u32;
    out_scale.wrapping_mul(loge).wrapping_add(1 << 15) >> 16
}

/// The fraction of log2(x) in Q16, for `x` in `[2^integer, 2^(integer+1))`:
/// the fraction of `x` above its power of two, plus the bow of log2 above
/// its chord at the segment's start, plus TFLM's interpolation toward the
/// next one. That interpolation scales by 2^16 where the segment spans 2^9,
/// so it moves at most 1/128 of the way: a near step, kept for bit-exactness
/// (up to about 0.0035 too large in log2).
fn log2_fraction(x: u32, integer: u32) -> u32 {
    // Below 2^31, so an i32 as in TFLM; then in Q16.
    let above = (x - (1 << integer)) as i32;
    let frac = if integer < 16 {
        above << (16 - integer)
    } else {
        above >> (integer - 16)
    };
    let segment = (frac >> 9) as usize;
    let bow = |i: usize| i32::from(LOG2_BOW.get(i).copied().unwrap_or(0));
    let (c0, c1) = (bow(segment), bow(segment + 1));
    let within = frac - 512 * segment as i32;
    (frac + c0 + (((c1 - c0) * within) >> 16)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bow_table_is_log2_above_its_chord() {
        for (i, &v) in LOG2_BOW.iter().enumerate() {
            let f = i as f64 / 128.0;
            let want = (65536.0 * ((1.0 + f).log2() - f)).round();
            assert_eq!(f64::from(v), want, "entry {i}");
        }
    }

    /// The fixed-point log stays within 0.0035 * ln 2 * 1024 (its stepped
    /// interpolation) and a unit of rounding of ln(x) * 1024.
    #[test]
    fn log32_follows_the_natural_log() {
        for x in [2u32, 3, 100, 65535, 65536, 1 << 20, 123_456_789, u32::MAX] {
            let got = f64::from(log32(x, 1 << 10));
            let want = f64::from(x).ln() * 1024.0;
            assert!((got - want).abs() <= 3.5, "{x}: {got} vs {want}");
        }
    }

    #[test]
    fn small_channels_are_zero_and_large_ones_saturate() {
        let mut out = [7; 4];
        filter_bank_log(1 << 10, 1, &[0, 1 << 31, 1, u32::MAX >> 1], &mut out);
        // 0, and 2^31 shifted out to 0, give 0; 1 << 1 gives ln 2 * 1024;
        // the last ln(2^32 - 2) * 1024.
        assert_eq!(out[..2], [0, 0]);
        assert!((i32::from(out[2]) - 710).abs() <= 3, "{out:?}");
        assert!((i32::from(out[3]) - 22713).abs() <= 3, "{out:?}");
        // ln(2^30) * 2000 is 41589.
        filter_bank_log(2000, 0, &[1 << 30], &mut out[..1]);
        assert_eq!(out[0], i16::MAX);
    }
}
