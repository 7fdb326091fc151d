//! A stateful model remembers: run as a sequence on one executor, its
//! outputs are TensorFlow Lite Micro's for the same sequence on one
//! interpreter (state carried from run to run), for SVDF (int8 and
//! float32) and LSTM layers (an int8 hidden and an int16 cell state, and
//! float32) and resource variables (READ_VARIABLE, ASSIGN_VARIABLE, an
//! initial value from CALL_ONCE's subgraph) and CIRCULAR_BUFFER (its runs
//! that end early, the same as TFLM's), from the compiled graph and
//! from its blob alike; `reset_state`
//! forgets, and a graph bound afresh starts from the reset state.

mod common;

use std::path::{Path, PathBuf};

use kiln::{Executor, Ran};
use kiln_codegen::npy;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo")
}

/// The sequence TFLM ran on one interpreter of fixture `name`: inputs,
/// outputs, and whether each step ran whole (`complete.npy`, where TFLM
/// ended some early; every step otherwise).
fn sequence(name: &str) -> Vec<(Vec<u8>, Vec<u8>, Ran)> {
    let dir = fixture().join(name).join("sequence");
    let outputs = npy::read_outputs(&dir).unwrap();
    assert!(outputs.len() >= 8, "a sequence of {}", outputs.len());
    let complete = dir.join("complete.npy");
    let complete = complete
        .exists()
        .then(|| npy::read(&complete).unwrap().data);
    outputs
        .into_iter()
        .enumerate()
        .map(|(k, out)| {
            let input = npy::read(&dir.join(format!("input_{k}.npy"))).unwrap();
            let ran = match complete.as_ref().map(|c| c[k]) {
                Some(0) => Ran::EndedEarly,
                _ => Ran::Complete,
            };
            (input.data, out.data, ran)
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
    for (k, (input, expected, ran)) in steps.iter().enumerate() {
        exec.set_input(0, input).unwrap();
        assert_eq!(
            exec.run(),
            *ran,
            "{name}, {what}: step {k} of the sequence ran otherwise than in TFLM"
        );
        // A step TFLM ended early left its output as it was: nothing to
        // compare.
        assert!(
            *ran == Ran::EndedEarly || same(graph, exec.output(0).unwrap(), expected),
            "{name}, {what}: step {k} of the sequence differs from TFLM"
        );
    }
    // The last whole step's input again, after a reset: what a fresh
    // interpreter gives, which is not what it gave in the sequence. (A
    // model that ends its first run early gets its first steps again.)
    let last = steps.iter().rposition(|s| s.2 == Ran::Complete).unwrap();
    let first = steps.iter().position(|s| s.2 == Ran::Complete).unwrap();
    let replay = |exec: &mut Executor| {
        let from = last - first;
        for (k, (input, _, _)) in steps[from..=last].iter().enumerate() {
            exec.set_input(0, input).unwrap();
            assert_eq!(exec.run(), steps[k].2, "{name}, {what}: after a reset");
        }
        exec.output(0).unwrap().to_vec()
    };
    exec.reset_state();
    let after_reset = replay(&mut exec);
    assert!(
        !same(graph, &after_reset, &steps[last].1),
        "{name}, {what}: the state had no effect"
    );
    let mut other = vec![0u128; arena.len()];
    let mut exec = Executor::new(graph, bytemuck::cast_slice_mut(&mut other)).unwrap();
    assert_eq!(
        replay(&mut exec),
        after_reset,
        "{name}, {what}: reset_state is not a fresh start"
    );
}

#[test]
fn state_carries_over_a_sequence_as_in_tflite_micro() {
    let models = [
        ("svdf", 2),
        ("svdf_float", 2),
        ("lstm", 4),
        ("lstm_int16", 4),
        ("lstm_float", 4),
        ("variables", 3),
        ("variables_float", 2),
        // TFLM's signal library keeps a delay line's state in the kernel;
        // kiln adds a variable tensor per delay.
        ("signal_delay", 2),
        ("signal_overlap_add", 1),
        ("signal_overlap_add_float", 1),
        ("signal_spectral_subtraction", 1),
        ("signal_spectral_subtraction_noise", 1),
        ("signal_framer", 1),
        ("signal_framer_valid", 1),
        ("signal_stacker", 1),
        ("signal_stacker_valid", 1),
        // A whole audio front end: the framer's, the spectral
        // subtraction's and the stacker's state.
        ("audio_front_end", 3),
        // CIRCULAR_BUFFER keeps its slots in its output (a variable tensor
        // in the file) and its count of calls in a variable kiln adds; the
        // strided model ends every other run early.
        ("circular_buffer", 2),
        ("circular_buffer_strided", 4),
    ];
    for (name, states) in models {
        let model = kiln_codegen::compile_file(&fixture().join(format!("{name}.tflite"))).unwrap();
        assert_eq!(model.state.len(), states, "{name}: its layers' states");
        check_sequence(name, &model.runtime_graph(), "compiled graph");

        let blob = kiln_codegen::emit::blob::blob(&model);
        let blob = common::Aligned::new(&blob);
        let loaded = kiln::blob::load::<16>(blob.bytes()).unwrap();
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

/// A float32 stateful model quantized by kiln (calibrated on its fresh
/// samples) keeps its SVDF and LSTM layers, and its resource variables, in
/// float32 with float32 state
/// between DEQUANTIZE and QUANTIZE, and follows the float model over the
/// whole sequence (signal to quantization noise above 20 dB).
#[test]
fn quantized_float_stateful_models_keep_their_layers_in_float32() {
    use kiln_codegen::npy::{NpyArray, NpyType};
    use kiln_codegen::quantize::observer::ObserverKind;
    for (name, layer, count) in [
        ("svdf_float", "SVDF (float32)", 2),
        ("lstm_float", "UNIDIRECTIONAL_SEQUENCE_LSTM (float32)", 2),
        // Three reads and two assignments, each a float32 copy.
        ("variables_float", "CAST", 5),
    ] {
        let path = fixture().join(format!("{name}.tflite"));
        let dir = fixture().join(name);
        let samples: Vec<_> = (0..8)
            .map(|k| npy::read(&dir.join(format!("input_{k}.npy"))).unwrap())
            .collect();
        let mut shape = vec![samples.len()];
        shape.extend_from_slice(&samples[0].shape);
        let calibration = NpyArray {
            dtype: NpyType::F32,
            shape,
            data: samples.iter().flat_map(|s| s.data.clone()).collect(),
        };
        let int8 = kiln_codegen::quantize_file(&path, &calibration, ObserverKind::MinMax)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let names: Vec<&str> = int8.ops.iter().map(kiln::Op::name).collect();
        assert_eq!(
            names.iter().filter(|&&n| n == layer).count(),
            count,
            "{names:?}"
        );
        assert!(names.contains(&"QUANTIZE"), "{name}: nothing runs in int8");
        let float = kiln_codegen::compile_file(&path).unwrap();

        let (float_graph, int8_graph) = (float.runtime_graph(), int8.runtime_graph());
        let arena = |g: &kiln::Graph| vec![0u128; (g.arena_bytes as usize).div_ceil(16)];
        let (mut a, mut b) = (arena(&float_graph), arena(&int8_graph));
        let mut want = Executor::new(&float_graph, bytemuck::cast_slice_mut(&mut a)).unwrap();
        let mut got = Executor::new(&int8_graph, bytemuck::cast_slice_mut(&mut b)).unwrap();
        let (mut signal, mut noise) = (0f64, 0f64);
        for (input, _, _) in sequence(name) {
            want.set_input(0, &input).unwrap();
            got.set_input(0, &input).unwrap();
            want.run();
            got.run();
            let w = common::f32s(want.output(0).unwrap());
            let g = common::f32s(got.output(0).unwrap());
            for (w, g) in w.iter().zip(&g) {
                signal += f64::from(*w).powi(2);
                noise += f64::from(w - g).powi(2);
            }
        }
        let sqnr = 10.0 * (signal / noise).log10();
        println!("{name}: quantized by kiln, {sqnr:.1} dB over the sequence");
        assert!(sqnr > 20.0, "{name}: {sqnr:.1} dB");
    }
}

/// A model whose CIRCULAR_BUFFER ends every run from the reset state early
/// cannot run independent samples: `kiln run` (one fresh run per call) and
/// a host batch (each sample from the reset state) say why, rather than
/// hand back outputs no run computed.
#[test]
fn a_strided_stream_refuses_independent_samples() {
    let path = fixture().join("circular_buffer_strided.tflite");
    let model = kiln_codegen::compile_file(&path).unwrap();
    let input = npy::read(&fixture().join("circular_buffer_strided/sequence/input_0.npy")).unwrap();
    let mut runner = kiln_codegen::run::HostRunner::new(&model);
    let error = runner.run(std::slice::from_ref(&input)).unwrap_err();
    assert!(error.to_string().contains("CIRCULAR_BUFFER"), "{error}");
    let graph = model.runtime_graph();
    let error = kiln::host::batch::run_batch(&graph, &[&input.data], 1, 1).unwrap_err();
    assert!(matches!(error, kiln::host::HostError::EndsEarly), "{error}");
    assert!(kiln::exec::can_end_early(&graph));
    let plain = kiln_codegen::compile_file(&fixture().join("circular_buffer.tflite")).unwrap();
    assert!(!kiln::exec::can_end_early(&plain.runtime_graph()));
}

/// A CIRCULAR_BUFFER whose output the file leaves a plain tensor keeps its
/// slots there all the same (kiln makes it a variable tensor): the same
/// model, unmarked, runs TFLM's sequence of the marked one. Without
/// `cycles_max` (TFLM guesses the period from the output's shape) it is
/// refused by name.
#[test]
fn circular_buffer_keeps_an_unmarked_output_and_needs_its_period() {
    let path = fixture().join("circular_buffer_unmarked.tflite");
    let model = kiln_codegen::compile_file(&path).unwrap();
    assert_eq!(model.state.len(), 2, "the slots and the count of calls");
    check_sequence("circular_buffer", &model.runtime_graph(), "unmarked output");
    let error = kiln_codegen::compile_file(&fixture().join("circular_buffer_no_period.tflite"))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("CIRCULAR_BUFFER") && error.contains("cycles_max"),
        "{error}"
    );
}

/// TFLite LSTM peepholes are refused by name: TFLM's kernels have none, so
/// no reference would hold kiln's float32 ones (ONNX's are checked against
/// ONNX's reference, `codegen/tests/onnx.rs`).
#[test]
fn tflite_lstm_peepholes_are_refused_by_name() {
    let error = kiln_codegen::compile_file(&fixture().join("lstm_float_peepholes.tflite"))
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("peephole weights"), "{error}");
}
