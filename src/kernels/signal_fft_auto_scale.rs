//! The FFT input scaling of TFLM's signal library (`SignalFftAutoScale`):
//! a frame of int16 samples shifted left as far as its largest magnitude
//! allows, so that a fixed-point FFT keeps the most bits; the shift is
//! returned for the stages after the FFT to undo.
//!
//! Layer: kernels; uses nothing.

/// The left shift `tflm_signal::FftAutoScale` applies to `input`.
///
/// It keeps TFLM's arithmetic to the bit, quirks included: the running
/// maximum magnitude is an int16, so -32768 negates to itself, after which
/// any larger later value replaces it; a maximum of 0 or -32768 gives no
/// shift (`MostSignificantBit32` of 0 is 32 with GCC's builtin, and of
/// -32768 widened to uint32 is 32 too).
pub fn scale_bits(input: &[i16]) -> u32 {
    let mut max: i16 = 0;
    for &v in input {
        if v > max {
            max = v;
        } else if -i32::from(v) > i32::from(max) {
            max = v.wrapping_neg();
        }
    }
    let widened = i32::from(max) as u32;
    let msb = match widened {
        0 => 32,
        w => 32 - w.leading_zeros(),
    };
    (16 - 1i32 - msb as i32).max(0) as u32
}

/// `input` shifted left by `bits` (multiplied by 2^bits, then truncated to
/// int16 as C's conversion does: only the wrapped -32768 of
/// [`scale_bits`] loses bits).
pub fn scale(input: &[i16], bits: u32, output: &mut [i16]) {
    for (&x, y) in input.iter().zip(output) {
        *y = (i32::from(x) << (bits & 15)) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shift_fills_sixteen_bits() {
        assert_eq!(scale_bits(&[3, -5, 1]), 12); // 5 has 3 bits: 16 - 3 - 1
        assert_eq!(scale_bits(&[-16384, 1]), 0);
        assert_eq!(scale_bits(&[16383]), 1);
        assert_eq!(scale_bits(&[0, 0]), 0);
        assert_eq!(scale_bits(&[]), 0);
        let mut out = [0; 3];
        scale(&[3, -5, 1], 12, &mut out);
        assert_eq!(out, [12288, -20480, 4096]);
    }

    #[test]
    fn minus_32768_is_tflms_wrapped_maximum() {
        // Last: the maximum stays -32768, which means no shift.
        assert_eq!(scale_bits(&[5, -32768]), 0);
        // First: 5 > -32768 replaces it; the shift is 5's, and -32768
        // wraps to 0 when shifted.
        assert_eq!(scale_bits(&[-32768, 5]), 12);
        let mut out = [1; 2];
        scale(&[-32768, 5], 12, &mut out);
        assert_eq!(out, [0, 20480]);
    }
}
