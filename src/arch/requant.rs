//! TFLM's requantization (`MultiplyByQuantizedMultiplier`) in fewer steps,
//! with the same result for every accumulator and every non-negative
//! multiplier (the only kind the codegen writes; ops that use these paths
//! check it).
//!
//! Layer: arch; uses `quant`.

#[cfg(any(kiln_dsp, all(target_arch = "x86_64", any(test, feature = "host"))))]
use core::marker::PhantomData;

/// The requantization of one output channel, prepared once for all of
/// its outputs: TFLM's `MultiplyByQuantizedMultiplier(x, multiplier,
/// shift)` for `multiplier >= 0` and `shift` in `-31..=30`, then the output
/// zero point and the activation clamp.
///
/// TFLM's rounding doubling high multiply adds `2^30` to a non-negative
/// product and `1 - 2^30` to a negative one, then divides by `2^31`
/// truncating toward zero. For a negative product `p`,
/// `trunc((p + 1 - 2^30) / 2^31) = floor((p + 2^30) / 2^31)`, which is also
/// the non-negative case: one 64-bit multiply-accumulate and shift, no
/// branch. Saturation only happens for `i32::MIN * i32::MIN`, which a
/// non-negative multiplier excludes.
#[derive(Clone, Copy)]
pub struct Channel {
    multiplier: i32,
    left: u32,
    right: u32,
    /// `2^right - 1`: the bits the rounding right shift drops.
    mask: i32,
}

impl Channel {
    #[inline(always)]
    pub fn new(multiplier: i32, shift: i32) -> Channel {
        let right = (-shift).max(0) as u32;
        Channel {
            multiplier,
            left: shift.max(0) as u32,
            right,
            mask: ((1u32 << right) - 1) as i32,
        }
    }

    /// `multiply_by_quantized_multiplier(x, multiplier, shift)`.
    #[inline(always)]
    pub fn requantize(self, x: i32) -> i32 {
        let scaled = x.wrapping_shl(self.left);
        let high = ((i64::from(scaled) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32;
        // TFLM's rounding right shift: half away from zero.
        let threshold = (self.mask >> 1) + i32::from(high < 0);
        (high >> self.right) + i32::from((high & self.mask) > threshold)
    }
}

/// `multiply_by_quantized_multiplier(x, multiplier, shift)` for
/// `multiplier >= 0` and `shift` in `-31..=30` (see [`Channel`]).
#[inline(always)]
pub fn requantize(x: i32, multiplier: i32, shift: i32) -> i32 {
    Channel::new(multiplier, shift).requantize(x)
}

/// One int8 output: the accumulator with its bias, requantized, moved to
/// the output zero point and clamped, exactly as the reference kernels do.
#[inline(always)]
pub fn to_output(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_offset: i32,
    range: (i32, i32),
) -> i8 {
    clamp(requantize(acc, multiplier, shift), output_offset, range)
}

/// The per-channel requantization of a layer: bias (empty for none),
/// multiplier and shift per output channel, then the output zero point and
/// the activation clamp.
pub struct Requantization<'a> {
    bias: &'a [i32],
    multiplier: &'a [i32],
    shift: &'a [i32],
    output_offset: i32,
    range: (i32, i32),
    /// Whether every channel can take [`SmallChannel`]'s shorter rounding.
    small: bool,
}

/// A bias of zeros for layers without one, as long as the longest run of
/// channels requantized at once.
static NO_BIAS: [i32; MAX_RUN] = [0; MAX_RUN];

/// The most channels [`Requantization::store`] takes at once.
pub const MAX_RUN: usize = 64;

/// A channel's requantization when its shift is not positive and
/// accumulators stay below `2^30` in magnitude ([`Requantization::small`]):
/// TFLM's rounding right shift is then one add of a nudge and an
/// arithmetic shift (`high + 2^(e-1)` cannot overflow), the nudge less one
/// for a negative `high` when the shift is not zero.
#[derive(Clone, Copy)]
pub(super) struct SmallChannel {
    multiplier: i32,
    right: u32,
    nudge: i32,
    /// All ones when `right > 0`: the negative correction applies.
    sign_mask: i32,
}

impl SmallChannel {
    #[inline(always)]
    pub(super) fn new(multiplier: i32, shift: i32) -> SmallChannel {
        let right = shift.unsigned_abs().min(31);
        SmallChannel {
            multiplier,
            right,
            nudge: ((1u32 << right) >> 1) as i32,
            sign_mask: -i32::from(right > 0),
        }
    }

    #[inline(always)]
    pub(super) fn requantize(self, x: i32) -> i32 {
        let high = ((i64::from(x) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32;
        (high + self.nudge + ((high >> 31) & self.sign_mask)) >> self.right
    }
}

/// One run of outputs for the DSP and AVX2 requantization loops, laid out
/// for the DSP one (`dsp::store_run`, which loads it with one LDM):
/// `count` accumulators `acc_step` bytes apart, per-channel bias,
/// multiplier and shift, and the output's zero point and clamp.
#[cfg(any(kiln_dsp, all(target_arch = "x86_64", any(test, feature = "host"))))]
#[repr(C)]
pub struct StoreRun {
    pub(super) acc: *const i32,
    pub(super) bias: *const i32,
    pub(super) multiplier: *const i32,
    pub(super) shift: *const i32,
    pub(super) out: *mut i8,
    pub(super) count: u32,
    pub(super) acc_step: u32,
    pub(super) output_offset: i32,
    pub(super) min: i32,
    pub(super) max: i32,
    /// Whether every channel takes the short rounding
    /// ([`Requantization::new`]): the DSP loop then skips its checks.
    pub(super) short: u32,
    /// Accumulators readable from `acc` (past the last one used, for
    /// vector loads).
    pub(super) acc_len: u32,
    // The borrows the raw pointers stand for.
    _borrows: PhantomData<(&'static [i32], &'static mut [i8])>,
}

#[cfg(any(kiln_dsp, all(target_arch = "x86_64", any(test, feature = "host"))))]
impl StoreRun {
    /// Every pointer is taken from a slice that covers the run, so
    /// `store` stays inside them.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn new(
        acc: &[i32],
        stride: usize,
        bias: &[i32],
        multiplier: &[i32],
        shift: &[i32],
        out: &mut [i8],
        output_offset: i32,
        (min, max): (i32, i32),
        short: bool,
    ) -> StoreRun {
        // A run the slices do not cover (which the ops' checks exclude)
        // stores nothing rather than panic.
        let covered = out.is_empty()
            || (acc.len() > (out.len() - 1) * stride
                && bias.len() >= out.len()
                && multiplier.len() >= out.len()
                && shift.len() >= out.len());
        let count = if covered { out.len() } else { 0 };
        StoreRun {
            acc: acc.as_ptr(),
            bias: bias.as_ptr(),
            multiplier: multiplier.as_ptr(),
            shift: shift.as_ptr(),
            out: out.as_mut_ptr(),
            count: count as u32,
            acc_step: (4 * stride) as u32,
            output_offset,
            min,
            max,
            short: u32::from(short),
            acc_len: acc.len() as u32,
            _borrows: PhantomData,
        }
    }
}

impl<'a> Requantization<'a> {
    /// The requantization of a layer whose accumulators sum `taps`
    /// products of at most `2^15` in magnitude. It takes
    /// [`SmallChannel`]'s shorter rounding when no shift is positive and
    /// the products plus any bias stay below `2^30`: a few instructions per
    /// channel, once per run.
    pub fn new(
        bias: &'a [i32],
        multiplier: &'a [i32],
        shift: &'a [i32],
        output_offset: i32,
        range: (i32, i32),
        taps: usize,
    ) -> Requantization<'a> {
        let reach = (taps as i64) << 15;
        let small = shift.iter().all(|&s| s <= 0)
            && bias.iter().all(|&b| reach + i64::from(b).abs() < 1 << 30);
        Requantization {
            bias,
            multiplier,
            shift,
            output_offset,
            range,
            small,
        }
    }

    /// Bias (zeros when the layer has none), multipliers and shifts of
    /// channels `first..first + n`. `None` only for a run the checks
    /// exclude: the caller then leaves it alone rather than panic, a
    /// branch as cheap as the bounds check it replaces.
    #[inline(always)]
    fn channels(&self, first: usize, n: usize) -> Option<(&'a [i32], &'a [i32], &'a [i32])> {
        let bias = if self.bias.is_empty() {
            NO_BIAS.get(..n)?
        } else {
            self.bias.get(first..first + n)?
        };
        let multiplier = self.multiplier.get(first..first + n)?;
        Some((bias, multiplier, self.shift.get(first..first + n)?))
    }

    /// Writes `out[i]` for channels `first..first + out.len()` (at most
    /// [`MAX_RUN`]) from every `stride`-th accumulator of `acc`. Every slice
    /// is cut to the run first, so the loop has no bounds checks.
    #[inline(always)]
    pub fn store(&self, acc: &[i32], stride: usize, first: usize, out: &mut [i8]) {
        let Some((bias, m, s)) = self.channels(first, out.len()) else {
            return;
        };
        let (offset, range) = (self.output_offset, self.range);
        // The DSP loop is exact for every channel; the AVX2 one needs AVX2;
        // the compiled loops serve the other cores and the fallback.
        #[cfg(kiln_dsp)]
        {
            let run = StoreRun::new(acc, stride, bias, m, s, out, offset, range, self.small);
            super::micro::store_run(&run);
        }
        #[cfg(not(kiln_dsp))]
        {
            #[cfg(all(target_arch = "x86_64", any(test, feature = "host")))]
            {
                let run = StoreRun::new(
                    acc, stride, bias, m, s, &mut *out, offset, range, self.small,
                );
                if super::micro::store_run(&run) {
                    return;
                }
            }
            let values = acc
                .iter()
                .step_by(stride)
                .zip(m.iter().zip(s).zip(bias))
                .zip(out);
            if self.small {
                for ((&a, ((&m, &s), &b)), o) in values {
                    *o = clamp(
                        SmallChannel::new(m, s).requantize(a.wrapping_add(b)),
                        offset,
                        range,
                    );
                }
            } else {
                for ((&a, ((&m, &s), &b)), o) in values {
                    *o = clamp(
                        Channel::new(m, s).requantize(a.wrapping_add(b)),
                        offset,
                        range,
                    );
                }
            }
        }
    }
}

impl<'a> Requantization<'a> {
    /// [`Requantization::store`] for two pixels at once: `out0[i]` from
    /// `acc[2i]` and `out1[i]` from `acc[2i + 1]`, each channel's
    /// requantization prepared once for both.
    #[inline(always)]
    pub fn store_pair(&self, acc: &[i32], first: usize, out0: &mut [i8], out1: &mut [i8]) {
        #[cfg(any(kiln_dsp, all(target_arch = "x86_64", any(test, feature = "host"))))]
        {
            // Two passes of the assembly (or AVX2) loop beat one compiled
            // pass.
            self.store(acc, 2, first, out0);
            self.store(acc.get(1..).unwrap_or(&[]), 2, first, out1);
        }
        #[cfg(not(any(kiln_dsp, all(target_arch = "x86_64", any(test, feature = "host")))))]
        {
            let Some((bias, m, s)) = self.channels(first, out0.len()) else {
                return;
            };
            let channels = m.iter().zip(s).zip(bias);
            let (offset, range) = (self.output_offset, self.range);
            let outs = out0.iter_mut().zip(out1);
            let values = acc.chunks_exact(2).zip(channels).zip(outs);
            if self.small {
                for ((a, ((&m, &s), &b)), (o0, o1)) in values {
                    let channel = SmallChannel::new(m, s);
                    *o0 = clamp(channel.requantize(a[0].wrapping_add(b)), offset, range);
                    *o1 = clamp(channel.requantize(a[1].wrapping_add(b)), offset, range);
                }
            } else {
                for ((a, ((&m, &s), &b)), (o0, o1)) in values {
                    let channel = Channel::new(m, s);
                    *o0 = clamp(channel.requantize(a[0].wrapping_add(b)), offset, range);
                    *o1 = clamp(channel.requantize(a[1].wrapping_add(b)), offset, range);
                }
            }
        }
    }
}

/// A requantized value moved to the output zero point and clamped.
#[inline(always)]
pub fn clamp(requantized: i32, output_offset: i32, (min, max): (i32, i32)) -> i8 {
    requantized.saturating_add(output_offset).max(min).min(max) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::multiply_by_quantized_multiplier;

    /// Random values per test; Miri interprets, so fewer there.
    const RANDOM_VALUES: usize = if cfg!(miri) { 2_000 } else { 200_000 };

    /// A seeded xorshift64 stream.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn requantize_equals_tflm_on_edges_and_random_values() {
        let xs = [
            0,
            1,
            -1,
            2,
            -2,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        let ms = [
            0,
            1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX,
            i32::MAX - 1,
            1_518_500_250,
        ];
        for &x in &xs {
            for &m in &ms {
                for shift in -31..=30 {
                    assert_eq!(
                        requantize(x, m, shift),
                        multiply_by_quantized_multiplier(x, m, shift),
                        "x {x} m {m} shift {shift}"
                    );
                }
            }
        }
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..RANDOM_VALUES {
            let r = next();
            let x = (r as i32) >> ((r >> 32) % 32);
            let m = ((r >> 33) as u32 >> 1) as i32;
            let shift = ((r >> 40) % 62) as i32 - 31;
            assert_eq!(
                requantize(x, m, shift),
                multiply_by_quantized_multiplier(x, m, shift),
                "x {x} m {m} shift {shift}"
            );
        }
    }

    #[test]
    fn the_short_rounding_equals_tflm_below_two_to_the_thirty() {
        let edge = (1 << 30) - 1;
        let xs = [
            0,
            1,
            -1,
            2,
            -2,
            edge,
            -edge,
            edge - 1,
            -(edge - 1),
            1 << 20,
            -(1 << 20),
        ];
        let ms = [
            0,
            1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX,
            i32::MAX - 1,
            1_518_500_250,
        ];
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let random = (0..RANDOM_VALUES).map(|_| {
            let r = next();
            let x = ((r as i32) >> 2) >> ((r >> 32) % 30);
            (
                x,
                ((r >> 33) as u32 >> 1) as i32,
                -(((r >> 40) % 32) as i32),
            )
        });
        let edges = xs.iter().flat_map(|&x| {
            ms.iter()
                .flat_map(move |&m| (-31..=0).map(move |s| (x, m, s)))
        });
        for (x, m, shift) in edges.chain(random) {
            assert_eq!(
                SmallChannel::new(m, shift).requantize(x),
                multiply_by_quantized_multiplier(x, m, shift),
                "x {x} m {m} shift {shift}"
            );
        }
    }
}
