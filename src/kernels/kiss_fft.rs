//! The complex FFT under TFLM's signal library: kissfft 1.3.0's mixed-radix
//! transform (radices 4, 2, 3 and 5), to the bit, in its fixed-point
//! (int16 and int32) and float32 builds. The real FFTs (`signal_rfft`)
//! are built on it.
//!
//! Layer: kernels; uses nothing.
//!
//! kissfft recurses: an FFT of `p * m` points is `p` FFTs of `m` points
//! (each of every `p`-th input) recombined by a radix-`p` butterfly. Here
//! the recursion is unrolled: the inputs are first placed where the
//! recursion's leaves would put them, then each stage's butterflies run
//! bottom up. Every butterfly sees the same values in the same order as in
//! kissfft, so the roundings agree. The twiddles are the caller's (kiln
//! computes them when compiling, as kissfft's allocation does, and keeps
//! them in flash); each butterfly scales its inputs down by its radix in
//! the fixed-point builds, so an `n`-point FFT returns the spectrum over
//! `n`, as kissfft's does.

/// A complex value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpx<T> {
    pub r: T,
    pub i: T,
}

/// The arithmetic of one kissfft build: its scalar type and macros
/// (`_kiss_fft_guts.h`). The fixed-point builds wrap where C's int
/// arithmetic, stored back to the scalar type, truncates.
pub trait FftScalar: Copy + Default {
    /// `a + b` stored as the scalar (C_ADD).
    fn add(self, other: Self) -> Self;
    /// `a - b` stored as the scalar (C_SUB).
    fn sub(self, other: Self) -> Self;
    /// `-a` stored as the scalar.
    fn neg(self) -> Self;
    /// S_MUL: the rounded fixed-point product (a plain product in float).
    fn mul(self, other: Self) -> Self;
    /// C_MUL's real and imaginary parts: `a*b - c*d` and `a*b + c*d`, each
    /// rounded once.
    fn mul_sub(a: Self, b: Self, c: Self, d: Self) -> Self;
    fn mul_add(a: Self, b: Self, c: Self, d: Self) -> Self;
    /// C_FIXDIV: scaled down by `k` (times SAMP_MAX / k, rounded); float
    /// leaves the value as it is.
    fn div(self, k: i32) -> Self;
    /// HALF_OF of a stored value.
    fn half(self) -> Self;
    /// HALF_OF(a + b) and HALF_OF(a - b), the sum taken in C's promoted
    /// type (int for int16, so no bit is lost before the halving).
    fn half_sum(self, other: Self) -> Self;
    fn half_diff(self, other: Self) -> Self;
}

/// The int16 build (FIXED_POINT=16): Q15 twiddles, int32 products.
impl FftScalar for i16 {
    fn add(self, other: i16) -> i16 {
        self.wrapping_add(other)
    }
    fn sub(self, other: i16) -> i16 {
        self.wrapping_sub(other)
    }
    fn neg(self) -> i16 {
        self.wrapping_neg()
    }
    fn mul(self, other: i16) -> i16 {
        round_q15(i32::from(self) * i32::from(other))
    }
    fn mul_sub(a: i16, b: i16, c: i16, d: i16) -> i16 {
        round_q15((i32::from(a) * i32::from(b)).wrapping_sub(i32::from(c) * i32::from(d)))
    }
    fn mul_add(a: i16, b: i16, c: i16, d: i16) -> i16 {
        round_q15((i32::from(a) * i32::from(b)).wrapping_add(i32::from(c) * i32::from(d)))
    }
    fn div(self, k: i32) -> i16 {
        self.mul((i32::from(i16::MAX) / k.max(1)) as i16)
    }
    fn half(self) -> i16 {
        self >> 1
    }
    fn half_sum(self, other: i16) -> i16 {
        ((i32::from(self) + i32::from(other)) >> 1) as i16
    }
    fn half_diff(self, other: i16) -> i16 {
        ((i32::from(self) - i32::from(other)) >> 1) as i16
    }
}

/// kissfft's `sround` of an int16 product: add half, shift out 15 bits,
/// truncate to int16.
fn round_q15(x: i32) -> i16 {
    (x.wrapping_add(1 << 14) >> 15) as i16
}

/// The int32 build (FIXED_POINT=32): Q31 twiddles, int64 products; the
/// sums before a halving are int32 too, so they wrap.
impl FftScalar for i32 {
    fn add(self, other: i32) -> i32 {
        self.wrapping_add(other)
    }
    fn sub(self, other: i32) -> i32 {
        self.wrapping_sub(other)
    }
    fn neg(self) -> i32 {
        self.wrapping_neg()
    }
    fn mul(self, other: i32) -> i32 {
        round_q31(i64::from(self) * i64::from(other))
    }
    fn mul_sub(a: i32, b: i32, c: i32, d: i32) -> i32 {
        round_q31((i64::from(a) * i64::from(b)).wrapping_sub(i64::from(c) * i64::from(d)))
    }
    fn mul_add(a: i32, b: i32, c: i32, d: i32) -> i32 {
        round_q31((i64::from(a) * i64::from(b)).wrapping_add(i64::from(c) * i64::from(d)))
    }
    fn div(self, k: i32) -> i32 {
        self.mul(i32::MAX / k.max(1))
    }
    fn half(self) -> i32 {
        self >> 1
    }
    fn half_sum(self, other: i32) -> i32 {
        self.wrapping_add(other) >> 1
    }
    fn half_diff(self, other: i32) -> i32 {
        self.wrapping_sub(other) >> 1
    }
}

fn round_q31(x: i64) -> i32 {
    (x.wrapping_add(1 << 30) >> 31) as i32
}

/// The float32 build: plain arithmetic, no scaling. (kissfft halves in
/// double, `x * .5`; for a float that product is exact, so it equals
/// float32's.)
impl FftScalar for f32 {
    fn add(self, other: f32) -> f32 {
        self + other
    }
    fn sub(self, other: f32) -> f32 {
        self - other
    }
    fn neg(self) -> f32 {
        -self
    }
    fn mul(self, other: f32) -> f32 {
        self * other
    }
    fn mul_sub(a: f32, b: f32, c: f32, d: f32) -> f32 {
        a * b - c * d
    }
    fn mul_add(a: f32, b: f32, c: f32, d: f32) -> f32 {
        a * b + c * d
    }
    fn div(self, _k: i32) -> f32 {
        self
    }
    fn half(self) -> f32 {
        self * 0.5
    }
    fn half_sum(self, other: f32) -> f32 {
        (self + other) * 0.5
    }
    fn half_diff(self, other: f32) -> f32 {
        (self - other) * 0.5
    }
}

impl<T: FftScalar> Cpx<T> {
    pub fn c_add(self, o: Self) -> Self {
        Cpx {
            r: self.r.add(o.r),
            i: self.i.add(o.i),
        }
    }
    pub fn c_sub(self, o: Self) -> Self {
        Cpx {
            r: self.r.sub(o.r),
            i: self.i.sub(o.i),
        }
    }
    /// C_MUL.
    pub fn c_mul(self, o: Self) -> Self {
        Cpx {
            r: T::mul_sub(self.r, o.r, self.i, o.i),
            i: T::mul_add(self.r, o.i, self.i, o.r),
        }
    }
    /// C_FIXDIV.
    pub fn c_fixdiv(self, k: i32) -> Self {
        Cpx {
            r: self.r.div(k),
            i: self.i.div(k),
        }
    }
}

/// The most stages kiln runs: each radix is at least 2, so every FFT of up
/// to 2^16 points (a real FFT of 2^17) has at most 16.
const MAX_STAGES: usize = 16;

/// kissfft's factorization of `n` (`kf_factor`): powers of 4 first, then
/// 2, then odd numbers up; once the candidate exceeds the square root of
/// `n`, the rest is one factor. `len` radices, outermost first; `whole`
/// is false if they ran past `MAX_STAGES` before reaching `n`.
#[derive(Clone, Copy, Debug)]
pub struct Factors {
    pub radices: [u32; MAX_STAGES],
    pub len: usize,
    pub whole: bool,
}

impl Factors {
    pub fn of(n: u32) -> Factors {
        let mut f = Factors {
            radices: [0; MAX_STAGES],
            len: 0,
            whole: false,
        };
        let floor_sqrt = n.isqrt();
        let mut rest = n;
        let mut p = 4;
        while f.len < MAX_STAGES {
            while !rest.is_multiple_of(p) {
                p = match p {
                    4 => 2,
                    2 => 3,
                    _ => p + 2,
                };
                if p > floor_sqrt {
                    p = rest;
                }
            }
            rest /= p.max(1);
            if let Some(r) = f.radices.get_mut(f.len) {
                *r = p;
            }
            f.len += 1;
            if rest <= 1 {
                f.whole = true;
                break;
            }
        }
        f
    }

    /// The radices, outermost first.
    pub fn radices(&self) -> &[u32] {
        crate::kernels::part(&self.radices, 0, self.len)
    }

    /// Whether kiln runs this FFT: at most `MAX_STAGES` stages, each of a
    /// radix with a butterfly here (1, 2, 3, 4 or 5; kissfft's generic one
    /// for larger primes needs a scratch buffer per call).
    pub fn supported(&self) -> bool {
        self.whole && self.radices().iter().all(|&p| (1..=5).contains(&p))
    }
}

/// A buffer of complex values stored as (real, imaginary) pairs; reads
/// past its end give zero and writes there are dropped (the checks keep
/// every index inside).
pub struct Bins<'a, T>(pub &'a mut [T]);

impl<T: FftScalar> Bins<'_, T> {
    #[inline(always)]
    pub fn get(&self, k: usize) -> Cpx<T> {
        Cpx {
            r: crate::kernels::at(self.0, 2 * k, T::default()),
            i: crate::kernels::at(self.0, 2 * k + 1, T::default()),
        }
    }

    #[inline(always)]
    pub fn set(&mut self, k: usize, c: Cpx<T>) {
        if let Some([r, i]) = self.0.get_mut(2 * k..2 * k + 2) {
            *r = c.r;
            *i = c.i;
        }
    }
}

/// Twiddle `k` of `twiddles` (complex pairs), zero past the end.
#[inline(always)]
fn twiddle<T: FftScalar>(twiddles: &[T], k: usize) -> Cpx<T> {
    Cpx {
        r: crate::kernels::at(twiddles, 2 * k, T::default()),
        i: crate::kernels::at(twiddles, 2 * k + 1, T::default()),
    }
}

/// The `n`-point FFT of `input(j)` (input point `j`, for `j` in `0..n`)
/// into the first `n` bins of `out`, as `kiss_fft` computes it. `twiddles`
/// holds kissfft's `n` twiddles, `e^(∓2πik/n)` (the sign the direction's),
/// as the build stores them; `inverse` picks the direction's radix-4
/// butterfly, as kissfft's configuration does.
pub fn fft<T: FftScalar>(
    n: usize,
    factors: &Factors,
    twiddles: &[T],
    inverse: bool,
    input: impl Fn(usize) -> Cpx<T>,
    out: &mut Bins<T>,
) {
    let radices = factors.radices();
    let mut strides = [1usize; MAX_STAGES];
    for (s, stride) in strides.iter_mut().enumerate().take(radices.len()) {
        *stride = stride_above(radices, s);
    }
    // The leaves: output position `k`, in the mixed radix of the stages'
    // lengths (digit `s` weighs `m_s`, the length below stage `s`), takes
    // input `j`, the same digits weighing the strides `p_0 ... p_(s-1)`.
    // Counted up digit by digit, innermost fastest, without a division.
    let mut digits = [0u8; MAX_STAGES];
    let mut j = 0usize;
    for k in 0..n {
        out.set(k, input(j));
        for ((d, &p), &stride) in digits.iter_mut().zip(radices).zip(&strides).rev() {
            *d += 1;
            j += stride;
            if u32::from(*d) < p {
                break;
            }
            *d = 0;
            j -= p as usize * stride;
        }
    }
    // The stages, innermost first: stage `s` recombines `p` FFTs of `m`
    // points into each of its `fstride` blocks of `p * m`.
    for s in (0..radices.len()).rev() {
        let p = crate::kernels::at(radices, s, 1) as usize;
        let fstride = crate::kernels::at(&strides, s, 1);
        let m = n / (fstride * p).max(1);
        for block in 0..fstride {
            let at = Stage {
                base: block * p * m,
                m,
                fstride,
            };
            match p {
                2 => butterfly2(at, twiddles, out),
                3 => butterfly3(at, twiddles, out),
                4 => butterfly4(at, twiddles, inverse, out),
                5 => butterfly5(at, twiddles, out),
                // kissfft's generic butterfly of one point: scaled by 1.
                _ => out.set(at.base, out.get(at.base).c_fixdiv(1)),
            }
        }
    }
}

/// The product of the radices before stage `s`: its twiddle stride, and
/// its input stride in the leaves.
fn stride_above(radices: &[u32], s: usize) -> usize {
    crate::kernels::part(radices, 0, s)
        .iter()
        .map(|&p| p as usize)
        .product()
}

/// Where one butterfly works: `p` runs of `m` bins from `base`; its
/// twiddles are every `fstride`-th.
#[derive(Clone, Copy)]
struct Stage {
    base: usize,
    m: usize,
    fstride: usize,
}

#[inline(never)]
fn butterfly2<T: FftScalar>(at: Stage, tw: &[T], out: &mut Bins<T>) {
    let Stage { base, m, fstride } = at;
    for u in 0..m {
        let a = out.get(base + u).c_fixdiv(2);
        let b = out.get(base + u + m).c_fixdiv(2);
        let t = b.c_mul(twiddle(tw, u * fstride));
        out.set(base + u + m, a.c_sub(t));
        out.set(base + u, a.c_add(t));
    }
}

#[inline(never)]
fn butterfly3<T: FftScalar>(at: Stage, tw: &[T], out: &mut Bins<T>) {
    let Stage { base, m, fstride } = at;
    let epi3 = twiddle(tw, fstride * m);
    for u in 0..m {
        let f0 = out.get(base + u).c_fixdiv(3);
        let f1 = out.get(base + u + m).c_fixdiv(3);
        let f2 = out.get(base + u + 2 * m).c_fixdiv(3);
        let s1 = f1.c_mul(twiddle(tw, u * fstride));
        let s2 = f2.c_mul(twiddle(tw, 2 * u * fstride));
        let s3 = s1.c_add(s2);
        let s0 = s1.c_sub(s2);
        let o1 = Cpx {
            r: f0.r.sub(s3.r.half()),
            i: f0.i.sub(s3.i.half()),
        };
        let s0 = Cpx {
            r: s0.r.mul(epi3.i),
            i: s0.i.mul(epi3.i),
        };
        out.set(base + u, f0.c_add(s3));
        out.set(
            base + u + 2 * m,
            Cpx {
                r: o1.r.add(s0.i),
                i: o1.i.sub(s0.r),
            },
        );
        out.set(
            base + u + m,
            Cpx {
                r: o1.r.sub(s0.i),
                i: o1.i.add(s0.r),
            },
        );
    }
}

#[inline(never)]
fn butterfly4<T: FftScalar>(at: Stage, tw: &[T], inverse: bool, out: &mut Bins<T>) {
    let Stage { base, m, fstride } = at;
    for u in 0..m {
        let f0 = out.get(base + u).c_fixdiv(4);
        let f1 = out.get(base + u + m).c_fixdiv(4);
        let f2 = out.get(base + u + 2 * m).c_fixdiv(4);
        let f3 = out.get(base + u + 3 * m).c_fixdiv(4);
        let s0 = f1.c_mul(twiddle(tw, u * fstride));
        let s1 = f2.c_mul(twiddle(tw, 2 * u * fstride));
        let s2 = f3.c_mul(twiddle(tw, 3 * u * fstride));
        let s5 = f0.c_sub(s1);
        let f0 = f0.c_add(s1);
        let s3 = s0.c_add(s2);
        let s4 = s0.c_sub(s2);
        out.set(base + u + 2 * m, f0.c_sub(s3));
        out.set(base + u, f0.c_add(s3));
        // Forward: s5 - i*s4 into bin m, s5 + i*s4 into 3m; inverse swaps.
        let minus = Cpx {
            r: s5.r.add(s4.i),
            i: s5.i.sub(s4.r),
        };
        let plus = Cpx {
            r: s5.r.sub(s4.i),
            i: s5.i.add(s4.r),
        };
        let (one, three) = if inverse {
            (plus, minus)
        } else {
            (minus, plus)
        };
        out.set(base + u + m, one);
        out.set(base + u + 3 * m, three);
    }
}

#[inline(never)]
fn butterfly5<T: FftScalar>(at: Stage, tw: &[T], out: &mut Bins<T>) {
    let Stage { base, m, fstride } = at;
    let ya = twiddle(tw, fstride * m);
    let yb = twiddle(tw, fstride * 2 * m);
    for u in 0..m {
        let f = |q: usize| out.get(base + u + q * m).c_fixdiv(5);
        let s0 = f(0);
        let s1 = f(1).c_mul(twiddle(tw, u * fstride));
        let s2 = f(2).c_mul(twiddle(tw, 2 * u * fstride));
        let s3 = f(3).c_mul(twiddle(tw, 3 * u * fstride));
        let s4 = f(4).c_mul(twiddle(tw, 4 * u * fstride));
        let s7 = s1.c_add(s4);
        let s10 = s1.c_sub(s4);
        let s8 = s2.c_add(s3);
        let s9 = s2.c_sub(s3);
        let o0 = Cpx {
            r: s0.r.add(s7.r.add(s8.r)),
            i: s0.i.add(s7.i.add(s8.i)),
        };
        let s5 = Cpx {
            r: s0.r.add(s7.r.mul(ya.r)).add(s8.r.mul(yb.r)),
            i: s0.i.add(s7.i.mul(ya.r)).add(s8.i.mul(yb.r)),
        };
        let s6 = Cpx {
            r: s10.i.mul(ya.i).add(s9.i.mul(yb.i)),
            i: s10.r.mul(ya.i).neg().sub(s9.r.mul(yb.i)),
        };
        let s11 = Cpx {
            r: s0.r.add(s7.r.mul(yb.r)).add(s8.r.mul(ya.r)),
            i: s0.i.add(s7.i.mul(yb.r)).add(s8.i.mul(ya.r)),
        };
        let s12 = Cpx {
            r: s10.i.mul(yb.i).neg().add(s9.i.mul(ya.i)),
            i: s10.r.mul(yb.i).sub(s9.r.mul(ya.i)),
        };
        out.set(base + u, o0);
        out.set(base + u + m, s5.c_sub(s6));
        out.set(base + u + 4 * m, s5.c_add(s6));
        out.set(base + u + 2 * m, s11.c_add(s12));
        out.set(base + u + 3 * m, s11.c_sub(s12));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_follow_kissfft_order() {
        let radices = |n| Factors::of(n).radices().to_vec();
        assert_eq!(radices(256), [4, 4, 4, 4]);
        assert_eq!(radices(128), [4, 4, 4, 2]);
        assert_eq!(radices(2), [2]);
        assert_eq!(radices(1), [1]);
        assert_eq!(radices(6), [2, 3]);
        assert_eq!(radices(50), [2, 5, 5]);
        assert_eq!(radices(60), [4, 3, 5]);
        assert_eq!(radices(14), [2, 7]);
        assert!(!Factors::of(14).supported());
        assert!(Factors::of(240).supported());
        assert!(Factors::of(1 << 16).supported());
        assert!(!Factors::of(3u32.pow(17)).supported());
    }

    /// kissfft's float twiddles for an `n`-point forward FFT.
    fn twiddles_f32(n: usize) -> Vec<f32> {
        (0..n)
            .flat_map(|k| {
                let phase = -2.0 * core::f64::consts::PI * k as f64 / n as f64;
                [phase.cos() as f32, phase.sin() as f32]
            })
            .collect()
    }

    /// Every supported length's float FFT agrees with the DFT, and the
    /// int16 one with the DFT over n, within its rounding.
    #[test]
    fn fft_matches_the_dft() {
        for n in [
            1usize, 2, 3, 4, 5, 6, 8, 12, 15, 16, 20, 30, 32, 60, 64, 100,
        ] {
            let factors = Factors::of(n as u32);
            let x: Vec<(f64, f64)> = (0..n)
                .map(|j| {
                    (
                        ((j * 7919) % 61) as f64 - 30.0,
                        ((j * 104729) % 53) as f64 - 26.0,
                    )
                })
                .collect();
            let dft: Vec<(f64, f64)> = (0..n)
                .map(|k| {
                    x.iter()
                        .enumerate()
                        .fold((0.0, 0.0), |(re, im), (j, &(a, b))| {
                            let w = -2.0 * core::f64::consts::PI * (j * k) as f64 / n as f64;
                            (
                                re + a * w.cos() - b * w.sin(),
                                im + a * w.sin() + b * w.cos(),
                            )
                        })
                })
                .collect();
            let tw = twiddles_f32(n);
            let mut buf = vec![0f32; 2 * n];
            let input = |j: usize| Cpx {
                r: x[j].0 as f32,
                i: x[j].1 as f32,
            };
            fft(n, &factors, &tw, false, input, &mut Bins(&mut buf));
            for k in 0..n {
                let (re, im) = (buf[2 * k] as f64, buf[2 * k + 1] as f64);
                assert!(
                    (re - dft[k].0).abs() < 1e-3 && (im - dft[k].1).abs() < 1e-3,
                    "n {n} bin {k}"
                );
            }
            // int16: inputs scaled up by 256, twiddles in Q15, outputs over n.
            let tw16: Vec<i16> = tw
                .iter()
                .map(|&t| (0.5 + 32767.0 * t as f64).floor() as i16)
                .collect();
            let mut buf16 = vec![0i16; 2 * n];
            let input16 = |j: usize| Cpx {
                r: (x[j].0 * 256.0) as i16,
                i: (x[j].1 * 256.0) as i16,
            };
            fft(n, &factors, &tw16, false, input16, &mut Bins(&mut buf16));
            for k in 0..n {
                let scale = 256.0 / n as f64;
                let (re, im) = (buf16[2 * k] as f64, buf16[2 * k + 1] as f64);
                let tolerance = 2.0 + 2.0 * factors.len as f64;
                assert!(
                    (re - dft[k].0 * scale).abs() < tolerance
                        && (im - dft[k].1 * scale).abs() < tolerance,
                    "n {n} bin {k}: {re} {im} against {:?}",
                    (dft[k].0 * scale, dft[k].1 * scale)
                );
            }
        }
    }
}
