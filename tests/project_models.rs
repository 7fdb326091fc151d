//! The project's own models against TFLite Micro: the examples, and the
//! op-coverage fixtures.
//!
//! The ops the shared models do not use (MUL, LOGISTIC, TANH, MEAN,
//! broadcast ADD with fused RELU6, ADD/MUL/SUB with a constant operand, SUB,
//! PAD, CONCATENATION, LEAKY_RELU, HARD_SWISH, PRELU, TRANSPOSE_CONV, standalone RELU and
//! RELU6, float QUANTIZE/DEQUANTIZE at the edges; SVDF, LSTM, QUANTIZE
//! between integer widths, SOFTMAX to int16; one-input ops in place)
//! against TFLite Micro's outputs for the fixtures made by
//! `tests/fixtures/op_zoo/make_op_zoo.py`, `make_stateful.py` and
//! `make_schema_ops.py`, in the output type TFLM gives.

use std::path::Path;

mod common;

use kiln_codegen::npy;
use kiln_codegen::run::HostRunner;

/// Sample `k`'s inputs in a fixture folder (one file per graph input).
fn read_sample(dir: &Path, k: usize) -> Vec<npy::NpyArray> {
    let inputs: Vec<_> = common::sample_inputs(dir, k)
        .iter()
        .map(|p| npy::read(p).unwrap())
        .collect();
    assert!(
        !inputs.is_empty(),
        "{}: no inputs for sample {k}",
        dir.display()
    );
    inputs
}

#[test]
fn op_zoo_matches_tflite_micro_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    for &name in common::OP_ZOO {
        let model = kiln_codegen::compile_file(&dir.join(format!("{name}.tflite"))).unwrap();
        let ops: Vec<&str> = model.ops.iter().map(kiln::Op::name).collect();
        println!("{name}: {ops:?}");
        let mut runner = HostRunner::new(&model);
        let outputs = npy::read_outputs(&dir.join(name)).unwrap();
        assert_eq!(outputs.len(), 8);
        for (k, expected) in outputs.iter().enumerate() {
            let inputs = read_sample(&dir.join(name), k);
            let got = runner.run(&inputs).unwrap();
            assert_eq!(got[0].dtype, expected.dtype, "{name} sample {k}");
            assert_eq!(got[0].data, expected.data, "{name} sample {k}");
        }
    }
}

/// The one-input chain fixture runs every op over its input (the byte
/// check above is then the in-place forms' against TFLM): one tensor and a
/// chunk buffer, where out of place two tensors are alive at every op.
#[test]
fn a_chain_of_one_input_ops_runs_in_place() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let model = kiln_codegen::compile_file(&dir.join("in_place_chain.tflite")).unwrap();
    for op in &model.ops {
        assert!(
            matches!(
                op,
                kiln::Op::RequantizeInPlace(_)
                    | kiln::Op::LeakyReluInPlace(_)
                    | kiln::Op::HardSwishInPlace(_)
                    | kiln::Op::LogisticInPlace(_)
                    | kiln::Op::TanhInPlace(_)
            ),
            "{} out of place",
            op.name()
        );
    }
    assert_eq!(model.ops.len(), 6);
    let tensor = 16 * 16 * 8;
    assert!(model.arena_bytes() < 2 * tensor, "{}", model.arena_bytes());
    assert_eq!(model.arena_bytes(), model.plan.lower_bound_bytes);
}

/// The concatenation fixture plans each concatenation's inputs in its
/// output, and the layout fixture its contiguous slices in their inputs,
/// so that no op copies them (the byte check above is then of the
/// producers writing into their slices): the arena holds the final
/// output alone, where copies would need it beside both its inputs.
#[test]
fn concatenations_and_slices_of_contiguous_runs_copy_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let model = kiln_codegen::compile_file(&dir.join("concat_slices.tflite")).unwrap();
    let names: Vec<&str> = model.ops.iter().map(kiln::Op::name).collect();
    assert_eq!(names, ["LEAKY_RELU", "HARD_SWISH", "LEAKY_RELU"]);
    assert_eq!(model.plan.copies_nothing, [false, false, true, false, true]);
    let output = 32 * 8 * 4;
    assert_eq!(model.arena_bytes(), output);

    // UNPACK along the first axis takes contiguous runs of its input: the
    // layout fixture's two run as views, its SPLITs along inner axes copy.
    let model = kiln_codegen::compile_file(&dir.join("layout.tflite")).unwrap();
    let graph = &model.graph;
    let views: Vec<&str> = (0..graph.nodes.len())
        .filter(|&i| model.plan.copies_nothing[i])
        .map(|i| graph.nodes[i].source_name.as_str())
        .collect();
    assert_eq!(views, ["UNPACK", "UNPACK"]);
}

/// The channel-concatenation fixture lays its first concatenation over its
/// last input (the first is read after it) and its second over its first,
/// so neither needs its inputs' bytes beside its output (the byte check
/// above is then of the rows spread in place).
#[test]
fn concatenations_along_channels_lie_over_an_input() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let model = kiln_codegen::compile_file(&dir.join("concat_channels.tflite")).unwrap();
    let over: Vec<u32> = (model.ops.iter())
        .filter_map(|op| match op {
            kiln::Op::ConcatenationInPlace(o) => Some(o.over),
            _ => None,
        })
        .collect();
    assert_eq!(over, [2, 0], "{:?}", model.ops);
    // Out of place the last concatenation needs its two inputs and its
    // output at once; over its first input, one input fewer. The first
    // would need its three inputs and its output.
    let tensor = 8 * 8 * 4;
    let copied = kiln_codegen::plan::plan(&model.graph);
    assert_eq!(copied.lower_bound_bytes, 8 * tensor);
    assert_eq!(model.arena_bytes(), 5 * tensor);
    // `kiln inspect` says so.
    let report = kiln_codegen::report::inspect_json(&model.graph, Some(&model), None);
    let text = kiln_codegen::report::inspect_text(&report);
    for end in ["last", "first"] {
        let line = format!("over its {end} input (its rows spread in place)");
        assert!(text.contains(&line), "{text}");
    }
}

/// The inverted-bottleneck fixture runs each of its two MobileNetV2 blocks
/// (widen, depthwise, narrow) as one tiled chain of three convolutions,
/// so that neither wide tensor is ever stored (the byte check above is
/// then of the chains' bands): less arena than the same planner finds
/// when offered pairs of layers only, which must store one of them.
#[test]
fn inverted_bottlenecks_run_as_tiled_chains_of_three() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let model = kiln_codegen::compile_file(&dir.join("inverted_bottleneck.tflite")).unwrap();
    let chains: Vec<u32> = (model.ops.iter())
        .filter_map(|op| match op {
            kiln::Op::TiledChain(o) => Some(o.count),
            _ => None,
        })
        .collect();
    assert_eq!(chains, [3, 3], "{:?}", model.ops);
    assert_eq!(model.ops.len(), 2);
    // The widest tensor (12 rows of 8 pixels of 24 channels) is never
    // stored; the arena is less than the input, one of those and the
    // first block's output.
    let (input, wide, narrow) = (12 * 8 * 4, 12 * 8 * 24, 12 * 8 * 8);
    assert!(
        model.arena_bytes() < input + narrow + wide / 2,
        "{}",
        model.arena_bytes()
    );
    // Offered pairs only (the compiled ops read back as candidates), the
    // planner stores a wide tensor.
    let g = &model.graph;
    let pairs: Vec<_> =
        kiln_codegen::lower::in_place_candidates(g.nodes.len(), &model.ops, &model.op_nodes)
            .into_iter()
            .map(|c| c.map(|c| c.with_chains_of(2, false)))
            .collect();
    let paired = kiln_codegen::plan::plan_in_place(g, &pairs);
    assert!(paired.arena_bytes >= wide, "{}", paired.arena_bytes);
    assert!(model.arena_bytes() < paired.arena_bytes);
    // `kiln inspect` says so, and that tiling recomputes nothing.
    let report = kiln_codegen::report::inspect_json(g, Some(&model), None);
    assert_eq!(report["tiling"]["extra_macs"], 0);
    let text = kiln_codegen::report::inspect_text(&report);
    for line in [
        "tiled with #0 to #1 in bands",
        "tiled with #3 to #4 in bands",
    ] {
        assert!(text.contains(line), "{text}");
    }
}

/// The float32 fixtures (EXP, SUM and REDUCE_MAX among them) within float
/// rounding of TFLM's float reference.
#[test]
fn float_op_zoo_matches_tflite_micro_within_rounding() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    for &name in common::FLOAT_ZOO {
        let model = kiln_codegen::compile_file(&dir.join(format!("{name}.tflite"))).unwrap();
        let ops: Vec<&str> = model.ops.iter().map(kiln::Op::name).collect();
        println!("{name}: {ops:?}");
        let mut runner = HostRunner::new(&model);
        let outputs = npy::read_outputs(&dir.join(name)).unwrap();
        assert_eq!(outputs.len(), 8);
        for (k, expected) in outputs.iter().enumerate() {
            let inputs = read_sample(&dir.join(name), k);
            let got = runner.run(&inputs).unwrap();
            let (got, want) = (common::f32s(&got[0].data), common::f32s(&expected.data));
            assert!(common::floats_close(&got, &want), "{name} sample {k}");
        }
    }
}

#[test]
fn example_digits_match_tflite_micro() {
    check_example("digits", "digits_int8.tflite");
}

#[test]
fn example_motion_matches_tflite_micro() {
    check_example("motion", "motion_int8.tflite");
}

/// A project example's samples give TFLM's bytes, and mostly the true label.
fn check_example(folder: &str, file: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(folder);
    let model = kiln_codegen::compile_file(&dir.join(file)).unwrap();
    let mut runner = HostRunner::new(&model);
    let mut correct = 0;
    let outputs = npy::read_outputs(&dir.join("samples")).unwrap();
    assert_eq!(outputs.len(), 8);
    for (k, expected) in outputs.iter().enumerate() {
        let input = npy::read(&dir.join(format!("samples/input_{k}.npy"))).unwrap();
        let got = runner.run(&[input]).unwrap();
        assert_eq!(got[0].data, expected.data, "{folder} sample {k}");
        let label: usize = std::fs::read_to_string(dir.join(format!("samples/label_{k}.txt")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        correct += usize::from(kiln::argmax(&got[0].to_f64()) == label);
    }
    assert!(
        correct >= 6,
        "only {correct} of 8 digits classified correctly"
    );
}

/// An int8 SQUARED_DIFFERENCE whose output scale is so small that TFLM's
/// output multiplier reaches one (TFLM aborts in Prepare) is refused by
/// name at compile time, not run with a wrong multiplier.
#[test]
fn squared_difference_with_too_small_an_output_scale_is_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let Err(err) = kiln_codegen::compile_file(&dir.join("squared_difference_refused.tflite"))
    else {
        panic!("compiled");
    };
    let err = err.to_string();
    assert!(
        err.contains("SQUARED_DIFFERENCE's output scale") && err.contains("too small"),
        "{err}"
    );
}

/// Resource-variable models kiln cannot resolve at compile time are refused
/// by name: CALL_ONCE after a variable is used (its subgraph would run
/// later than kiln's initial values apply), a CALL_ONCE subgraph that
/// computes, a variable read but never assigned.
#[test]
fn variable_models_kiln_cannot_resolve_are_refused_by_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    for (variant, reason) in [
        (
            "late",
            "CALL_ONCE: comes after a variable is read or assigned",
        ),
        ("computed", "subgraph 1 runs NEG"),
        ("unassigned", "variable 'never' is read but never assigned"),
    ] {
        let path = dir.join(format!("variables_{variant}.tflite"));
        let Err(err) = kiln_codegen::compile_file(&path) else {
            panic!("{variant}: compiled");
        };
        let err = err.to_string();
        assert!(err.contains(reason), "{variant}: {err}");
    }
}

/// TFLM's hybrid EMBEDDING_LOOKUP (int8 rows dequantized to float32) is
/// refused by name, not run as a lookup of int8 rows.
#[test]
fn hybrid_embedding_lookup_is_refused_by_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let Err(err) = kiln_codegen::compile_file(&dir.join("embedding_lookup_hybrid.tflite")) else {
        panic!("compiled");
    };
    let err = err.to_string();
    assert!(
        err.contains("EMBEDDING_LOOKUP") && err.contains("hybrid"),
        "{err}"
    );
}

/// BROADCAST_ARGS runs where kiln knows its shapes when compiling
/// (constants, SHAPE outputs); a shape fed in at run time, and TFLM's
/// int64 shapes, are refused by name.
#[test]
fn broadcast_args_kiln_cannot_compute_is_refused_by_name() {
    assert_refused(
        "broadcast_args_computed",
        "BROADCAST_ARGS of a shape computed from values",
    );
    assert_refused("broadcast_args_int64", "BROADCAST_ARGS of int64 shapes");
}

/// A model's bool outputs run (basic_classifier's); a bool input, whose
/// bytes could hold other values than 0 and 1, is refused by name.
#[test]
fn bool_model_inputs_are_refused_by_name() {
    assert_refused("bool_input", "bool model inputs");
}

/// A constant index outside the scores, where TFLM's BasicClassifier (and
/// GATHER) fails every inference, is refused when compiling, and so are
/// indices fed in at run time (kiln's run cannot fail as TFLM's would).
#[test]
fn basic_classifier_targets_kiln_cannot_check_are_refused() {
    assert_refused(
        "basic_classifier_out_of_range",
        "GATHER index 10 outside an axis of 10 (TFLM fails the inference)",
    );
    assert_refused(
        "basic_classifier_computed_indices",
        "BasicClassifier with target indices computed at run time",
    );
}

/// Op-coverage fixture `model` fails to compile with `reason` in its error.
fn assert_refused(model: &str, reason: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let Err(err) = kiln_codegen::compile_file(&dir.join(format!("{model}.tflite"))) else {
        panic!("{model} compiled");
    };
    let err = err.to_string();
    assert!(err.contains(reason), "{model}: {err}");
}

/// IF is read by inlining both branches, so kiln refuses what it cannot
/// inline, by name: a branch that is the subgraph holding the IF, and a
/// branch reading an operand at other parameters than the operand's (TFLM
/// copies the bytes, which the branch then reads differently), a branch
/// writing an operand (TFLM writes the branch's copy), a constant
/// condition; and IFs nested so deep or so wide that inlining them would
/// take the tool's time and memory.
#[test]
fn if_branches_kiln_cannot_inline_are_refused_by_name() {
    for (model, reason) in [
        ("if_recursive", "op #3 IF [first > 0, input, constant, sum or difference, a or max]: runs subgraph 0, which contains it"),
        ("if_requantized", "op #3 IF: operand 'input' differs from subgraph 1's input 'a'"),
        ("if_deep", "op #0 of subgraph 8 IF: IFs nested more than 8 deep"),
        ("if_wide", "of subgraph 3 IF: its subgraphs, and those of the IFs and WHILEs they hold, inline more than 1000000"),
        ("if_writes_operand", "MAXIMUM (op #0 of subgraph 1): writes an operand of its IF"),
        ("if_constant_condition", "op #3 IF [always, input, constant, sum or difference, a or max]: a constant condition"),
    ] {
        assert_refused(model, reason);
    }
}

/// A Keras GRU that kiln unrolls quantizes like any other float model
/// (the fixture of one GRU; the stacked one plans for seconds in debug):
/// the passes of the loop share their filters (quantized once; each pass's
/// biases take that pass's input scale) rather than each pass its own
/// copy, and the int8 model follows the float one (signal to quantization noise above 20 dB
/// on the fixtures' samples, which calibrate it).
#[test]
fn an_unrolled_gru_quantizes_with_shared_filters() {
    use kiln_codegen::npy::{NpyArray, NpyType};
    use kiln_codegen::quantize::observer::ObserverKind;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    for name in ["while_gru_float"] {
        let path = dir.join(format!("{name}.tflite"));
        let samples: Vec<_> = (0..8).map(|k| read_sample(&dir.join(name), k)).collect();
        let mut shape = vec![samples.len()];
        shape.extend_from_slice(&samples[0][0].shape);
        let calibration = NpyArray {
            dtype: NpyType::F32,
            shape,
            data: samples.iter().flat_map(|s| s[0].data.clone()).collect(),
        };
        let int8 = kiln_codegen::quantize_file(&path, &calibration, ObserverKind::MinMax)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let float = kiln_codegen::compile_file(&path).unwrap();
        // Per GRU, two filters (the input's and the state's) for all passes.
        let graph = &int8.graph;
        let fully_connected = || {
            graph
                .nodes
                .iter()
                .filter(|n| n.source_name == "FULLY_CONNECTED")
        };
        let filters: std::collections::BTreeSet<_> =
            fully_connected().filter_map(|n| n.input(1)).collect();
        assert_eq!(fully_connected().count(), 12 + 1, "{name}");
        assert_eq!(filters.len(), 2 + 1, "{name}: filters {filters:?}");
        assert!(filters
            .iter()
            .all(|&f| graph.tensors[f].dtype == kiln_codegen::ir::DataType::I8));
        let (mut want, mut got) = (HostRunner::new(&float), HostRunner::new(&int8));
        let (mut signal, mut noise) = (0f64, 0f64);
        for inputs in &samples {
            let w = common::f32s(&want.run(inputs).unwrap()[0].data);
            let g = common::f32s(&got.run(inputs).unwrap()[0].data);
            for (w, g) in w.iter().zip(&g) {
                signal += f64::from(*w).powi(2);
                noise += f64::from(w - g).powi(2);
            }
        }
        let sqnr = 10.0 * (signal / noise).log10();
        println!("{name}: quantized by kiln, {sqnr:.1} dB");
        assert!(sqnr > 20.0, "{name}: {sqnr:.1} dB");
    }
}

/// WHILE is unrolled, so kiln refuses by name the loops it cannot count
/// when compiling: one that stops on computed values (a `tf.while_loop`
/// doubling its input until the sum reaches 100), one whose body never
/// moves its counter, and one that slices by the counter into a tensor
/// the file gives one fixed shape (TensorFlow leaves such shapes open).
#[test]
fn while_loops_kiln_cannot_unroll_are_refused_by_name() {
    for (model, reason) in [
        ("while_computed", "op #0 WHILE [x, Identity]: its condition depends on values computed at run time"),
        ("while_endless", "op #0 WHILE [start, input, zero state, final counter, final input, final state]: runs more than 1000 passes"),
        ("while_growing", "SLICE (op #8 of subgraph 2)"),
        ("while_growing", "a shape that changes from pass to pass must be left open"),
    ] {
        assert_refused(model, reason);
    }
}

/// SPACE_TO_BATCH_ND pads with the real value 0 (the int8 zero point), as
/// TFLite's kernel does; TFLM's pads with a parameter it never sets, so its
/// outputs cannot serve here. Each of the four 2×2 blocks of the padded
/// 4×4 image holds one input pixel, at the corner facing the centre.
#[test]
fn space_to_batch_pads_with_the_zero_point() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo");
    let model = kiln_codegen::compile_file(&dir.join("space_batch_padded.tflite")).unwrap();
    let mut runner = HostRunner::new(&model);
    let input = npy::NpyArray {
        dtype: npy::NpyType::I8,
        shape: vec![1, 2, 2, 1],
        data: [-100i8, -50, 50, 100].iter().map(|&v| v as u8).collect(),
    };
    let got = runner.run(&[input]).unwrap();
    let zero_point = 3u8;
    let mut expected = [zero_point; 16];
    // Block (phase row, phase column) holds input (1 - phase row,
    // 1 - phase column) at output pixel (1 - phase row, 1 - phase column).
    for (k, &v) in [100i8, 50, -50, -100].iter().enumerate() {
        expected[k * 4 + (3 - k)] = v as u8;
    }
    assert_eq!(got[0].data, expected);
}
