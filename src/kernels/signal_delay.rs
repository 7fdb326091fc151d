//! The delay line of TFLM's signal library (`SignalDelay`): each row of
//! int16 samples comes out `delay` samples late, the last `delay` samples
//! of the row kept as state for the next inference (TFLM's circular buffer
//! of `frame + delay` samples, primed with `delay` zeros).
//!
//! Layer: kernels; uses the kernels' `set`.

use super::set;

/// One inference of the delay line: `input` and `output` in rows of
/// `frame` samples, `state` in rows of `delay` (the samples still owed).
/// Each output row is the first `frame` samples of state-then-input; the
/// state becomes the last `delay`.
pub fn delay_s16(frame: usize, input: &[i16], state: &mut [i16], output: &mut [i16]) {
    if frame == 0 {
        return;
    }
    let rows = input.len() / frame;
    let delay = state.len().checked_div(rows).unwrap_or(0);
    for r in 0..rows {
        let (x, y) = (
            crate::kernels::part(input, r * frame, frame),
            crate::kernels::part_mut(output, r * frame, frame),
        );
        let owed = crate::kernels::part_mut(state, r * delay, delay);
        // Sample `i` of state-then-input.
        let joined = |owed: &[i16], i: usize| match i.checked_sub(delay) {
            None => owed.get(i).copied().unwrap_or(0),
            Some(k) => x.get(k).copied().unwrap_or(0),
        };
        for (i, out) in y.iter_mut().enumerate() {
            *out = joined(owed, i);
        }
        // The new state is samples frame.. of state-then-input: reading
        // ahead of the sample being written, so in place and in order.
        for j in 0..delay {
            let v = joined(owed, frame + j);
            set(owed, j, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream through the delay line, in frames: it comes out `delay`
    /// samples late, with `delay` zeros first, whether the delay is shorter
    /// or longer than a frame.
    #[test]
    fn a_stream_comes_out_late() {
        for (frame, delay) in [(4, 1), (4, 4), (3, 7), (5, 2)] {
            let rows = 2;
            let stream: Vec<i16> = (1..=60).collect();
            let mut state = vec![0; rows * delay];
            for step in 0..60 / frame {
                // Row r carries the stream times (r + 1).
                let input: Vec<i16> = (0..rows)
                    .flat_map(|r| {
                        stream[step * frame..][..frame]
                            .iter()
                            .map(move |&v| v * (r as i16 + 1))
                    })
                    .collect();
                let mut output = vec![0; rows * frame];
                delay_s16(frame, &input, &mut state, &mut output);
                for r in 0..rows {
                    for i in 0..frame {
                        let t = step * frame + i;
                        let want = match t.checked_sub(delay) {
                            Some(s) => stream[s] * (r as i16 + 1),
                            None => 0,
                        };
                        assert_eq!(output[r * frame + i], want, "frame {frame} delay {delay}");
                    }
                }
            }
        }
    }
}
