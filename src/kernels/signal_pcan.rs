//! Per-channel amplitude normalization of TFLM's signal library
//! (`SignalPCAN`): each uint32 filter-bank channel times a gain that falls
//! with its channel's noise estimate (a piecewise-quadratic lookup), then
//! compressed by a shrink function, as `tflm_signal::
//! ApplyPcanAutoGainControlFixed` computes it.
//!
//! Layer: kernels; uses nothing.

/// Fractional bits of the signal-to-noise ratio.
const SNR_BITS: u32 = 12;
/// Fractional bits of the output.
const OUTPUT_BITS: u32 = 6;
/// Entries the gain lookup needs: noise estimates of up to 32 bits.
pub const GAIN_LUT_LEN: usize = 4 * 32 - 3;

/// `channels` to `output`: each times `gain(noise)`, shifted right by
/// `snr_shift` (< 64), kept to uint32, then shrunk. `gain_lut` holds at
/// least [`GAIN_LUT_LEN`] entries.
pub fn pcan(snr_shift: u32, gain_lut: &[i16], channels: &[u32], noise: &[u32], output: &mut [u32]) {
    for ((&x, &n), y) in channels.iter().zip(noise).zip(output) {
        // A negative gain reads as a large uint32, as in TFLM.
        let gain = i32::from(gain(n, gain_lut)) as u32;
        let snr = ((u64::from(x) * u64::from(gain)) >> (snr_shift & 63)) as u32;
        *y = shrink(snr);
    }
}

/// The gain for a noise estimate `x`: the lookup's own entry for 0, 1 and
/// 2; otherwise a quadratic in the 10 bits below `x`'s leading one, from
/// the three coefficients of `x`'s power of two.
fn gain(x: u32, lut: &[i16]) -> i16 {
    let at = |i: usize| i32::from(lut.get(i).copied().unwrap_or(0));
    if x <= 2 {
        return at(x as usize) as i16;
    }
    let interval = 32 - x.leading_zeros();
    let base = (4 * interval - 6) as usize;
    let frac = if interval < 11 {
        x << (11 - interval)
    } else {
        x >> (interval - 11)
    } & 0x3ff;
    let frac = frac as i32;
    let mut result = (at(base + 2) * frac) >> 5;
    result = result.wrapping_add(at(base + 1).wrapping_shl(5));
    result = result.wrapping_mul(frac);
    result = result.wrapping_add(1 << 14) >> 15;
    result.wrapping_add(at(base)) as i16
}

/// `x^2 / 4` below 2 and `x - 1` above, from `SNR_BITS` to `OUTPUT_BITS`
/// fractional bits.
fn shrink(x: u32) -> u32 {
    if x < 2 << SNR_BITS {
        (x * x) >> (2 + 2 * SNR_BITS - OUTPUT_BITS)
    } else {
        (x >> (SNR_BITS - OUTPUT_BITS)) - (1 << OUTPUT_BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_is_a_quarter_square_then_one_less() {
        let one = 1 << SNR_BITS;
        // 1 → 1/4 and 2 → 1 in 6 fractional bits; 3 → 2.
        assert_eq!(shrink(one), 16);
        assert_eq!(shrink(2 * one), 64);
        assert_eq!(shrink(3 * one), 128);
        assert_eq!(shrink(2 * one - 1), 63);
    }

    /// With a lookup whose only nonzero coefficients are constants, the
    /// gain is the constant of the noise's power of two.
    #[test]
    fn the_gain_is_looked_up_by_the_noise_power_of_two() {
        let mut lut = [0i16; GAIN_LUT_LEN];
        lut[..3].copy_from_slice(&[100, 200, 300]);
        for interval in 2..=32 {
            lut[4 * interval - 6] = interval as i16 * 10;
        }
        assert_eq!(gain(1, &lut), 200);
        assert_eq!(gain(3, &lut), 20);
        assert_eq!(gain(1 << 20, &lut), 210);
        assert_eq!(gain(u32::MAX, &lut), 320);
        // A channel of 2^12 times a gain of 1 (2^12 with shift 12), then
        // shrunk: 1/4 in 6 fractional bits.
        let mut out = [0];
        lut[4 * 2 - 6] = 1 << 12;
        pcan(12, &lut, &[1 << 12], &[3], &mut out);
        assert_eq!(out, [16]);
    }
}
