//! Reference kernels: one op family per file, each a pure function over
//! slices with a small params struct, in the style of TFLite Micro's
//! `reference/integer_ops`. They compute exactly TFLM's int8 bytes.
//!
//! Layer: kernels; uses `quant`, `fixed_point` and `tensor`, nothing above.
//! Kernels do not check their arguments: `exec` validates every shape and
//! span once, when a graph is bound to an arena. Still, no kernel can
//! panic: slices are taken with [`part`] and friends, which give an empty
//! slice where a range falls outside (never, on a checked graph), and
//! divisors are kept nonzero, so firmware links no panic path. The float32 kernels take
//! `exp` and `tanh` from `float_math`: libm's, or with the `fast-math`
//! feature micromath's approximations.

pub mod activation;
pub mod add_n;
pub mod arg_extreme;
pub mod batch_matmul;
pub mod cast;
pub mod compare;
pub mod concatenation;
pub mod conv2d;
pub mod cumsum;
pub mod depthwise_conv2d;
pub mod detection_postprocess;
pub mod dynamic_update_slice;
pub mod elementwise;
pub mod fill;
mod float_math;
pub mod fully_connected;
pub mod gather;
pub mod gru;
pub mod integer;
pub mod kiss_fft;
pub mod l2_norm;
pub mod lookup;
pub mod lstm;
pub mod mean;
mod odometer;
pub mod pad;
pub mod pooling;
pub mod quantize;
pub mod resize;
pub mod sigmoid_table;
pub mod signal_delay;
pub mod signal_energy;
pub mod signal_fft_auto_scale;
pub mod signal_filter_bank;
pub mod signal_filter_bank_log;
pub mod signal_filter_bank_square_root;
pub mod signal_framer;
pub mod signal_irfft;
pub mod signal_overlap_add;
pub mod signal_pcan;
pub mod signal_rfft;
pub mod signal_spectral_subtraction;
pub mod signal_stacker;
pub mod signal_window;
pub mod slice;
pub mod softmax;
pub mod space_batch;
pub mod svdf;
pub mod transpose;
pub mod transpose_conv2d;
pub mod unary;

/// `len` values of `s` from `start`, or none if they do not all lie in `s`.
#[inline(always)]
pub(crate) fn part<T>(s: &[T], start: usize, len: usize) -> &[T] {
    // A wrapped end lies before `start`: an empty range, not a panic.
    s.get(start..start.wrapping_add(len)).unwrap_or(&[])
}

/// [`part`], mutable.
#[inline(always)]
pub(crate) fn part_mut<T>(s: &mut [T], start: usize, len: usize) -> &mut [T] {
    s.get_mut(start..start.wrapping_add(len)).unwrap_or(&mut [])
}

/// `s[i]`, or `fallback` past its end.
#[inline(always)]
pub(crate) fn at<T: Copy>(s: &[T], i: usize, fallback: T) -> T {
    s.get(i).copied().unwrap_or(fallback)
}

/// `s[i] = v`, or nothing past its end.
#[inline(always)]
pub(crate) fn set<T>(s: &mut [T], i: usize, v: T) {
    if let Some(slot) = s.get_mut(i) {
        *slot = v;
    }
}

/// Copies `len` values of `s` from `from` to `to`, the two ranges possibly
/// overlapping (`memmove`): in pieces of at most the distance moved, which
/// never overlap their destinations, the last piece first when moving
/// on, the first when moving back. Ranges past the end of `s` copy
/// nothing. (Not `copy_within`, whose bounds assertion the optimizer
/// keeps, linking a panic into firmware.)
#[inline(always)]
pub(crate) fn move_within<T: Copy>(s: &mut [T], from: usize, to: usize, len: usize) {
    let step = from.abs_diff(to);
    let fits = from
        .max(to)
        .checked_add(len)
        .is_some_and(|end| end <= s.len());
    if step == 0 || !fits {
        return;
    }
    let pieces = len.div_ceil(step);
    for k in 0..pieces {
        let k = if to > from { pieces - 1 - k } else { k };
        let start = k * step;
        let n = step.min(len - start);
        let (low, high) = (from.min(to) + start, from.max(to) + start);
        // The low piece ends at or before the high one starts.
        let Some((head, tail)) = s.split_at_mut_checked(high) else {
            return;
        };
        let (low, high) = (part_mut(head, low, n), part_mut(tail, 0, n));
        if low.len() == high.len() {
            match to > from {
                true => high.copy_from_slice(low),
                false => low.copy_from_slice(high),
            }
        }
    }
}

/// Copies `src` into `dst` as far as both reach: `copy_from_slice` without
/// its panic on unequal lengths (which the checks exclude).
#[inline(always)]
pub(crate) fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s;
    }
}

#[cfg(test)]
mod tests {
    /// `move_within` gives `copy_within`'s bytes on random overlapping and
    /// apart ranges, either way, and copies nothing past the end.
    #[test]
    fn move_within_is_a_memmove() {
        let mut seed = 3u64;
        let mut next = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for _ in 0..2000 {
            let size = 1 + next(40);
            let original: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let (from, to, len) = (next(size + 2), next(size + 2), next(size + 2));
            let mut got = original.clone();
            super::move_within(&mut got, from, to, len);
            let mut want = original.clone();
            if from.max(to) + len <= size {
                want.copy_within(from..from + len, to);
            }
            assert_eq!(got, want, "{size} bytes, {len} from {from} to {to}");
        }
    }
}
