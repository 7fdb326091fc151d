//! The spectral subtraction of TFLM's signal library
//! (`SignalFilterBankSpectralSubtraction`): each uint32 filter-bank
//! channel less a running estimate of its noise, as
//! `tflm_signal::FilterbankSpectralSubtraction` computes it. The estimate
//! is state: a low-pass filter of each channel, carried from one call to
//! the next.
//!
//! Layer: kernels; uses nothing.

/// The filter's constants, in fixed point with `subtraction_bits`
/// fractional bits (TFLM reads them as int32 and keeps them as uint32, so
/// a negative one is 2^32 less its size).
#[derive(Clone, Copy, Debug)]
pub struct SpectralSubtraction {
    /// The even channels' filter coefficient, and one minus it.
    pub smoothing: u32,
    pub one_minus_smoothing: u32,
    /// The odd channels'.
    pub alternate_smoothing: u32,
    pub alternate_one_minus_smoothing: u32,
    /// The least fraction of each channel the subtraction leaves.
    pub min_signal_remaining: u32,
    /// Extra fractional bits of the estimate (below 32).
    pub smoothing_bits: u32,
    /// The constants' fractional bits (below 64).
    pub subtraction_bits: u32,
    /// Whether an estimate above its channel drops to it.
    pub clamping: bool,
}

/// One call: `input` less `noise` (updated first) into `output`, channel
/// by channel, in TFLM's uint32 and uint64 arithmetic (the scaled-up
/// channel wraps in uint32, as TFLM's shift does).
pub fn spectral_subtraction(
    p: &SpectralSubtraction,
    input: &[u32],
    noise: &mut [u32],
    output: &mut [u32],
) {
    let bits = p.subtraction_bits & 63;
    for (i, ((&x, n), out)) in input.iter().zip(noise.iter_mut()).zip(output).enumerate() {
        let (smoothing, one_minus) = if i % 2 == 0 {
            (p.smoothing, p.one_minus_smoothing)
        } else {
            (p.alternate_smoothing, p.alternate_one_minus_smoothing)
        };
        let scaled = x.wrapping_shl(p.smoothing_bits);
        let filtered = (u64::from(scaled) * u64::from(smoothing))
            .wrapping_add(u64::from(*n) * u64::from(one_minus));
        *n = (filtered >> bits) as u32;
        let mut estimate = *n;
        if estimate > scaled {
            estimate = scaled;
            if p.clamping {
                *n = estimate;
            }
        }
        let floor = ((u64::from(x) * u64::from(p.min_signal_remaining)) >> bits) as u32;
        let subtracted = (scaled - estimate).wrapping_shr(p.smoothing_bits);
        *out = subtracted.max(floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(clamping: bool) -> SpectralSubtraction {
        SpectralSubtraction {
            smoothing: 655,
            one_minus_smoothing: 15729,
            alternate_smoothing: 2000,
            alternate_one_minus_smoothing: 14384,
            min_signal_remaining: 819,
            smoothing_bits: 10,
            subtraction_bits: 14,
            clamping,
        }
    }

    /// The estimate follows a steady channel up, and the subtraction
    /// removes it, down to the floor; with clamping, a drop pulls the
    /// estimate down with it.
    #[test]
    fn a_steady_channel_is_subtracted_to_its_floor() {
        let (mut noise, mut out) = ([0u32; 2], [0u32; 2]);
        for _ in 0..400 {
            spectral_subtraction(&params(false), &[10_000, 10_000], &mut noise, &mut out);
        }
        // Scaled by 2^10, the estimates approach 10_000 << 10.
        assert!(noise.iter().all(|&n| n > 10_000 << 9), "{noise:?}");
        assert_eq!(out, [(10_000 * 819) >> 14; 2]);
        let before = noise;
        spectral_subtraction(&params(false), &[10, 10], &mut noise, &mut out);
        assert!(
            noise[0] > 10 << 10,
            "without clamping the estimate stays above"
        );
        let mut clamped = before;
        spectral_subtraction(&params(true), &[10, 10], &mut clamped, &mut out);
        assert_eq!(clamped, [10 << 10; 2]);
        assert_eq!(out, [0; 2]);
    }
}
