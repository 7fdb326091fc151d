//! QUANTIZE (float to int8) and DEQUANTIZE (int8 to float) at the edges of a
//! model, with TFLM's rounding (half away from zero, in double precision).
//! QUANTIZE from int8 to int8 is `activation::requantize_s8`.
//!
//! Layer: kernels; pure functions over slices, uses `libm` for rounding.

use crate::wire::wire_struct;

wire_struct! {
    pub struct AffineParams {
        pub scale: f32,
        pub zero_point: i32,
    }
}

pub fn quantize_f32_to_s8(p: &AffineParams, input: &[f32], output: &mut [i8]) {
    let scale = f64::from(p.scale);
    for (o, &v) in output.iter_mut().zip(input) {
        let q = libm::round(f64::from(v) / scale);
        // Saturating float-to-int conversion, then the zero point.
        let q = (q as i32).saturating_add(p.zero_point);
        *o = q.clamp(-128, 127) as i8;
    }
}

pub fn dequantize_s8_to_f32(p: &AffineParams, input: &[i8], output: &mut [f32]) {
    let scale = f64::from(p.scale);
    for (o, &v) in output.iter_mut().zip(input) {
        *o = (scale * f64::from(i32::from(v) - p.zero_point)) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        let p = AffineParams {
            scale: 0.5,
            zero_point: -1,
        };
        let mut out = [0i8; 5];
        quantize_f32_to_s8(&p, &[0.25, -0.25, 1.0, 1000.0, -1000.0], &mut out);
        assert_eq!(out, [0, -2, 1, 127, -128]);
    }

    #[test]
    fn dequantize_inverts_quantize_on_the_grid() {
        let p = AffineParams {
            scale: 0.1,
            zero_point: 5,
        };
        let mut f = [0f32; 3];
        dequantize_s8_to_f32(&p, &[5, 15, -128], &mut f);
        assert_eq!(f[0], 0.0);
        assert!((f[1] - 1.0).abs() < 1e-6);
        let mut q = [0i8; 3];
        quantize_f32_to_s8(&p, &f, &mut q);
        assert_eq!(q, [5, 15, -128]);
    }
}
