//! ONNX import end to end: the project's ONNX examples (PyTorch-style NCHW
//! graphs with an unfused BatchNormalization) run in float32 and quantized to
//! int8 within one point of accuracy on their held-out split; the same
//! models pre-quantized by onnxruntime (QDQ) compile to int8 with their own
//! parameters; malformed files (truncated, random, wrong types, missing
//! initializers, cycles, unknown ops, QDQ forms kiln does not take) are
//! clear errors, never panics.

use std::path::{Path, PathBuf};

use kiln_codegen::import::onnx;
use kiln_codegen::quantize::observer::ObserverKind;
use kiln_codegen::{npy, validate, Error};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/onnx")
}

fn accuracies(model: &str, data: &str, calibration: &str) -> (f64, f64) {
    let dir = examples();
    let float = kiln_codegen::compile_file(&dir.join(model)).unwrap();
    let int8 = kiln_codegen::quantize_file(
        &dir.join(model),
        &npy::read(&dir.join(calibration)).unwrap(),
        ObserverKind::MinMax,
    )
    .unwrap();
    let summary = validate::compare(
        &float,
        &int8,
        &dir.join(data),
        Some(&dir.join("data/test_y.npy")),
        &mut |_, _| {},
    )
    .unwrap();
    (
        summary["float_accuracy"].as_f64().unwrap(),
        summary["int8_accuracy"].as_f64().unwrap(),
    )
}

#[test]
fn onnx_cnn_with_batch_norm_quantizes_within_one_point() {
    let (float, int8) = accuracies("digits_cnn.onnx", "data/test_x.npy", "data/calibration.npy");
    println!("digits_cnn: float {float:.4}, int8 {int8:.4}");
    assert!(float > 0.95, "float accuracy {float}");
    assert!(float - int8 <= 0.01, "int8 {int8} vs float {float}");
}

#[test]
fn onnx_mlp_quantizes_within_one_point() {
    let (float, int8) = accuracies(
        "digits_mlp.onnx",
        "data/test_x_flat.npy",
        "data/calibration_flat.npy",
    );
    println!("digits_mlp: float {float:.4}, int8 {int8:.4}");
    assert!(float > 0.95, "float accuracy {float}");
    assert!(float - int8 <= 0.01, "int8 {int8} vs float {float}");
}

#[test]
fn batch_norm_is_folded_and_layout_handled() {
    let g = kiln_codegen::import::import(&examples().join("digits_cnn.onnx")).unwrap();
    let names: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
    assert!(!names.iter().any(|n| n.contains("BATCH")), "{names:?}");
    // NCHW input, NHWC inside: with one channel the layout change moves
    // only a dimension of size 1, so it is a reshape (no copy).
    assert_eq!(g.tensors[g.inputs[0]].shape, vec![1, 1, 8, 8]);
    assert_eq!(names[0], "RESHAPE");
    // Each Relu is the conv's fused activation: no standalone RELU.
    assert!(!names.contains(&"RELU"), "{names:?}");
    let fused = g
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                n.kind,
                kiln_codegen::ir::OpKind::Conv2d(kiln_codegen::ops::Conv2d(
                    kiln_codegen::ir::Conv2dAttrs {
                        activation: kiln_codegen::ir::Activation::Relu,
                        ..
                    }
                ))
            )
        })
        .count();
    assert_eq!(fused, 2, "{names:?}");
}

/// Runs `tests/fixtures/onnx_ops/<name>.onnx` on its eight cases (written by
/// ONNX's reference evaluator, see the scripts beside them) and compares
/// within float rounding: `output_N.npy`, or `output_N_K.npy` for each
/// output K of a model with several. Returns the kinds of the compiled
/// graph's nodes.
fn matches_onnx_reference(name: &str) -> Vec<&'static str> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let compiled = kiln_codegen::compile_file(&dir.join(format!("{name}.onnx"))).unwrap();
    let mut runner = kiln_codegen::run::HostRunner::new(&compiled);
    for i in 0..8 {
        // One input: input_N.npy; several: input_N_K.npy.
        let inputs: Vec<_> = match compiled.graph.inputs.len() {
            1 => vec![format!("{name}/input_{i}.npy")],
            count => (0..count)
                .map(|k| format!("{name}/input_{i}_{k}.npy"))
                .collect(),
        };
        let inputs = inputs.iter().map(|f| npy::read(&dir.join(f)).unwrap());
        let got = runner.run(&inputs.collect::<Vec<_>>()).unwrap();
        for (k, got) in got.iter().enumerate() {
            let file = match compiled.graph.outputs.len() {
                1 => format!("{name}/output_{i}.npy"),
                _ => format!("{name}/output_{i}_{k}.npy"),
            };
            let expected = npy::read(&dir.join(file)).unwrap();
            assert_eq!(got.shape, expected.shape, "{name} case {i} output {k}");
            for (j, (g, e)) in got.to_f64().iter().zip(expected.to_f64()).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-5 * e.abs().max(1.0),
                    "{name} case {i} output {k} element {j}: kiln {g}, ONNX reference {e}"
                );
            }
        }
    }
    compiled.graph.nodes.iter().map(|n| n.kind.name()).collect()
}

/// If, as PyTorch exports a scripted `if`: both branches inlined (reading
/// the outer input by name, each defining a value of the same name), a
/// Where per output; an If on a constant converts only the branch it takes
/// (the other holds a Hardmax, which kiln does not import, so the model
/// would be refused). An If whose branches give different shapes is
/// refused by name.
#[test]
fn if_matches_the_onnx_reference_evaluator() {
    let kinds = matches_onnx_reference("if");
    let selects = kinds.iter().filter(|k| **k == "SELECT_V2").count();
    assert_eq!(selects, 2, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let Err(err) = kiln_codegen::compile_file(&dir.join("if_shapes.onnx")) else {
        panic!("if_shapes.onnx compiled");
    };
    let err = err.to_string();
    assert!(
        err.contains("If") && err.contains("the branches give shapes [2, 3, 4] and [1, 1, 1]"),
        "{err}"
    );
}

/// Sub, Div, PRelu, LeakyRelu, HardSigmoid, HardSwish, Clip and an unfolded
/// BatchNormalization, with per-channel broadcasting of constants.
#[test]
fn float_only_onnx_ops_match_the_onnx_reference_evaluator() {
    let kinds = matches_onnx_reference("onnx_ops");
    for op in [
        "SUB",
        "DIV",
        "PRELU",
        "LEAKY_RELU",
        "HARD_SIGMOID",
        "HARD_SWISH",
    ] {
        assert!(kinds.contains(&op), "{op} not in {kinds:?}");
    }
}

/// A constant-mode Pad (value 0.5), a stride-2 ConvTranspose with pads and
/// output_padding, then PyTorch's `x.view(x.size(0), -1)` as exported:
/// Shape, Gather, Slice, Mul, Cast, Unsqueeze and Concat on int64 fold away
/// at import, leaving the Reshape they feed.
#[test]
fn pad_conv_transpose_and_shape_arithmetic_folded_into_constants() {
    let kinds = matches_onnx_reference("shape_arith");
    assert_eq!(
        kinds,
        [
            "RELU",
            "PAD",
            "TRANSPOSE",
            "TRANSPOSE_CONV",
            "TRANSPOSE",
            "RESHAPE",
            "FULLY_CONNECTED"
        ]
    );
}

/// ReduceMean over channels (keepdims), over H and W, and over the last
/// axis (which needs the NCHW order back before dimensions drop); a strided
/// Slice with a negative start and an end past the axis.
#[test]
fn reduce_mean_and_slice_match_in_every_layout() {
    let kinds = matches_onnx_reference("reduce_mean");
    assert_eq!(
        kinds.iter().filter(|&&k| k == "MEAN").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"SLICE"), "{kinds:?}");
    assert!(kinds.contains(&"REDUCE_MAX"), "{kinds:?}");
    assert!(kinds.contains(&"REDUCE_MIN"), "{kinds:?}");
}

/// PyTorch's 1-D layers (Conv1d, depthwise, dilated and strided, MaxPool1d,
/// AvgPool1d, a SAME-padded pointwise Conv1d, ConvTranspose1d) on `[N, C,
/// W]` values run as 2-D layers of height one, with no layout change left
/// between them (one TRANSPOSE in, one out), and BatchNorm1d and the Relu
/// folded into the convolution through the reshape between. Quantized, they run in int8.
#[test]
fn one_d_convolutions_and_pools_match_and_quantize() {
    let kinds = matches_onnx_reference("conv1d");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("CONV_2D"), 2, "{kinds:?}");
    assert_eq!(count("DEPTHWISE_CONV_2D"), 1, "{kinds:?}");
    assert_eq!(count("MAX_POOL_2D"), 1, "{kinds:?}");
    assert_eq!(count("AVERAGE_POOL_2D"), 1, "{kinds:?}");
    assert_eq!(count("TRANSPOSE_CONV"), 1, "{kinds:?}");
    assert_eq!(count("TRANSPOSE"), 2, "{kinds:?}");
    assert_eq!(count("RELU"), 0, "fused into the convolution: {kinds:?}");
    assert_eq!(
        count("MUL") + count("ADD"),
        0,
        "batch norm folded: {kinds:?}"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "conv1d");
    let conv = int8
        .graph
        .nodes
        .iter()
        .find(|n| n.kind.name() == "DEPTHWISE_CONV_2D")
        .unwrap();
    assert_eq!(
        int8.graph.tensors[conv.outputs[0]].dtype,
        kiln_codegen::ir::DataType::I8
    );
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
}

/// PyTorch's pooling options: `ceil_mode` (a last, partial window),
/// `count_include_pad` (an explicit zero PAD the average counts) with
/// explicit and SAME padding, and dilated taps, in 1-D, 2-D and 3-D (two
/// 2-D pools); quantized, they run in int8.
#[test]
fn ceil_mode_and_counted_pads_match_and_quantize() {
    let kinds = matches_onnx_reference("pool_modes");
    // Counted pads: the 2-D pair's two, and the 3-D pool's over H and W
    // (its depth has none).
    assert_eq!(
        kinds.iter().filter(|&&k| k == "PAD").count(),
        3,
        "{kinds:?}"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "pool_modes");
    for n in &int8.graph.nodes {
        if n.kind.name().ends_with("POOL_2D") {
            assert_eq!(
                int8.graph.tensors[n.outputs[0]].dtype,
                kiln_codegen::ir::DataType::I8
            );
        }
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
}

/// Softmax over an axis that is not last: between two transposes (opset
/// 13 on), or over the values flattened from the axis on (before opset
/// 13, a free reshape); quantized, the softmax runs in int8.
#[test]
fn softmax_over_any_axis_matches_and_quantizes() {
    let kinds = matches_onnx_reference("softmax_axes");
    assert_eq!(
        kinds.iter().filter(|&&k| k == "SOFTMAX").count(),
        2,
        "{kinds:?}"
    );
    let kinds = matches_onnx_reference("softmax_flat");
    assert_eq!(kinds, ["RESHAPE", "SOFTMAX", "RESHAPE"]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    for name in ["softmax_axes", "softmax_flat"] {
        let (int8, summary) = quantize_fixture(&dir, name);
        let softmax = int8
            .graph
            .nodes
            .iter()
            .find(|n| n.kind.name() == "SOFTMAX")
            .unwrap();
        assert_eq!(
            int8.graph.tensors[softmax.outputs[0]].dtype,
            kiln_codegen::ir::DataType::I8
        );
        for layer in summary["sqnr"].as_array().unwrap() {
            assert!(layer["db"].as_f64().unwrap() > 25.0, "{name}: {layer}");
        }
    }
}

/// LogSoftmax over the last axis and over a middle one (between
/// transposes) runs as LOG_SOFTMAX; quantized, in int8 with TFLM's fixed
/// output parameters.
#[test]
fn log_softmax_matches_and_quantizes() {
    let kinds = matches_onnx_reference("log_softmax");
    let count = kinds.iter().filter(|&&k| k == "LOG_SOFTMAX").count();
    assert_eq!(count, 2, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "log_softmax");
    for n in &int8.graph.nodes {
        if n.kind.name() == "LOG_SOFTMAX" {
            let out = &int8.graph.tensors[n.outputs[0]];
            assert_eq!(out.dtype, kiln_codegen::ir::DataType::I8);
        }
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
}

/// Gemm with a transposed `A` (a TRANSPOSE before the layer) and with a
/// matrix or column bias (an ADD after it); quantized, the layers run in
/// int8.
#[test]
fn gemm_with_transposed_input_and_matrix_bias_matches_and_quantizes() {
    let kinds = matches_onnx_reference("gemm");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("FULLY_CONNECTED"), 2, "{kinds:?}");
    assert_eq!(count("ADD"), 2, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "gemm");
    for n in &int8.graph.nodes {
        if matches!(n.kind.name(), "FULLY_CONNECTED" | "ADD") {
            let dtype = int8.graph.tensors[n.outputs[0]].dtype;
            assert_eq!(dtype, kiln_codegen::ir::DataType::I8, "{}", n.kind.name());
        }
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
}

/// One attention head: MatMul of two activations (scores, and their
/// product with v) and with a batched constant are BATCH_MATMULs, the
/// projections with 2-D weights FULLY_CONNECTED; quantized, every product
/// runs in int8.
#[test]
fn attention_matmuls_match_and_quantize() {
    let kinds = matches_onnx_reference("attention");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("BATCH_MATMUL"), 3, "{kinds:?}");
    assert_eq!(count("FULLY_CONNECTED"), 3, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "attention");
    for n in int8
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind.name() == "BATCH_MATMUL")
    {
        let dtype = int8.graph.tensors[n.outputs[0]].dtype;
        assert_eq!(dtype, kiln_codegen::ir::DataType::I8);
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 25.0, "{layer}");
    }
}

/// Comparisons and selections as ONNX's function bodies write them (Less
/// against a Constant, Where, Max and Min of two and three operands, a
/// CastLike to the input's own type); quantized, they run in int8, the
/// constants Where and Max take quantized with the values' parameters.
#[test]
fn where_max_min_and_comparisons_match_and_quantize() {
    let kinds = matches_onnx_reference("where");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("SELECT_V2"), 2, "{kinds:?}");
    assert_eq!(count("LESS") + count("GREATER_EQUAL"), 2, "{kinds:?}");
    assert_eq!(count("MAXIMUM") + count("MINIMUM"), 3, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "where");
    for n in &int8.graph.nodes {
        if matches!(n.kind.name(), "SELECT_V2" | "MAXIMUM" | "MINIMUM") {
            let dtype = int8.graph.tensors[n.outputs[0]].dtype;
            assert_eq!(dtype, kiln_codegen::ir::DataType::I8, "{}", n.kind.name());
        }
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 25.0, "{layer}");
    }
}

/// ArgMax over a convolution's channels (the axis kept, as a segmentation
/// head's) and ArgMin over its last axis (dropped) run as ARG_MAX and
/// ARG_MIN, ties going to the first index as ONNX's do, with int32
/// indices; quantized, they compare the int8 scores.
#[test]
fn arg_max_and_arg_min_match_and_quantize() {
    let kinds = matches_onnx_reference("arg_extreme");
    for op in ["ARG_MAX", "ARG_MIN"] {
        assert!(kinds.contains(&op), "{op} not in {kinds:?}");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, _) = quantize_fixture(&dir, "arg_extreme");
    // The inputs (steps of 0.5) are not on the int8 grid, so a tie may
    // break the other way; nearly every index still agrees.
    let mut runner = kiln_codegen::run::HostRunner::new(&int8);
    let (mut same, mut total) = (0, 0);
    for i in 0..8 {
        let input = npy::read(&dir.join(format!("arg_extreme/input_{i}.npy"))).unwrap();
        for (k, got) in runner.run(&[input]).unwrap().iter().enumerate() {
            let file = format!("arg_extreme/output_{i}_{k}.npy");
            let expected = npy::read(&dir.join(file)).unwrap();
            assert_eq!(got.shape, expected.shape);
            let pairs = got.to_f64().into_iter().zip(expected.to_f64());
            same += pairs.clone().filter(|(g, e)| g == e).count();
            total += pairs.count();
        }
    }
    assert!(
        same * 100 >= total * 95,
        "{same} of {total} int8 indices agree"
    );
    let mut arg_ops = 0;
    for n in &int8.graph.nodes {
        if matches!(n.kind.name(), "ARG_MAX" | "ARG_MIN") {
            let input = int8.graph.tensors[n.inputs[0].unwrap()].dtype;
            assert_eq!(input, kiln_codegen::ir::DataType::I8, "{}", n.kind.name());
            arg_ops += 1;
        }
    }
    assert_eq!(arg_ops, 2);
}

/// Abs, Sqrt, Log, Neg, Sin, Cos, Exp, Floor, Ceil, Round and Elu run as
/// kiln's float32 unary op;
/// quantized, an int8 model runs them in float32 between DEQUANTIZE and
/// QUANTIZE.
#[test]
fn unary_functions_match_and_quantize() {
    let kinds = matches_onnx_reference("unary");
    for op in [
        "ABS", "SQRT", "LOG", "NEG", "SIN", "COS", "EXP", "FLOOR", "CEIL", "ROUND", "ELU",
    ] {
        assert!(kinds.contains(&op), "{op} not in {kinds:?}");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "unary");
    let sqrt = int8
        .graph
        .nodes
        .iter()
        .find(|n| n.kind.name() == "SQRT")
        .unwrap();
    let dtype = int8.graph.tensors[sqrt.outputs[0]].dtype;
    assert_eq!(dtype, kiln_codegen::ir::DataType::F32);
    // Log of int8 values magnifies the input's rounding near its smallest
    // values (|x| from 0.1, in steps of about 0.012): 23 dB; the rest > 25.
    for layer in summary["sqnr"].as_array().unwrap() {
        let floor = if layer["op"] == "Log" { 20.0 } else { 25.0 };
        assert!(layer["db"].as_f64().unwrap() > floor, "{layer}");
    }
}

/// Pad's border modes (reflect, edge, wrap) copy input values into the
/// border; quantized, they keep the input's parameters and run in int8.
#[test]
fn pad_modes_match_and_quantize() {
    let kinds = matches_onnx_reference("pad_modes");
    assert_eq!(
        kinds
            .iter()
            .filter(|&&k| k == "PAD" || k == "MIRROR_PAD")
            .count(),
        3
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "pad_modes");
    for n in int8
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind.name().ends_with("PAD"))
    {
        let dtype = int8.graph.tensors[n.outputs[0]].dtype;
        assert_eq!(dtype, kiln_codegen::ir::DataType::I8);
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
}

/// Resize as PyTorch exports nn.Upsample (nearest, asymmetric/floor) and
/// bilinear interpolation (half_pixel, align_corners), ONNX's default
/// nearest (half_pixel, round_prefer_floor) and asymmetric linear, by
/// scales and by sizes, runs as TFLite's two resizes; quantized, in int8.
/// Cubic, and a nearest whose picks no TFLite resize makes, are refused by
/// name.
#[test]
fn resize_matches_and_quantizes() {
    let kinds = matches_onnx_reference("resize");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("RESIZE_NEAREST_NEIGHBOR"), 2, "{kinds:?}");
    assert_eq!(count("RESIZE_BILINEAR"), 3, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "resize");
    for n in &int8.graph.nodes {
        if n.kind.name().starts_with("RESIZE") {
            let dtype = int8.graph.tensors[n.outputs[0]].dtype;
            assert_eq!(dtype, kiln_codegen::ir::DataType::I8);
        }
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
    for (name, reason) in [
        ("resize_refused_cubic", "Resize mode cubic"),
        (
            "resize_refused_ceil",
            "no TFLite resize picks the same pixels",
        ),
    ] {
        match kiln_codegen::import::import(&dir.join(format!("{name}.onnx"))) {
            Err(Error::Unsupported { problems, .. }) => {
                let text = format!("{problems:?}");
                assert!(text.contains(reason), "{name}: {text}");
            }
            other => panic!("{name}: expected Unsupported, got {other:?}"),
        }
    }
}

/// Expand to a higher rank and Expand whose target keeps an axis (ONNX
/// broadcasts both ways) run as BROADCAST_TO, in float32 and in int8.
#[test]
fn expand_matches_and_quantizes() {
    let kinds = matches_onnx_reference("expand");
    let count = kinds.iter().filter(|&&k| k == "BROADCAST_TO").count();
    assert_eq!(count, 2, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "expand");
    for n in &int8.graph.nodes {
        if n.kind.name() == "BROADCAST_TO" {
            let dtype = int8.graph.tensors[n.outputs[0]].dtype;
            assert_eq!(dtype, kiln_codegen::ir::DataType::I8);
        }
    }
    for layer in summary["sqnr"].as_array().unwrap() {
        assert!(layer["db"].as_f64().unwrap() > 30.0, "{layer}");
    }
}

/// int8 through Concat: inputs that reach it through reshapes, transposes
/// and slices share its parameters, so every layer keeps its precision
/// (before, the concatenated output fell to 11 dB).
#[test]
fn quantized_concat_of_reshaped_inputs_keeps_its_precision() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (_, summary) = quantize_fixture(&dir, "reduce_mean");
    for layer in summary["sqnr"].as_array().unwrap() {
        let db = layer["db"].as_f64().unwrap();
        assert!(db > 30.0, "{layer}");
    }
}

/// Quantizes fixture `name` calibrated on its eight inputs and compares it
/// with the float model on them.
fn quantize_fixture(dir: &Path, name: &str) -> (kiln_codegen::CompiledModel, serde_json::Value) {
    let model = dir.join(format!("{name}.onnx"));
    let cases: Vec<npy::NpyArray> = (0..8)
        .map(|i| npy::read(&dir.join(format!("{name}/input_{i}.npy"))).unwrap())
        .collect();
    let stacked = npy::NpyArray {
        dtype: npy::NpyType::F32,
        shape: [cases.len()]
            .into_iter()
            .chain(cases[0].shape.iter().copied())
            .collect(),
        data: cases.iter().flat_map(|c| c.data.iter().copied()).collect(),
    };
    let data = std::env::temp_dir().join(format!("kiln-{name}-{}.npy", std::process::id()));
    npy::write(&data, &stacked).unwrap();
    let float = kiln_codegen::compile_file(&model).unwrap();
    let int8 = kiln_codegen::quantize_file(&model, &stacked, ObserverKind::MinMax).unwrap();
    let summary = validate::compare(&float, &int8, &data, None, &mut |_, _| {}).unwrap();
    std::fs::remove_file(&data).ok();
    (int8, summary)
}

/// Ops with no int8 kernel (Div, HardSigmoid) stay float32 in the quantized
/// model, between DEQUANTIZE and QUANTIZE; the rest is int8, SUB, CLIP,
/// PRELU and the constant-operand ADD and MUL (an unfolded batch norm)
/// included.
#[test]
fn float_only_ops_stay_float_between_int8_ops() {
    use kiln_codegen::ir::{DataType, OpKind};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "onnx_ops");
    let g = &int8.graph;
    let count = |f: &dyn Fn(&OpKind) -> bool| g.nodes.iter().filter(|n| f(&n.kind)).count();
    let concat = g
        .nodes
        .iter()
        .find(|n| matches!(n.kind, OpKind::Concatenation(_)))
        .unwrap();
    assert_eq!(
        g.tensors[concat.outputs[0]].dtype,
        DataType::I8,
        "CONCATENATION runs in int8"
    );
    // The input QUANTIZE, then one DEQUANTIZE for each float op reading
    // int8 data, one QUANTIZE per float result the int8 CONCATENATION reads.
    let quantize = count(&|k| matches!(k, OpKind::Quantize(_)));
    let dequantize = count(&|k| matches!(k, OpKind::Dequantize(_)));
    assert!(
        quantize >= 4 && dequantize >= 3,
        "{quantize} QUANTIZE, {dequantize} DEQUANTIZE"
    );
    // Each float op reads dequantized values and its result is quantized
    // for the int8 ops after it.
    for n in g.nodes.iter().filter(|n| matches!(n.kind, OpKind::Div(_))) {
        let x = n.input(0).unwrap();
        let producer = g.nodes.iter().find(|p| p.outputs.contains(&x)).unwrap();
        assert!(matches!(producer.kind, OpKind::Dequantize(_)));
        let reader = g
            .nodes
            .iter()
            .find(|r| r.inputs.contains(&Some(n.outputs[0])))
            .unwrap();
        assert!(matches!(reader.kind, OpKind::Quantize(_)));
    }
    // SUB, CLIP, PRELU, and ADD and MUL with a constant operand, run in int8.
    for n in g.nodes.iter().filter(|n| {
        matches!(
            n.kind,
            OpKind::Sub(_) | OpKind::Add(_) | OpKind::Mul(_) | OpKind::Clip(_) | OpKind::PRelu(_)
        )
    }) {
        assert_eq!(g.tensors[n.outputs[0]].dtype, DataType::I8, "{:?}", n.kind);
    }
    let rows = summary["sqnr"].as_array().unwrap();
    let y = rows.iter().find(|r| r["tensor"] == "y").unwrap();
    println!("onnx_ops quantized: output SQNR {y}");
    assert!(y["db"].as_f64().unwrap() > 25.0, "{y}");
}

/// A minimal protobuf writer for hand-made broken models.
fn field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    varint(out, (number << 3) | 2);
    varint(out, payload.len() as u64);
    out.extend(payload);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        field(&mut n, 1, i.as_bytes());
    }
    for o in outputs {
        field(&mut n, 2, o.as_bytes());
    }
    field(&mut n, 4, op.as_bytes());
    n
}

fn value_info(name: &str, elem: u64, dims: &[u64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = vec![0x08];
        varint(&mut dim, d);
        field(&mut shape, 1, &dim);
    }
    let mut tensor = vec![0x08];
    varint(&mut tensor, elem);
    field(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    field(&mut ty, 1, &tensor);
    let mut vi = Vec::new();
    field(&mut vi, 1, name.as_bytes());
    field(&mut vi, 2, &ty);
    vi
}

fn model(nodes: &[Vec<u8>], input: Vec<u8>, output: Vec<u8>) -> Vec<u8> {
    model_with(nodes, &[], input, output)
}

/// A TensorProto: `elem` is ONNX's element type, `raw` the little-endian data.
fn initializer(name: &str, elem: u64, dims: &[u64], raw: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        t.push(0x08);
        varint(&mut t, d);
    }
    t.push(0x10);
    varint(&mut t, elem);
    field(&mut t, 8, name.as_bytes());
    field(&mut t, 9, raw);
    t
}

fn model_with(
    nodes: &[Vec<u8>],
    initializers: &[Vec<u8>],
    input: Vec<u8>,
    output: Vec<u8>,
) -> Vec<u8> {
    let mut g = Vec::new();
    for n in nodes {
        field(&mut g, 1, n);
    }
    for t in initializers {
        field(&mut g, 5, t);
    }
    field(&mut g, 11, &input);
    field(&mut g, 12, &output);
    let mut m = vec![0x08, 0x08]; // ir_version 8
    field(&mut m, 7, &g);
    let mut opset = vec![0x10, 17];
    opset.splice(0..0, [0x0a, 0x00]); // domain ""
    field(&mut m, 8, &opset);
    m
}

fn import(bytes: &[u8]) -> Result<kiln_codegen::ir::Graph, Error> {
    onnx::import_bytes(bytes, Path::new("broken.onnx"))
}

#[test]
fn a_hand_made_model_imports_and_runs() {
    let m = model(
        &[node("Relu", &["x"], &["y"])],
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    let g = import(&m).unwrap();
    let compiled = kiln_codegen::lower::compile(g).unwrap();
    let input = npy::NpyArray {
        dtype: npy::NpyType::F32,
        shape: vec![1, 4],
        data: [-1f32, 2.0, -3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    };
    let out = kiln_codegen::run::HostRunner::new(&compiled)
        .run(&[input])
        .unwrap();
    assert_eq!(out[0].to_f64(), vec![0.0, 2.0, 0.0, 4.0]);
}

/// Shapes whose element counts overflow (or come near) 64-bit arithmetic
/// are refused as too large, never wrapped or a panic.
#[test]
fn hostile_shapes_are_refused_not_wrapped() {
    let huge = 1u64 << 40;
    for dims in [
        vec![huge, huge],
        vec![huge, huge, huge],
        vec![1, i64::MAX as u64],
        vec![1 << 16, 1 << 16],
    ] {
        let m = model(
            &[node("Relu", &["x"], &["y"])],
            value_info("x", 1, &dims),
            value_info("y", 1, &dims),
        );
        match import(&m) {
            Err(Error::Invalid { detail, .. }) => {
                assert!(detail.contains("too large"), "{dims:?}: {detail}")
            }
            Err(e) => panic!("{dims:?}: expected a too-large error, got {e}"),
            Ok(_) => panic!("{dims:?}: accepted"),
        }
    }
    // A weight whose dims multiply past 2^64, with a few bytes of data.
    let m = model_with(
        &[node("Add", &["x", "w"], &["y"])],
        &[initializer("w", 1, &[huge, huge, huge], &[0; 16])],
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    assert!(import(&m).is_err());
}

#[test]
fn malformed_onnx_files_are_errors_not_panics() {
    let good = std::fs::read(examples().join("digits_cnn.onnx")).unwrap();
    // Truncated anywhere.
    for n in (0..good.len()).step_by(97) {
        assert!(
            import(&good[..n]).is_err(),
            "truncated to {n} bytes was accepted"
        );
    }
    // Random bytes, and every byte flipped in the first kilobyte: errors or
    // (for flips in weight values) a model; never a panic.
    let mut x = 0x1234_5678_9abc_def0u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert!(import(&random).is_err());
    for i in 0..good.len().min(1024) {
        let mut b = good.clone();
        b[i] ^= 0xff;
        if let Ok(g) = import(&b) {
            let _ = kiln_codegen::lower::compile(g);
        }
    }
    // Unknown ops, all named at once.
    let m = model(
        &[
            node("Frobnicate", &["x"], &["h"]),
            node("Relu", &["h"], &["i"]),
            node("Zap", &["i"], &["y"]),
        ],
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    match import(&m) {
        Err(Error::Unsupported { problems, .. }) => {
            let ops: Vec<&str> = problems.iter().map(|p| p.op_name.as_str()).collect();
            assert!(
                ops.contains(&"Frobnicate") && ops.contains(&"Zap"),
                "{ops:?}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // A missing initializer: Conv weights that nothing defines.
    let m = model(
        &[node("Conv", &["x", "w"], &["y"])],
        value_info("x", 1, &[1, 1, 4, 4]),
        value_info("y", 1, &[1, 1, 4, 4]),
    );
    let err = import(&m).unwrap_err().to_string();
    assert!(err.contains("'w' must be a constant"), "{err}");
    // A cycle: a node reading its own output.
    let m = model(
        &[node("Add", &["x", "y"], &["y"])],
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    let err = import(&m).unwrap_err().to_string();
    assert!(err.contains("'y' is not computed"), "{err}");
    // Wrong types: a string input.
    let m = model(
        &[node("Relu", &["x"], &["y"])],
        value_info("x", 8, &[1, 4]),
        value_info("y", 8, &[1, 4]),
    );
    let err = kiln_codegen::lower::compile(import(&m).unwrap())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!err.is_empty(), "a string model was compiled");
}

/// Scale 0.5 and int8 zero point 0, as initializers.
fn qdq_params() -> Vec<Vec<u8>> {
    vec![
        initializer("s", 1, &[], &0.5f32.to_le_bytes()),
        initializer("z", 3, &[], &[0]),
    ]
}

fn qdq_error(nodes: &[Vec<u8>], extra: &[Vec<u8>], output_type: u64) -> String {
    let mut inits = qdq_params();
    inits.extend_from_slice(extra);
    let m = model_with(
        nodes,
        &inits,
        value_info("x", 1, &[1, 4]),
        value_info("y", output_type, &[1, 4]),
    );
    match import(&m).and_then(kiln_codegen::compile) {
        Ok(_) => panic!("accepted: {nodes:?}"),
        Err(e) => e.to_string(),
    }
}

/// QDQ forms kiln does not take are named, each with what to do instead.
#[test]
fn qdq_forms_kiln_does_not_take_are_clear_errors() {
    // An integer model output.
    let err = qdq_error(&[node("QuantizeLinear", &["x", "s", "z"], &["y"])], &[], 3);
    assert!(err.contains("float32 outputs"), "{err}");
    // An op reading QuantizeLinear's integers directly.
    let err = qdq_error(
        &[
            node("QuantizeLinear", &["x", "s", "z"], &["q"]),
            node("Relu", &["q"], &["y"]),
        ],
        &[],
        1,
    );
    assert!(err.contains("integer output of a QuantizeLinear"), "{err}");
    // A requantization: DequantizeLinear with other parameters.
    let err = qdq_error(
        &[
            node("QuantizeLinear", &["x", "s", "z"], &["q"]),
            node("DequantizeLinear", &["q", "s2", "z"], &["y"]),
        ],
        &[initializer("s2", 1, &[], &0.25f32.to_le_bytes())],
        1,
    );
    assert!(err.contains("requantization"), "{err}");
    // int16 activations.
    let err = qdq_error(
        &[
            node("QuantizeLinear", &["x", "s", "z16"], &["q"]),
            node("DequantizeLinear", &["q", "s", "z16"], &["y"]),
        ],
        &[initializer("z16", 5, &[], &[0, 0])],
        1,
    );
    assert!(err.contains("int16 quantization"), "{err}");
    // The operator form.
    let err = qdq_error(
        &[node(
            "QLinearMatMul",
            &["x", "s", "z", "x", "s", "z", "s", "z"],
            &["y"],
        )],
        &[],
        1,
    );
    assert!(err.contains("QuantFormat.QDQ"), "{err}");
}

/// A QDQ model that leaves an activation without parameters asks for
/// calibration data, and takes it: the model's parameters where it has
/// them, calibrated ones elsewhere.
#[test]
fn qdq_gaps_are_named_and_calibration_fills_them() {
    let m = model_with(
        &[
            node("QuantizeLinear", &["x", "s", "z"], &["q"]),
            node("DequantizeLinear", &["q", "s", "z"], &["d"]),
            node("Sigmoid", &["d"], &["h"]),
            node("Relu", &["h"], &["y"]),
        ],
        &qdq_params(),
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    let err = import(&m)
        .and_then(kiln_codegen::compile)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("'y'") && err.contains("--calibrate"), "{err}");

    let path = std::env::temp_dir().join(format!("kiln-qdq-gap-{}.onnx", std::process::id()));
    std::fs::write(&path, &m).unwrap();
    let calibration = npy::NpyArray {
        dtype: npy::NpyType::F32,
        shape: vec![2, 1, 4],
        data: [-3f32, -1.0, 1.0, 3.0, -2.0, 0.0, 2.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    };
    let int8 = kiln_codegen::quantize_file(&path, &calibration, ObserverKind::MinMax);
    std::fs::remove_file(&path).ok();
    let int8 = int8.unwrap();
    let input = int8.graph.tensors.iter().find(|t| t.name == "x").unwrap();
    // The model's scale, not the calibrated one (the data spans [-3, 4]).
    let q = input.quantization.as_ref().unwrap();
    assert_eq!((q.scale0(), q.zero_point0()), (0.5, 0));
}

fn qdq_summary(model: &str, data: &str) -> serde_json::Value {
    let dir = examples();
    let float = kiln_codegen::compile_float_file(&dir.join(model)).unwrap();
    let int8 = kiln_codegen::compile_file(&dir.join(model)).unwrap();
    assert!(
        int8.graph
            .tensors
            .iter()
            .any(|t| t.dtype == kiln_codegen::ir::DataType::I8 && !t.is_constant()),
        "{model} did not compile to int8"
    );
    validate::compare(
        &float,
        &int8,
        &dir.join(data),
        Some(&dir.join("data/test_y.npy")),
        &mut |_, _| {},
    )
    .unwrap()
}

/// onnxruntime's QDQ models of the examples compile to int8 without
/// calibration data, within one point of their float ops, and agree with
/// onnxruntime's own int8 predictions.
#[test]
fn onnxruntime_qdq_models_compile_to_int8_within_one_point() {
    let dir = examples();
    for (model, data) in [
        ("digits_cnn_qdq", "data/test_x.npy"),
        ("digits_cnn_qdq_unfused", "data/test_x.npy"),
        ("digits_mlp_qdq", "data/test_x_flat.npy"),
    ] {
        let summary = qdq_summary(&format!("{model}.onnx"), data);
        let float = summary["float_accuracy"].as_f64().unwrap();
        let int8 = summary["int8_accuracy"].as_f64().unwrap();
        let int8_model = kiln_codegen::compile_file(&dir.join(format!("{model}.onnx"))).unwrap();
        let options = validate::Options {
            device: validate::Device::Cpu,
            batch: 64,
            check: false,
            threads: 0,
        };
        let ort = dir.join(format!("data/{model}_ort_top1.npy"));
        let against_ort = validate::validate(
            &int8_model,
            &dir.join(data),
            Some(&ort),
            &options,
            &mut |_, _| {},
        )
        .unwrap()["accuracy"]
            .as_f64()
            .unwrap();
        println!("{model}: float {float:.4}, int8 {int8:.4}, top-1 agreement with onnxruntime {against_ort:.4}");
        assert!(float > 0.95, "{model}: float accuracy {float}");
        assert!(
            float - int8 <= 0.01,
            "{model}: int8 {int8} vs float {float}"
        );
        assert!(
            against_ort >= 0.98,
            "{model}: agreement with onnxruntime {against_ort}"
        );
    }
}

/// The float ops of a QDQ model are the float model: onnxruntime dropped the
/// Relus its int8 ranges imply, and the import puts them back.
#[test]
fn qdq_float_ops_match_the_float_model() {
    for (qdq, float, data) in [
        (
            "digits_mlp_qdq.onnx",
            "digits_mlp.onnx",
            "data/test_x_flat.npy",
        ),
        ("digits_cnn_qdq.onnx", "digits_cnn.onnx", "data/test_x.npy"),
    ] {
        let from_qdq = qdq_summary(qdq, data)["float_accuracy"].as_f64().unwrap();
        let (original, _) = accuracies(float, data, &data.replace("test_x", "calibration"));
        println!("{qdq}: float ops {from_qdq:.4}, float model {original:.4}");
        assert!(
            (from_qdq - original).abs() <= 0.01,
            "{qdq}: {from_qdq} vs {original}"
        );
    }
}

/// Whether TFLM fixes the int8 parameters of tensor `t`: SOFTMAX outputs,
/// and the outputs of ops that keep their input's (pooling, reshape).
fn fixed_by_tflm(g: &kiln_codegen::ir::Graph, t: usize) -> bool {
    use kiln_codegen::ir::OpKind;
    g.nodes.iter().any(|n| {
        n.outputs.contains(&t)
            && matches!(
                n.kind,
                OpKind::Softmax(_)
                    | OpKind::AveragePool2d(_)
                    | OpKind::MaxPool2d(_)
                    | OpKind::Reshape(_)
                    | OpKind::Transpose(_)
            )
    })
}

/// The int8 model uses the QDQ model's parameters: its weight scales and
/// each activation's scale and zero point (where TFLM fixes none), and the
/// input's follow from the data's range [0, 1].
#[test]
fn qdq_parameters_are_kept() {
    let path = examples().join("digits_cnn_qdq.onnx");
    let float = kiln_codegen::import::import(&path).unwrap();
    assert!(float.is_prequantized());
    let kind = ObserverKind::MinMax;
    let int8 = kiln_codegen::quantize::ptq::quantize(&float, None, kind).unwrap();
    let input = float
        .tensors
        .iter()
        .find(|t| t.name == "input")
        .and_then(|t| t.quantization.clone())
        .unwrap();
    assert!((input.scale0() - 1.0 / 255.0).abs() < 1e-7, "{input:?}");
    assert_eq!(input.zero_point0(), -128);
    let (mut weights, mut activations) = (0, 0);
    for (t, tensor) in float.tensors.iter().enumerate() {
        let Some(q) = &tensor.quantization else {
            continue;
        };
        let kept = int8.tensors[t].quantization.as_ref().unwrap();
        if tensor.is_constant() {
            assert_eq!(kept.scale, q.scale, "{}", tensor.name);
            weights += 1;
        } else if !fixed_by_tflm(&int8, t) {
            assert_eq!(
                (kept.scale0(), kept.zero_point0()),
                (q.scale0(), q.zero_point0()),
                "{}",
                tensor.name
            );
            activations += 1;
        }
    }
    assert_eq!(weights, 3, "conv1 (batch norm fused), conv2, fc");
    assert!(
        activations >= 3,
        "{activations} activations: r1, r2, logits"
    );
}

/// A QDQ model's dequantized constant operand keeps its integers and
/// parameters in the int8 ADD.
#[test]
fn qdq_constant_operand_keeps_its_parameters() {
    let mut inits = qdq_params();
    inits.extend([
        initializer("c_q", 3, &[4], &[1, 2, 3, 4]),
        initializer("cs", 1, &[], &0.25f32.to_le_bytes()),
        initializer("cz", 3, &[], &[3]),
    ]);
    let m = model_with(
        &[
            node("QuantizeLinear", &["x", "s", "z"], &["q"]),
            node("DequantizeLinear", &["q", "s", "z"], &["d"]),
            node("DequantizeLinear", &["c_q", "cs", "cz"], &["c"]),
            node("Add", &["d", "c"], &["a"]),
            node("QuantizeLinear", &["a", "s", "z"], &["qa"]),
            node("DequantizeLinear", &["qa", "s", "z"], &["y"]),
        ],
        &inits,
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    let int8 = import(&m).and_then(kiln_codegen::compile).unwrap();
    let add = int8
        .graph
        .nodes
        .iter()
        .find(|n| matches!(n.kind, kiln_codegen::ir::OpKind::Add(_)))
        .unwrap();
    let c = &int8.graph.tensors[add.input(1).unwrap()];
    let q = c.quantization.as_ref().unwrap();
    assert_eq!((q.scale0(), q.zero_point0()), (0.25, 3));
    assert_eq!(c.data.as_deref(), Some(&[1u8, 2, 3, 4][..]));
}

/// Consecutive float ops pass float32 to each other: no QUANTIZE and
/// DEQUANTIZE between a Div and the HardSigmoid after it.
#[test]
fn consecutive_float_ops_skip_the_int8_round_trip() {
    use kiln_codegen::ir::{DataType, OpKind};
    let m = model_with(
        &[
            node("Relu", &["x"], &["r"]),
            node("Div", &["r", "c"], &["d"]),
            node("HardSigmoid", &["d"], &["p"]),
            node("Relu", &["p"], &["y"]),
        ],
        &[initializer(
            "c",
            1,
            &[4],
            &[2f32, 4.0, 8.0, 16.0].map(f32::to_le_bytes).concat(),
        )],
        value_info("x", 1, &[1, 4]),
        value_info("y", 1, &[1, 4]),
    );
    let path = std::env::temp_dir().join(format!("kiln-float-chain-{}.onnx", std::process::id()));
    std::fs::write(&path, &m).unwrap();
    let calibration = npy::NpyArray {
        dtype: npy::NpyType::F32,
        shape: vec![2, 1, 4],
        data: [-3f32, -1.0, 1.0, 3.0, -2.0, 0.5, 2.0, 4.0]
            .map(f32::to_le_bytes)
            .concat(),
    };
    let int8 = kiln_codegen::quantize_file(&path, &calibration, ObserverKind::MinMax);
    std::fs::remove_file(&path).ok();
    let g = int8.unwrap().graph;
    let div = g
        .nodes
        .iter()
        .find(|n| matches!(n.kind, OpKind::Div(_)))
        .unwrap();
    let d = div.outputs[0];
    assert_eq!(g.tensors[d].dtype, DataType::F32);
    let reader = g
        .nodes
        .iter()
        .find(|n| n.inputs.contains(&Some(d)))
        .unwrap();
    assert!(
        matches!(reader.kind, OpKind::HardSigmoid(_)),
        "{:?}",
        reader.kind
    );
}

/// Slice with negative steps walks an axis backwards (starts and ends from
/// the end, clamped past either end), and Split (sizes given, or equal
/// parts) is one slice per part, on the slice kernel.
#[test]
fn slices_with_negative_steps_and_splits_match_the_onnx_reference() {
    let kinds = matches_onnx_reference("slices");
    assert_eq!(kinds.iter().filter(|&&k| k == "SLICE").count(), 2 + 3 + 2);
}

/// Gather by constant indices (negative ones from the end of the axis, a
/// scalar index dropping it) runs on the gather kernel.
#[test]
fn gather_by_constant_indices_matches_the_onnx_reference() {
    let kinds = matches_onnx_reference("gather");
    assert_eq!(kinds, ["GATHER", "GATHER"]);
}

/// Calibration observes every activation, including those no op writes:
/// a concatenation whose inputs are planned inside its output (one of
/// pool_modes' Concats) has its output's range observed, as when it copied.
#[test]
fn calibration_observes_a_concatenation_that_copies_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let float = kiln_codegen::compile_file(&dir.join("pool_modes.onnx")).unwrap();
    let g = &float.graph;
    let concat = (0..g.nodes.len())
        .find(|&i| {
            matches!(g.nodes[i].kind, kiln_codegen::ir::OpKind::Concatenation(_))
                && float.plan.copies_nothing[i]
        })
        .expect("a concatenation that copies nothing");
    let input = npy::read(&dir.join("pool_modes/input_0.npy")).unwrap();
    let bytes: Vec<u8> = input.data.clone();
    let calibration =
        kiln_codegen::quantize::calibrate::calibrate(&float, &bytes, 1, ObserverKind::MinMax)
            .unwrap();
    let out = g.nodes[concat].outputs[0];
    let observer = calibration.observers[out].as_ref().unwrap();
    assert!(
        observer.min.is_finite() && observer.min < observer.max,
        "{observer:?}"
    );
}

/// ONNX LSTM (PyTorch's `nn.LSTM` export): a sequence-first layer with a
/// bias and zero initial states, and a batch-first one without a bias,
/// every output (Y, Y_h, Y_c) used, run as kiln's float32
/// UNIDIRECTIONAL_SEQUENCE_LSTM with states that start from zero on every
/// run (the eight cases run one after another on one runner: a state left
/// over from the last would change the next), and kept in float32 when
/// the model is quantized.
#[test]
fn lstm_matches_the_onnx_reference_and_keeps_no_state() {
    let kinds = matches_onnx_reference("lstm");
    let count = kinds
        .iter()
        .filter(|&&k| k == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        .count();
    assert_eq!(count, 2, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let compiled = kiln_codegen::compile_file(&dir.join("lstm.onnx")).unwrap();
    assert!(compiled.state.is_empty(), "{:?}", compiled.state);
    let (int8, summary) = quantize_fixture(&dir, "lstm");
    let lstm_types: Vec<_> = int8
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind.name() == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        .map(|n| int8.graph.tensors[n.outputs[0]].dtype)
        .collect();
    assert_eq!(lstm_types, [kiln_codegen::ir::DataType::F32; 2]);
    let layers = summary["sqnr"].as_array().unwrap();
    let output = layers.iter().find(|l| l["tensor"] == "y").unwrap();
    assert!(output["db"].as_f64().unwrap() > 30.0, "{output}");
}

/// ONNX LSTM with peepholes (`P`, which PyTorch cannot export), every
/// direction's reordered into the input, forget and output gates, and a
/// constant `sequence_lens` giving each sequence its whole length: the
/// reference evaluator's outputs, which the peepholes change (the script
/// checks that). A `sequence_lens` that cuts a sequence short is refused
/// by name.
#[test]
fn lstm_peepholes_match_the_onnx_reference() {
    let kinds = matches_onnx_reference("lstm_peepholes");
    let count = kinds
        .iter()
        .filter(|&&k| k == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        .count();
    assert_eq!(count, 2, "one layer per direction: {kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let compiled = kiln_codegen::compile_file(&dir.join("lstm_peepholes.onnx")).unwrap();
    let peepholes = compiled
        .ops
        .iter()
        .filter(|op| matches!(op, kiln::graph::Op::LstmF32(o) if o.peephole.len == 4 * 9))
        .count();
    assert_eq!(peepholes, 2, "three peepholes of three units per direction");
    let error = kiln_codegen::compile_file(&dir.join("lstm_peepholes_short.onnx"))
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("sequence_lens"), "{error}");
}

/// ONNX GRU (PyTorch's `nn.GRU` export): a sequence-first layer with a
/// bias, a zero initial state and `linear_before_reset`, and a batch-first
/// one without a bias resetting before its recurrent layer; every output
/// used; eight cases on one runner (no state carries over). Quantized, the
/// GRUs stay float32.
#[test]
fn gru_matches_the_onnx_reference_and_keeps_no_state() {
    let kinds = matches_onnx_reference("gru");
    assert_eq!(
        kinds.iter().filter(|&&k| k == "GRU").count(),
        2,
        "{kinds:?}"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "gru");
    let gru_types: Vec<_> = int8
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind.name() == "GRU")
        .map(|n| int8.graph.tensors[n.outputs[0]].dtype)
        .collect();
    assert_eq!(gru_types, [kiln_codegen::ir::DataType::F32; 2]);
    let layers = summary["sqnr"].as_array().unwrap();
    let output = layers.iter().find(|l| l["tensor"] == "y").unwrap();
    assert!(output["db"].as_f64().unwrap() > 30.0, "{output}");
}

/// LSTM and GRU in the directions ONNX has: bidirectional (PyTorch's
/// `bidirectional=True` export, every output named), reverse, batch first
/// and sequence first, with and without `Y` named. Each direction is one
/// forward layer; a backward one reads its input reversed in time and,
/// where `Y` is used, its sequence is reversed back.
#[test]
fn recurrent_layers_in_every_direction_match_the_onnx_reference() {
    let kinds = matches_onnx_reference("rnn_directions");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    // LSTMs: two directions + a reverse one; GRUs: a reverse one + two.
    assert_eq!(count("UNIDIRECTIONAL_SEQUENCE_LSTM"), 3, "{kinds:?}");
    assert_eq!(count("GRU"), 3, "{kinds:?}");
    // Inputs reversed: the LSTMs' x twice, the GRUs' input twice; outputs
    // reversed back: the two LSTMs' and the reverse GRU's `Y` (the
    // bidirectional GRU's `Y` is unused).
    assert_eq!(count("SLICE"), 7, "{kinds:?}");
    // Quantized, the layers stay float32 and the output keeps its precision.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (int8, summary) = quantize_fixture(&dir, "rnn_directions");
    let recurrent = |n: &&kiln_codegen::ir::Node| {
        ["UNIDIRECTIONAL_SEQUENCE_LSTM", "GRU"].contains(&n.kind.name())
    };
    let types: Vec<_> = (int8.graph.nodes.iter().filter(recurrent))
        .map(|n| int8.graph.tensors[n.outputs[0]].dtype)
        .collect();
    assert_eq!(types, [kiln_codegen::ir::DataType::F32; 6]);
    let layers = summary["sqnr"].as_array().unwrap();
    let output = layers.iter().find(|l| l["tensor"] == "y").unwrap();
    assert!(output["db"].as_f64().unwrap() > 30.0, "{output}");
}

/// Recurrent layers whose initial states are inputs of the graph
/// (PyTorch's `lstm(x, (h0, c0))`): a bidirectional LSTM, each direction
/// starting from its slice of h0 and c0, a batch-first bidirectional LSTM
/// from h1 and a zero cell state, a batch-first bidirectional GRU and a
/// reverse one.
/// Every run starts from the states it is given: the eight cases run one
/// after another on one runner.
#[test]
fn recurrent_layers_start_from_initial_states_given_as_inputs() {
    let kinds = matches_onnx_reference("rnn_initial_states");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("UNIDIRECTIONAL_SEQUENCE_LSTM"), 4, "{kinds:?}");
    assert_eq!(count("GRU"), 3, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let compiled = kiln_codegen::compile_file(&dir.join("rnn_initial_states.onnx")).unwrap();
    assert_eq!(compiled.graph.inputs.len(), 6);
    assert!(compiled.state.is_empty(), "{:?}", compiled.state);
}

/// A constant initial state other than zeros is refused by name (kiln
/// starts from zeros or from a value of the graph).
#[test]
fn a_nonzero_constant_initial_state_is_refused() {
    let mut lstm = node("LSTM", &["x", "w", "r", "", "", "h0"], &["y"]);
    // The attribute hidden_size = 1 (AttributeProto: name, i, type INT).
    let mut attribute = Vec::new();
    field(&mut attribute, 1, b"hidden_size");
    attribute.extend([0x18, 1, 0xa0, 0x01, 2]);
    field(&mut lstm, 5, &attribute);
    let weights = |name| initializer(name, 1, &[1, 4, 1], &[0; 16]);
    let h0 = initializer("h0", 1, &[1, 1, 1], &0.5f32.to_le_bytes());
    let bytes = model_with(
        &[lstm],
        &[weights("w"), weights("r"), h0],
        value_info("x", 1, &[1, 1, 1]),
        value_info("y", 1, &[1, 1, 1, 1]),
    );
    let error = import(&bytes).unwrap_err().to_string();
    assert!(
        error.contains("constant initial state that is not zeros"),
        "{error}"
    );
}

/// A layer norm and a GELU as PyTorch exports them unfused: Pow by 2 and
/// by 0.5 become SQUARE and SQRT, Erf the float32 ERF; quantized, they
/// stay float32 and the output keeps its precision.
#[test]
fn layer_norm_and_gelu_match_the_onnx_reference() {
    let kinds = matches_onnx_reference("gelu_norm");
    for op in ["SQUARE", "SQRT", "ERF"] {
        assert!(kinds.contains(&op), "{op} not in {kinds:?}");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (_, summary) = quantize_fixture(&dir, "gelu_norm");
    let layers = summary["sqnr"].as_array().unwrap();
    let output = layers.iter().find(|l| l["tensor"] == "y").unwrap();
    assert!(output["db"].as_f64().unwrap() > 30.0, "{summary}");
}

/// LayerNormalization (opset 17) over the last axis with a bias and over
/// the last two without one runs as the means and arithmetic it is
/// defined by; quantized, the output keeps its precision.
#[test]
fn layer_normalization_matches_and_quantizes() {
    let kinds = matches_onnx_reference("layer_norm");
    let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count("MEAN"), 4, "{kinds:?}");
    assert_eq!(count("RSQRT"), 2, "{kinds:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (_, summary) = quantize_fixture(&dir, "layer_norm");
    let layers = summary["sqnr"].as_array().unwrap();
    for output in ["y", "z"] {
        let layer = layers.iter().find(|l| l["tensor"] == output).unwrap();
        assert!(layer["db"].as_f64().unwrap() > 25.0, "{layer}");
    }
}

/// ONNX Sum of four same-shaped values runs as ADD_N (in ONNX's order of
/// additions), the Sum of one value is that value; quantized, ADD_N stays
/// float32.
#[test]
fn sum_runs_as_add_n() {
    let kinds = matches_onnx_reference("sum");
    assert_eq!(
        kinds.iter().filter(|&&k| k == "ADD_N").count(),
        1,
        "{kinds:?}"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx_ops");
    let (_, summary) = quantize_fixture(&dir, "sum");
    let layers = summary["sqnr"].as_array().unwrap();
    let output = layers.iter().find(|l| l["tensor"] == "y").unwrap();
    assert!(output["db"].as_f64().unwrap() > 30.0, "{summary}");
}

/// An INT attribute (AttributeProto: name, i, type INT).
fn int_attribute(name: &str, value: i64) -> Vec<u8> {
    let mut a = Vec::new();
    field(&mut a, 1, name.as_bytes());
    a.push(0x18); // i
    varint(&mut a, value as u64);
    a.extend([0xa0, 0x01]); // type
    varint(&mut a, 2);
    a
}

/// ArgMax taking the last extreme, and an axis past the rank, are refused
/// with the reason.
#[test]
fn arg_max_forms_kiln_does_not_take_are_clear_errors() {
    for (attribute, value, expected) in [
        ("select_last_index", 1, "select_last_index 1"),
        ("axis", 2, "axis 2 out of range for rank 2"),
        ("axis", -3, "axis -3 out of range for rank 2"),
    ] {
        let mut n = node("ArgMax", &["x"], &["y"]);
        field(&mut n, 5, &int_attribute(attribute, value));
        let m = model(
            &[n],
            value_info("x", 1, &[2, 4]),
            value_info("y", 7, &[1, 4]),
        );
        let e = import(&m).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
}

/// LayerNormalization's training outputs, a stash type other than float32
/// and an axis past the rank are refused with the reason.
#[test]
fn layer_norm_forms_kiln_does_not_take_are_clear_errors() {
    let scale = initializer("s", 1, &[4], &[0u8; 16]);
    /// Outputs, an attribute, the error.
    type Case<'a> = (&'a [&'a str], Option<(&'a str, i64)>, &'a str);
    let cases: [Case; 4] = [
        (&["y", "mean"], None, "the Mean and InvStdDev outputs"),
        (&["y", "", "inv"], None, "the Mean and InvStdDev outputs"),
        (&["y"], Some(("stash_type", 11)), "stash_type other than 1"),
        (&["y"], Some(("axis", 2)), "axis 2 out of range for rank 2"),
    ];
    for (outputs, attribute, expected) in cases {
        let mut n = node("LayerNormalization", &["x", "s"], outputs);
        if let Some((name, value)) = attribute {
            field(&mut n, 5, &int_attribute(name, value));
        }
        let m = model_with(
            &[n],
            std::slice::from_ref(&scale),
            value_info("x", 1, &[2, 4]),
            value_info("y", 1, &[2, 4]),
        );
        let e = import(&m).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
}
