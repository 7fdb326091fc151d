//! The stacker of TFLM's signal library (`SignalStacker`): each call's
//! frame of int16 channels joins the frames before it, and once
//! `left + 1 + right` are held their concatenation comes out, after which
//! `step` of them are dropped; the first frame counts `left + 1` times.
//! TFLM keeps the frames in a circular buffer; here each call slides a
//! linear tail of the last `left + right` frames.
//!
//! Layer: kernels; uses nothing.

use super::{at, part, set};

/// Frames of `channels` values, `window = left + 1 + right` of them per
/// output, `step` dropped after each.
#[derive(Clone, Copy, Debug)]
pub struct StackerShape {
    pub channels: usize,
    pub left: usize,
    pub window: usize,
    pub step: usize,
}

/// One call: `input` (a frame) into `output` (`window` frames, oldest
/// first) when enough are held, zero otherwise (TFLM leaves it as it
/// was); returns whether it was. `state` holds a count (0 before the first
/// frame, else one more than the frames held) and the tail, the last
/// `window - 1` frames, newest last.
pub fn stacker(shape: StackerShape, input: &[i16], state: &mut [i16], output: &mut [i16]) -> bool {
    let StackerShape {
        channels,
        left,
        window,
        step,
    } = shape;
    let Some((count, tail)) = state.split_first_mut() else {
        return false;
    };
    let kept = window.saturating_sub(1) * channels;
    // The last `window` frames: the tail, then the new frame.
    let stream = |tail: &[i16], i: usize| match i.checked_sub(kept) {
        None => at(tail, i, 0),
        Some(j) => at(part(input, 0, channels), j, 0),
    };
    let held = if *count == 0 {
        // The first frame stands in for the `left` frames before it too.
        let start = kept.saturating_sub(left * channels);
        for (i, t) in tail.iter_mut().enumerate().skip(start) {
            *t = at(input, (i - start) % channels.max(1), 0);
        }
        left + 1
    } else {
        // At most a window: more only in a forged or corrupted state.
        (*count as u16 as usize).min(window)
    };
    let whole = held >= window;
    for (i, o) in output.iter_mut().enumerate() {
        *o = if whole { stream(tail, i) } else { 0 };
    }
    // Slide the tail along by a frame (each read lies ahead of the write).
    for i in 0..kept {
        let v = stream(tail, i + channels);
        set(tail, i, v);
    }
    let held = if whole { held - step } else { held };
    *count = (held + 1) as i16;
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two channels, one frame of left context, one of right, a step of 2:
    /// the first frame pads the left, a window comes out every other call.
    #[test]
    fn frames_stack_as_tflm_stacks_them() {
        let shape = StackerShape {
            channels: 2,
            left: 1,
            window: 3,
            step: 2,
        };
        let mut state = [0i16; 5];
        let mut out = [9i16; 6];
        assert!(!stacker(shape, &[1, 2], &mut state, &mut out));
        assert_eq!(out, [0; 6]);
        assert!(stacker(shape, &[3, 4], &mut state, &mut out));
        assert_eq!(out, [1, 2, 1, 2, 3, 4]);
        assert!(!stacker(shape, &[5, 6], &mut state, &mut out));
        assert!(stacker(shape, &[7, 8], &mut state, &mut out));
        assert_eq!(out, [3, 4, 5, 6, 7, 8]);
    }
}
