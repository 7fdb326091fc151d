//! The real FFT of TFLM's signal library (`SignalRfft`): frames of real
//! samples, zero-padded to the FFT's length, to their `length / 2 + 1`
//! complex bins, as kissfft's `kiss_fftr` computes them (int16, int32 or
//! float32; the fixed-point spectra come out over `length / 2`, kissfft's
//! scaling).
//!
//! Layer: kernels; uses `kiss_fft`.

use super::kiss_fft::{fft, Bins, Cpx, Factors, FftScalar};
use super::{at, part, part_mut};

/// `fft_length` points (even) from frames of `input_length` samples.
#[derive(Clone, Copy, Debug)]
pub struct RfftShape {
    pub fft_length: usize,
    pub input_length: usize,
}

/// Each frame of `input_length` samples to `fft_length + 2` values
/// (`fft_length / 2 + 1` bins, real and imaginary) of `output`.
/// `twiddles` holds kissfft's, complex, as its allocation computes them:
/// the `fft_length / 2` of the half-length complex FFT, then the
/// `fft_length / 4` "super twiddles" that split its result into the real
/// input's spectrum.
pub fn rfft<T: FftScalar>(shape: RfftShape, twiddles: &[T], input: &[T], output: &mut [T]) {
    let RfftShape {
        fft_length,
        input_length,
    } = shape;
    let n = fft_length / 2;
    let factors = Factors::of(n as u32);
    let (inner, split) = (part(twiddles, 0, 2 * n), part(twiddles, 2 * n, 2 * (n / 2)));
    let frames = input.len().checked_div(input_length).unwrap_or(0);
    for f in 0..frames {
        let x = part(input, f * input_length, input_length);
        let mut bins = Bins(part_mut(output, f * (fft_length + 2), fft_length + 2));
        // Sample pairs as complex points, zero past the frame's end.
        let point = |j: usize| Cpx {
            r: at(x, 2 * j, T::default()),
            i: at(x, 2 * j + 1, T::default()),
        };
        fft(n, &factors, inner, false, point, &mut bins);
        split_spectrum(n, split, &mut bins);
    }
}

/// The half-length FFT `z` of the even (real part) and odd (imaginary)
/// samples, in bins `0..n`, into the real signal's bins `0..=n`, in
/// place: bins `k` and `n - k` are read together and written together.
fn split_spectrum<T: FftScalar>(n: usize, split: &[T], bins: &mut Bins<T>) {
    let dc = bins.get(0).c_fixdiv(2);
    bins.set(
        0,
        Cpx {
            r: dc.r.add(dc.i),
            i: T::default(),
        },
    );
    bins.set(
        n,
        Cpx {
            r: dc.r.sub(dc.i),
            i: T::default(),
        },
    );
    for k in 1..=n / 2 {
        let fpk = bins.get(k).c_fixdiv(2);
        let z = bins.get(n - k);
        let fpnk = Cpx {
            r: z.r,
            i: z.i.neg(),
        }
        .c_fixdiv(2);
        let f1k = fpk.c_add(fpnk);
        let f2k = fpk.c_sub(fpnk);
        let tw = f2k.c_mul(Cpx {
            r: at(split, 2 * (k - 1), T::default()),
            i: at(split, 2 * (k - 1) + 1, T::default()),
        });
        bins.set(
            k,
            Cpx {
                r: f1k.r.half_sum(tw.r),
                i: f1k.i.half_sum(tw.i),
            },
        );
        bins.set(
            n - k,
            Cpx {
                r: f1k.r.half_diff(tw.r),
                i: tw.i.half_diff(f1k.i),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::f64::consts::PI;

    /// kissfft's float twiddles for a real FFT of `fft_length` points.
    fn twiddles(fft_length: usize) -> Vec<f32> {
        let n = fft_length / 2;
        let inner = (0..n).map(|i| -2.0 * PI * i as f64 / n as f64);
        let split = (0..n / 2).map(|i| -PI * ((i + 1) as f64 / n as f64 + 0.5));
        inner
            .chain(split)
            .flat_map(|phase| [phase.cos() as f32, phase.sin() as f32])
            .collect()
    }

    /// Two zero-padded frames of every shape agree with the real DFT.
    #[test]
    fn spectra_match_the_dft() {
        for (fft_length, input_length) in [(2, 2), (8, 8), (16, 11), (24, 24), (40, 33), (64, 64)] {
            let x: Vec<f32> = (0..2 * input_length)
                .map(|j| ((j * 37) % 23) as f32 - 11.0)
                .collect();
            let mut y = vec![0f32; 2 * (fft_length + 2)];
            let shape = RfftShape {
                fft_length,
                input_length,
            };
            rfft(shape, &twiddles(fft_length), &x, &mut y);
            for f in 0..2 {
                for k in 0..=fft_length / 2 {
                    let (re, im) = (0..input_length).fold((0.0, 0.0), |(re, im), j| {
                        let w = -2.0 * PI * (j * k) as f64 / fft_length as f64;
                        let v = f64::from(x[f * input_length + j]);
                        (re + v * w.cos(), im + v * w.sin())
                    });
                    let at = f * (fft_length + 2) + 2 * k;
                    assert!(
                        (f64::from(y[at]) - re).abs() < 1e-3
                            && (f64::from(y[at + 1]) - im).abs() < 1e-3,
                        "length {fft_length} frame {f} bin {k}: {:?} against {:?}",
                        (y[at], y[at + 1]),
                        (re, im)
                    );
                }
            }
        }
    }
}
