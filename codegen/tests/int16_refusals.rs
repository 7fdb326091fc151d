//! The int16 (16x8) lowerings refuse, by name and with the reason, what
//! TFLite Micro does not run or what kiln cannot match it on: each case
//! takes an op-zoo fixture that compiles and changes one tensor's
//! quantization or one op, then expects `compile` to name the op.

use std::path::{Path, PathBuf};

use kiln_codegen::ir::{DataType, Graph, OpKind};
use kiln_codegen::ops::Reducer;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo")
        .join(format!("{name}.tflite"))
}

fn import(name: &str) -> Graph {
    let graph = kiln_codegen::import::import(&fixture(name)).unwrap();
    kiln_codegen::compile(graph.clone())
        .unwrap_or_else(|e| panic!("{name} compiles as it is: {e}"));
    graph
}

/// The error of compiling `graph`, which must fail.
fn refusal(graph: Graph) -> String {
    match kiln_codegen::compile(graph) {
        Ok(_) => panic!("compiled"),
        Err(e) => e.to_string(),
    }
}

/// The index of the first tensor named `name`.
fn tensor(g: &Graph, name: &str) -> usize {
    g.tensors.iter().position(|t| t.name == name).unwrap()
}

fn set_zero_point(g: &mut Graph, name: &str, zero_point: i64) {
    let t = tensor(g, name);
    g.tensors[t].quantization.as_mut().unwrap().zero_point = vec![zero_point];
}

#[test]
fn int16_arithmetic_with_a_zero_point_is_refused() {
    for (fixture, tensor_name, op) in [
        ("add_sub_int16", "sum", "ADD"),
        ("add_sub_int16", "difference", "SUB"),
        ("mul_int16", "scaled", "MUL"),
        ("relu_int16", "relu", "RELU"),
        ("mean_int16", "mean_0", "MEAN"),
        ("sigmoid_int16", "logistic_0", "LOGISTIC"),
        ("abs_int16", "abs", "ABS"),
        (
            "squared_difference_int16",
            "from the row",
            "SQUARED_DIFFERENCE",
        ),
        ("batch_matmul_int16", "x xT", "BATCH_MATMUL"),
        ("prelu_int16", "prelu by row", "PRELU"),
    ] {
        let mut g = import(fixture);
        set_zero_point(&mut g, tensor_name, 5);
        let err = refusal(g);
        assert!(
            err.contains(&format!("int16 {op}")) && err.contains("zero point"),
            "{fixture}: {err}"
        );
    }
}

#[test]
fn int16_sigmoids_need_an_output_scale_of_two_to_the_minus_15() {
    let mut g = import("sigmoid_int16");
    let t = tensor(&g, "tanh_1");
    g.tensors[t].quantization.as_mut().unwrap().scale = vec![1.0 / 30000.0];
    let err = refusal(g);
    assert!(err.contains("int16 TANH") && err.contains("2^-15"), "{err}");
}

#[test]
fn int16_add_to_a_scale_its_multiplier_cannot_reach_is_refused() {
    // 15 bits of headroom: an output scale 2^15 times finer than the
    // inputs' needs a multiplier of one or more, which TFLM refuses.
    let mut g = import("add_sub_int16");
    let t = tensor(&g, "sum");
    g.tensors[t].quantization.as_mut().unwrap().scale = vec![1e-9];
    let err = refusal(g);
    assert!(err.contains("ADD's output scale"), "{err}");
}

#[test]
fn int16_ops_tflite_micro_lacks_are_refused_by_name() {
    // MUL turned into DIV, SUM into REDUCE_MAX: TFLM has neither in int16.
    let mut g = import("mul_int16");
    let node = g
        .nodes
        .iter()
        .position(|n| matches!(n.kind, OpKind::Mul(_)))
        .unwrap();
    g.nodes[node].kind = OpKind::Div(kiln_codegen::ops::Div {
        activation: kiln_codegen::ir::Activation::None,
    });
    let err = refusal(g);
    assert!(err.contains("DIV"), "{err}");

    let mut g = import("mean_int16");
    let sum = g
        .nodes
        .iter()
        .position(|n| matches!(&n.kind, OpKind::Reduce(r) if r.reducer == Reducer::Sum))
        .unwrap();
    let OpKind::Reduce(reduce) = &mut g.nodes[sum].kind else {
        unreachable!()
    };
    reduce.reducer = Reducer::Max;
    let err = refusal(g);
    assert!(err.contains("int16 REDUCE_MAX"), "{err}");
}

/// TFLM's int16 TRANSPOSE_CONV reads its bias as int64 values (the pip
/// package reads an int32 one so too, which gives garbage): kiln refuses
/// an int32 bias.
#[test]
fn int16_transpose_conv_with_an_int32_bias_is_refused() {
    let mut g = import("transpose_conv_int16");
    let t = tensor(&g, "bias 0");
    let narrowed: Vec<u8> = g.tensors[t]
        .data
        .as_ref()
        .unwrap()
        .chunks(8)
        .flat_map(|c| (i64::from_le_bytes(c.try_into().unwrap()) as i32).to_le_bytes())
        .collect();
    g.tensors[t].dtype = DataType::I32;
    g.tensors[t].data = Some(narrowed);
    let err = refusal(g);
    assert!(
        err.contains("int16 TRANSPOSE_CONV with a bias other than int64"),
        "{err}"
    );
}

/// TFLM's int16 SOFTMAX writes probabilities in Q0.15: another output
/// scale is refused.
#[test]
fn int16_softmax_to_another_scale_is_refused() {
    let mut g = import("softmax_int16");
    let t = tensor(&g, "softmax");
    g.tensors[t].quantization.as_mut().unwrap().scale = vec![1.0 / 65536.0];
    let err = refusal(g);
    assert!(
        err.contains("int16 SOFTMAX") && err.contains("1/32768"),
        "{err}"
    );
}
