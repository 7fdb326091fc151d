//! The overlap-add of TFLM's signal library (`SignalOverlapAdd`): frames
//! that overlap in time (an inverse FFT's output) summed back into one
//! stream, `step` new samples per frame. Each row keeps the tail of the
//! frames it has added, `frame` samples, as state.
//!
//! Layer: kernels; uses the kernels' `set`.

use super::set;

/// A sample type of the overlap-add: int16 adds saturating, as TFLM
/// clamps the int32 sum; float32 adds as floats do.
pub trait OverlapSample: Copy + Default {
    fn add(self, other: Self) -> Self;
}

impl OverlapSample for i16 {
    fn add(self, other: i16) -> i16 {
        self.saturating_add(other)
    }
}

impl OverlapSample for f32 {
    fn add(self, other: f32) -> f32 {
        self + other
    }
}

/// The frame geometry: frames of `frame` samples, `frames` per row, each
/// advancing the stream by `step` (at most `frame`) samples.
#[derive(Clone, Copy, Debug)]
pub struct OverlapShape {
    pub frame: usize,
    pub step: usize,
    pub frames: usize,
}

/// One inference: `input` in rows of `frames` frames, `output` in rows of
/// `frames * step` samples, `state` in rows of `frame` samples (what the
/// frames so far still add to the samples ahead).
pub fn overlap_add<T: OverlapSample>(
    shape: OverlapShape,
    input: &[T],
    state: &mut [T],
    output: &mut [T],
) {
    let OverlapShape {
        frame,
        step,
        frames,
    } = shape;
    let rows = state.len().checked_div(frame).unwrap_or(0);
    for r in 0..rows {
        let buffer = crate::kernels::part_mut(state, r * frame, frame);
        for f in 0..frames {
            let x = crate::kernels::part(input, (r * frames + f) * frame, frame);
            for (b, &v) in buffer.iter_mut().zip(x) {
                *b = v.add(*b);
            }
            let out = crate::kernels::part_mut(output, (r * frames + f) * step, step);
            for (o, &b) in out.iter_mut().zip(buffer.iter()) {
                *o = b;
            }
            // The samples not yet complete move to the front; zeros follow.
            // Each reads `step` ahead of the one written, so in order, in
            // place (and by `get`, so that no path can panic).
            for i in 0..buffer.len() {
                let v = buffer.get(i + step).copied().unwrap_or_default();
                set(buffer, i, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_frames_sum_into_a_stream() {
        let shape = OverlapShape {
            frame: 4,
            step: 2,
            frames: 2,
        };
        let mut state = [0i16; 4];
        let mut out = [0i16; 4];
        overlap_add(shape, &[1, 2, 3, 4, 10, 20, 30, 40], &mut state, &mut out);
        // Samples 0-1 from the first frame; 2-3 from its tail plus the
        // second's head; the second's tail is owed.
        assert_eq!(out, [1, 2, 13, 24]);
        assert_eq!(state, [30, 40, 0, 0]);
        overlap_add(shape, &[32767, 1, 0, 0, 0, 0, 0, 0], &mut state, &mut out);
        assert_eq!(out, [32767, 41, 0, 0]);
        let mut state = [0.5f32; 4];
        let mut out = [0f32; 4];
        overlap_add(shape, &[1.0; 8], &mut state, &mut out);
        assert_eq!(out, [1.5, 1.5, 2.5, 2.5]);
        assert_eq!(state, [1.0, 1.0, 0.0, 0.0]);
    }
}
