//! The energy of TFLM's signal library (`SignalEnergy`): the squared
//! magnitude of each complex int16 bin of a spectrum, as uint32, over the
//! bins `start..end`, as `tflm_signal::SpectrumToEnergy` computes it.
//!
//! Layer: kernels; uses nothing.

/// `spectrum` holds complex bins as (real, imaginary) int16 pairs; bin `i`
/// of `energy` becomes `real² + imag²` for `i` in `start..end`, and 0
/// elsewhere (TFLM leaves those bins as they were; nothing reads them).
pub fn energy_s16(start: usize, end: usize, spectrum: &[i16], energy: &mut [u32]) {
    for (i, (e, bin)) in energy.iter_mut().zip(spectrum.chunks(2)).enumerate() {
        *e = match bin {
            [re, im] if (start..end).contains(&i) => square(*re) + square(*im),
            _ => 0,
        };
    }
}

/// At most 2^30, so two of them sum to at most 2^31: a uint32 holds every
/// energy (TFLM sums in int32 and reads the result as uint32).
fn square(v: i16) -> u32 {
    i32::from(v).unsigned_abs().pow(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_in_range_are_squared_magnitudes_others_zero() {
        let spectrum = [3, 4, -32768, -32768, 1, -1, 7, 0];
        let mut energy = [9; 4];
        energy_s16(1, 3, &spectrum, &mut energy);
        assert_eq!(energy, [0, 1 << 31, 2, 0]);
        energy_s16(0, 4, &spectrum, &mut energy);
        assert_eq!(energy, [25, 1 << 31, 2, 49]);
    }
}
