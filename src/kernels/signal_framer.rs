//! The framer of TFLM's signal library (`SignalFramer`): a stream of int16
//! samples, `step` new ones per frame, cut into overlapping frames of
//! `size`, as TFLM's circular buffer does it. Each row keeps the samples
//! still owed to later frames as state.
//!
//! Layer: kernels; uses nothing.

use super::{at, part, part_mut, set};

/// Frames of `size` samples, `step` new ones each, `frames` per row per
/// call. With `prefill` the stream starts after `size - step` zeros (every
/// frame is whole); without, the first frames wait for enough samples.
#[derive(Clone, Copy, Debug)]
pub struct FramerShape {
    pub size: usize,
    pub step: usize,
    pub frames: usize,
    pub prefill: bool,
}

impl FramerShape {
    /// The samples each row carries from one frame to the next: TFLM's
    /// buffer capacity (the frame size rounded up to whole steps) less a
    /// step.
    pub fn tail(&self) -> usize {
        self.size.div_ceil(self.step.max(1)) * self.step - self.step
    }
}

/// One call: `input` in rows of `frames * step` samples into `output`
/// (rows of `frames` frames of `size`); `state` holds each row's count of
/// samples held (unused with prefill, which always holds `size - step`)
/// and then its tail, the last `tail()` samples of the stream, newest
/// last. Whether every frame was whole is returned; a frame that was not
/// is zero (TFLM leaves it as it was).
pub fn framer(shape: FramerShape, input: &[i16], state: &mut [i16], output: &mut [i16]) -> bool {
    let FramerShape {
        size,
        step,
        frames,
        prefill,
    } = shape;
    let tail = shape.tail();
    let rows = state.len().checked_div(tail + 1).unwrap_or(0);
    let mut whole = true;
    for r in 0..rows {
        let Some((count, buffer)) = part_mut(state, r * (tail + 1), tail + 1).split_first_mut()
        else {
            continue;
        };
        for f in 0..frames {
            let new = part(input, (r * frames + f) * step, step);
            // The stream's last `tail + step` samples, newest last.
            let stream = |buffer: &[i16], i: usize| match i.checked_sub(tail) {
                None => at(buffer, i, 0),
                Some(j) => at(new, j, 0),
            };
            // At most the tail: more only in a state forged or corrupted
            // in the arena, which must not make the kernel panic.
            let held = if prefill {
                size - step
            } else {
                (*count as u16 as usize).min(tail)
            };
            let out = part_mut(output, (r * frames + f) * size, size);
            if held + step >= size {
                // The oldest `size` of the samples held and the new ones;
                // the oldest step is then dropped, so `held` stays.
                for (j, o) in out.iter_mut().enumerate() {
                    *o = stream(buffer, tail - held + j);
                }
            } else {
                whole = false;
                out.fill(0);
                *count = (held + step) as i16;
            }
            // Slide the tail along by a step (each read lies ahead of the
            // write, so in place).
            for i in 0..tail {
                let v = stream(buffer, i + step);
                set(buffer, i, v);
            }
        }
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of 5 by steps of 2: without prefill the first two frames of
    /// the first call wait, then each frame is the oldest 5 of the 6
    /// samples held; with prefill each ends at the newest sample.
    #[test]
    fn frames_overlap_as_tflm_cuts_them() {
        let shape = FramerShape {
            size: 5,
            step: 2,
            frames: 3,
            prefill: false,
        };
        assert_eq!(shape.tail(), 4);
        let mut state = [0i16; 5];
        let mut out = [9i16; 15];
        assert!(!framer(shape, &[1, 2, 3, 4, 5, 6], &mut state, &mut out));
        assert_eq!(out, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
        assert!(framer(shape, &[7, 8, 9, 10, 11, 12], &mut state, &mut out));
        assert_eq!(out, [3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 7, 8, 9, 10, 11]);
        let prefill = FramerShape {
            prefill: true,
            ..shape
        };
        let mut state = [0i16; 5];
        assert!(framer(prefill, &[1, 2, 3, 4, 5, 6], &mut state, &mut out));
        assert_eq!(out, [0, 0, 0, 1, 2, 0, 1, 2, 3, 4, 2, 3, 4, 5, 6]);
    }
}
