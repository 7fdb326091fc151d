//! The inverse real FFT of TFLM's signal library (`SignalIrfft`): frames
//! of `fft_length / 2 + 1` complex bins back to `fft_length` real
//! samples, as kissfft's `kiss_fftri` computes them (int16, int32 or
//! float32; the fixed-point builds scale down as they go, as kissfft's).
//!
//! Layer: kernels; uses `kiss_fft`.

use super::kiss_fft::{fft, Bins, Cpx, Factors, FftScalar};
use super::{at, part, part_mut};

/// A scalar of TFLM's inverse FFT: kissfft's inverse scales its output up
/// by the length in float32, which TFLM divides back out; the fixed-point
/// builds scale down at every stage and are left as they come.
pub trait IrfftScalar: FftScalar {
    fn unscale(self, fft_length: usize) -> Self;
}

impl IrfftScalar for i16 {
    fn unscale(self, _fft_length: usize) -> i16 {
        self
    }
}

impl IrfftScalar for i32 {
    fn unscale(self, _fft_length: usize) -> i32 {
        self
    }
}

impl IrfftScalar for f32 {
    fn unscale(self, fft_length: usize) -> f32 {
        self / fft_length as f32
    }
}

/// Each frame of `fft_length + 2` values of `input` (its bins' real and
/// imaginary parts) to `fft_length` samples of `output`. `twiddles` holds
/// kissfft's inverse ones, complex: the `fft_length / 2` of the
/// half-length complex FFT, then the `fft_length / 4` that fold the
/// spectrum into it; `scratch` holds that FFT's input, `fft_length`
/// values.
pub fn irfft<T: IrfftScalar>(
    fft_length: usize,
    twiddles: &[T],
    input: &[T],
    scratch: &mut [T],
    output: &mut [T],
) {
    let n = fft_length / 2;
    let factors = Factors::of(n as u32);
    let (inner, fold) = (part(twiddles, 0, 2 * n), part(twiddles, 2 * n, 2 * (n / 2)));
    let frames = output.len().checked_div(fft_length).unwrap_or(0);
    for f in 0..frames {
        let bins = part(input, f * (fft_length + 2), fft_length + 2);
        let bin = |k: usize| Cpx {
            r: at(bins, 2 * k, T::default()),
            i: at(bins, 2 * k + 1, T::default()),
        };
        let mut z = Bins(&mut *scratch);
        fold_spectrum(n, fold, bin, &mut z);
        let z = Bins(&mut *scratch);
        let samples = part_mut(output, f * fft_length, fft_length);
        fft(
            n,
            &factors,
            inner,
            true,
            |j| z.get(j),
            &mut Bins(&mut *samples),
        );
        for v in samples.iter_mut() {
            *v = v.unscale(fft_length);
        }
    }
}

/// The real signal's bins `0..=n` into the half-length FFT of its even
/// (real part) and odd (imaginary part) samples, bins `0..n` of `z`.
fn fold_spectrum<T: FftScalar>(
    n: usize,
    fold: &[T],
    bin: impl Fn(usize) -> Cpx<T>,
    z: &mut Bins<T>,
) {
    let (dc, nyquist) = (bin(0), bin(n));
    let first = Cpx {
        r: dc.r.add(nyquist.r),
        i: dc.r.sub(nyquist.r),
    };
    z.set(0, first.c_fixdiv(2));
    for k in 1..=n / 2 {
        let fk = bin(k).c_fixdiv(2);
        let b = bin(n - k);
        let fnkc = Cpx {
            r: b.r,
            i: b.i.neg(),
        }
        .c_fixdiv(2);
        let fek = fk.c_add(fnkc);
        let fok = fk.c_sub(fnkc).c_mul(Cpx {
            r: at(fold, 2 * (k - 1), T::default()),
            i: at(fold, 2 * (k - 1) + 1, T::default()),
        });
        z.set(k, fek.c_add(fok));
        let d = fek.c_sub(fok);
        z.set(
            n - k,
            Cpx {
                r: d.r,
                i: d.i.neg(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::signal_rfft::{rfft, RfftShape};
    use core::f64::consts::PI;

    /// kissfft's float twiddles for a real FFT of `fft_length` points, in
    /// the direction `sign` (-1 forward, 1 inverse).
    fn twiddles(fft_length: usize, sign: f64) -> Vec<f32> {
        let n = fft_length / 2;
        let inner = (0..n).map(|i| -2.0 * PI * i as f64 / n as f64);
        let split = (0..n / 2).map(|i| -PI * ((i + 1) as f64 / n as f64 + 0.5));
        inner
            .chain(split)
            .flat_map(|phase| [(-sign * phase).cos() as f32, (-sign * phase).sin() as f32])
            .collect()
    }

    /// The inverse of the forward transform is the signal (TFLM divides
    /// out the length kissfft's float build scales it by), for every radix.
    #[test]
    fn inverse_of_the_forward_transform_scales_the_signal() {
        for fft_length in [2usize, 8, 12, 20, 40, 64] {
            let x: Vec<f32> = (0..2 * fft_length)
                .map(|j| ((j * 37) % 23) as f32 - 11.0)
                .collect();
            let mut spectrum = vec![0f32; 2 * (fft_length + 2)];
            let shape = RfftShape {
                fft_length,
                input_length: fft_length,
            };
            rfft(shape, &twiddles(fft_length, -1.0), &x, &mut spectrum);
            let (mut scratch, mut y) = (vec![0f32; fft_length], vec![0f32; 2 * fft_length]);
            irfft(
                fft_length,
                &twiddles(fft_length, 1.0),
                &spectrum,
                &mut scratch,
                &mut y,
            );
            for (j, (&a, &b)) in x.iter().zip(&y).enumerate() {
                assert!(
                    (b - a).abs() < 1e-4,
                    "length {fft_length} sample {j}: {b} against {a}"
                );
            }
        }
    }
}
