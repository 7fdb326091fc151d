//! The window of TFLM's signal library (`SignalWindow`): each frame of
//! int16 samples multiplied by an int16 window, shifted right and
//! saturated to int16, as `tflm_signal::ApplyWindow` computes it.
//!
//! Layer: kernels; uses nothing.

/// `input` in frames of `window.len()` samples (the last axis, or several
/// frames of a longer one), each sample times its window value, shifted
/// right by `shift` (arithmetically: toward minus infinity), saturated.
pub fn window_s16(shift: u32, input: &[i16], window: &[i16], output: &mut [i16]) {
    // Cycling the window over the flat input walks it frame by frame, as
    // TFLM's kernel does; an empty window yields nothing.
    for ((&x, &w), y) in input.iter().zip(window.iter().cycle()).zip(output) {
        // |x * w| ≤ 2^30: the product fits an i32, as in TFLM.
        let raw = (i32::from(x) * i32::from(w)) >> (shift & 31);
        *y = raw.clamp(i16::MIN.into(), i16::MAX.into()) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_windowed_floored_and_saturated() {
        let window = [4096, -2048, 32767];
        let input = [3, 3, 3, -32768, 1, -32768, 7, -3, 0];
        let mut out = [0; 9];
        window_s16(12, &input, &window, &mut out);
        // 3*4096>>12 = 3; 3*-2048>>12 = -1.5 floored to -2; 3*32767>>12 =
        // 23; -32768*4096>>12 = -32768; 1*-2048>>12 = -0.5 floored to -1;
        // -32768*32767>>12 = -262136 saturated; 7; 1.5 floored to 1; 0.
        assert_eq!(out, [3, -2, 23, -32768, -1, -32768, 7, 1, 0]);
        window_s16(0, &[-32768, 300], &[-32768, 300], &mut out[..2]);
        assert_eq!(out[..2], [32767, 32767]);
    }
}
