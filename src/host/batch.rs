//! Batch runs on the CPU: many samples through one graph with the same
//! `Executor` the firmware uses, spread over all cores with
//! `std::thread::scope`; each thread binds its own arena once. Samples are
//! independent: each starts from the model's reset state.
//!
//! Layer: host (std); uses `exec` and `graph`.

use std::vec;
use std::vec::Vec;

use super::HostError;
use crate::{Executor, Graph};

/// Checks that `inputs` hold `samples` samples for each model input
/// (samples back to back), and that independent samples can run at all.
pub fn check_inputs(graph: &Graph, inputs: &[&[u8]], samples: usize) -> Result<(), HostError> {
    if crate::exec::can_end_early(graph) {
        return Err(HostError::EndsEarly);
    }
    if inputs.len() != graph.inputs.len() {
        return Err(HostError::Inputs(std::format!(
            "the model takes {} input(s), {} given",
            graph.inputs.len(),
            inputs.len()
        )));
    }
    for (i, (data, io)) in inputs.iter().zip(graph.inputs).enumerate() {
        let want = io.span.len as usize * samples;
        if data.len() != want {
            return Err(HostError::Inputs(std::format!(
                "input #{i}: {} bytes for {samples} samples, expected {want}",
                data.len()
            )));
        }
    }
    Ok(())
}

/// Runs `samples` samples on `threads` threads (0: all cores). Returns, per
/// model output, every sample's output bytes back to back.
pub fn run_batch(
    graph: &Graph,
    inputs: &[&[u8]],
    samples: usize,
    threads: usize,
) -> Result<Vec<Vec<u8>>, HostError> {
    check_inputs(graph, inputs, samples)?;
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let threads = threads.clamp(1, samples.max(1));
    let per_thread = samples.div_ceil(threads).max(1);
    let out_lens: Vec<usize> = graph.outputs.iter().map(|o| o.span.len as usize).collect();
    let mut outputs: Vec<Vec<u8>> = out_lens.iter().map(|&l| vec![0u8; l * samples]).collect();

    // Each thread gets the output chunks of its samples.
    let mut chunks: Vec<Vec<&mut [u8]>> = (0..samples.div_ceil(per_thread))
        .map(|_| Vec::new())
        .collect();
    for (o, out) in outputs.iter_mut().enumerate() {
        for (t, chunk) in out.chunks_mut(per_thread * out_lens[o]).enumerate() {
            chunks[t].push(chunk);
        }
    }
    std::thread::scope(|scope| -> Result<(), HostError> {
        let mut handles = Vec::new();
        for (t, mut outs) in chunks.into_iter().enumerate() {
            let out_lens = &out_lens;
            handles.push(scope.spawn(move || -> Result<(), HostError> {
                let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16).max(1)];
                let mut exec = Executor::new(graph, bytemuck::cast_slice_mut(&mut arena))?;
                let first = t * per_thread;
                let last = (first + per_thread).min(samples);
                for (k, sample) in (first..last).enumerate() {
                    // Samples are independent: each starts from the reset
                    // state, as a fresh TFLM interpreter would.
                    exec.reset_state();
                    for (i, data) in inputs.iter().enumerate() {
                        let len = graph.inputs[i].span.len as usize;
                        exec.set_input(i, &data[sample * len..(sample + 1) * len])?;
                    }
                    exec.run();
                    for (o, out) in outs.iter_mut().enumerate() {
                        out[k * out_lens[o]..(k + 1) * out_lens[o]]
                            .copy_from_slice(exec.output(o)?);
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| HostError::Inputs("a worker thread panicked".into()))??;
        }
        Ok(())
    })?;
    Ok(outputs)
}
