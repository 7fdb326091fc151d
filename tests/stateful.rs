//! A stateful model remembers: run as a sequence on one executor, its
//! outputs are TensorFlow Lite Micro's for the same sequence on one
//! interpreter (state carried from run to run), for SVDF (int8 and
//! float32) and LSTM layers (an int8 hidden and an int16 cell state, and
//! float32), from the compiled graph and from its blob alike; `reset_state`
//! forgets, and a graph bound afresh starts from the reset state.

mod common;

use std::path::{Path, PathBuf};

use kiln::Executor;
use kiln_codegen::npy;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo")
}

/// The sequence TFLM ran on one interpreter of fixture `name`: inputs and
/// outputs in order.
fn sequence(name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let dir = fixture().join(name).join("sequence");
    let outputs = npy::read_outputs(&dir).unwrap();
    assert!(outputs.len() >= 8, "a sequence of {}", outputs.len());
    outputs
        .into_iter()
        .enumerate()
        .map(|(k, out)| {
            let input = npy::read(&dir.join(format!("input_{k}.npy"))).unwrap();
            (input.data, out.data)
        })
        .collect()
}

/// int8 outputs are TFLM's bytes; float32 ones within 1e-5 + 1e-4 |x|.
fn same(graph: &kiln::Graph, got: &[u8], want: &[u8]) -> bool {
    match graph.outputs[0].dtype {
        kiln::DType::F32 => common::floats_close(&common::f32s(got), &common::f32s(want)),
        _ => got == want,
    }
}

/// Runs fixture `name`'s sequence on one executor of `graph` and checks
/// every output, then that a reset (and a fresh executor) gives a fresh
/// run's output.
fn check_sequence(name: &str, graph: &kiln::Graph, what: &str) {
    let steps = sequence(name);
    let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut arena);
    let mut exec = Executor::new(graph, bytes).unwrap();
    for (k, (input, expected)) in steps.iter().enumerate() {
        exec.set_input(0, input).unwrap();
        exec.run();
        assert!(
            same(graph, exec.output(0).unwrap(), expected),
            "{name}, {what}: step {k} of the sequence differs from TFLM"
        );
    }
    // The last input again, after a reset: what a fresh interpreter gives,
    // which is not what it gave at the end of the sequence.
    let (last_input, last_output) = steps.last().unwrap();
    exec.reset_state();
    exec.set_input(0, last_input).unwrap();
    exec.run();
    let after_reset = exec.output(0).unwrap().to_vec();
    assert!(
        !same(graph, &after_reset, last_output),
        "{name}, {what}: the state had no effect"
    );
    let mut other = vec![0u128; arena.len()];
    let mut exec = Executor::new(graph, bytemuck::cast_slice_mut(&mut other)).unwrap();
    exec.set_input(0, last_input).unwrap();
    exec.run();
    assert_eq!(
        exec.output(0).unwrap(),
        &after_reset[..],
        "{name}, {what}: reset_state is not a fresh start"
    );
}

#[test]
fn state_carries_over_a_sequence_as_in_tflite_micro() {
    let models = [
        ("svdf", 2),
        ("svdf_float", 2),
        ("lstm", 4),
        ("lstm_float", 4),
    ];
    for (name, states) in models {
        let model = kiln_codegen::compile_file(&fixture().join(format!("{name}.tflite"))).unwrap();
        assert_eq!(model.state.len(), states, "{name}: its layers' states");
        check_sequence(name, &model.runtime_graph(), "compiled graph");

        let blob = kiln_codegen::emit::blob::blob(&model);
        let blob = common::Aligned::new(&blob);
        let loaded = kiln::blob::load::<8>(blob.bytes()).unwrap();
        assert_eq!(loaded.graph().state, &model.state[..]);
        check_sequence(name, &loaded.graph(), "blob");
    }
}

/// The float32 layers match TFLM's float reference on fresh interpreters
/// (the int8 fixture is one of the op-coverage models every path checks).
#[test]
fn float_svdf_matches_tflite_micro() {
    let model = kiln_codegen::compile_file(&fixture().join("svdf_float.tflite")).unwrap();
    assert!(model.ops.iter().all(|op| op.name() == "SVDF (float32)"));
    let mut runner = kiln_codegen::run::HostRunner::new(&model);
    let dir = fixture().join("svdf_float");
    let outputs = npy::read_outputs(&dir).unwrap();
    assert_eq!(outputs.len(), 8);
    for (k, want) in outputs.iter().enumerate() {
        let input = npy::read(&dir.join(format!("input_{k}.npy"))).unwrap();
        let got = runner.run(&[input]).unwrap();
        assert!(
            common::floats_close(&common::f32s(&got[0].data), &common::f32s(&want.data)),
            "sample {k}"
        );
    }
}

/// The state is a region of its own: no other tensor of the plan shares
/// its bytes; `kiln inspect` reports its size.
#[test]
fn state_spans_share_no_byte_with_any_other_tensor() {
    let path = fixture().join("svdf.tflite");
    let model = kiln_codegen::compile_file(&path).unwrap();
    let graph = kiln_codegen::import::import(&path).unwrap();
    let report = kiln_codegen::report::inspect_json(&graph, Some(&model), None);
    let state_bytes: u32 = model.state.iter().map(|s| s.span.len).sum();
    assert_eq!(report["state_bytes"], u64::from(state_bytes));
    let plan = &model.plan;
    for s in &model.state {
        let span = s.span.offset as usize..s.span.end() as usize;
        for b in plan.buffers.iter() {
            let is_state = b.offset == span.start && b.bytes == span.len();
            let overlaps = b.offset < span.end && span.start < b.offset + b.bytes;
            assert!(is_state || !overlaps, "{b:?} overlaps state {s:?}");
        }
    }
}
