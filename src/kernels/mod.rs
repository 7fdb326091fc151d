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
/// overlapping (`memmove`); ranges past the end of `s` copy nothing.
#[inline(always)]
pub(crate) fn move_within<T: Copy>(s: &mut [T], from: usize, to: usize, len: usize) {
    let (Some(from_end), Some(to_end)) = (from.checked_add(len), to.checked_add(len)) else {
        return;
    };
    if from_end <= s.len() && to_end <= s.len() {
        s.copy_within(from..from_end, to);
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
