//! Compiles models with `kiln_codegen::Builder`, as a firmware's build
//! script would, and writes `models.rs`: one module per model, a `run`
//! function that calls its generated `Model::run` on raw input bytes, and
//! `graph` giving its generated `GRAPH`. The project's own models (the
//! digits example, the op-coverage fixtures, TFLite and ONNX, the float32
//! SVDF fixture, and every
//! committed random differential case) are always built; the shared int8
//! models when `../shared` is present.

use std::fmt::Write;
use std::path::PathBuf;

#[path = "../common/models.rs"]
mod models;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = manifest.join("../..");
    let shared = std::env::var_os("KILN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared"));
    println!("cargo:rerun-if-env-changed=KILN_SHARED");
    println!("cargo:rerun-if-changed={}", shared.join("models").display());

    let mut list: Vec<(String, PathBuf)> = vec![
        (
            "digits_int8".into(),
            repo.join("examples/digits/digits_int8.tflite"),
        ),
        (
            "onnx_ops".into(),
            repo.join("tests/fixtures/onnx_ops/onnx_ops.onnx"),
        ),
        (
            "shape_arith".into(),
            repo.join("tests/fixtures/onnx_ops/shape_arith.onnx"),
        ),
        (
            "reduce_mean".into(),
            repo.join("tests/fixtures/onnx_ops/reduce_mean.onnx"),
        ),
        (
            "onnx_if".into(),
            repo.join("tests/fixtures/onnx_ops/if.onnx"),
        ),
        (
            "gelu_norm".into(),
            repo.join("tests/fixtures/onnx_ops/gelu_norm.onnx"),
        ),
        (
            "onnx_gru".into(),
            repo.join("tests/fixtures/onnx_ops/gru.onnx"),
        ),
        (
            "onnx_lstm".into(),
            repo.join("tests/fixtures/onnx_ops/lstm.onnx"),
        ),
        (
            "onnx_lstm_peepholes".into(),
            repo.join("tests/fixtures/onnx_ops/lstm_peepholes.onnx"),
        ),
        (
            "onnx_rnn_directions".into(),
            repo.join("tests/fixtures/onnx_ops/rnn_directions.onnx"),
        ),
        (
            "onnx_rnn_initial_states".into(),
            repo.join("tests/fixtures/onnx_ops/rnn_initial_states.onnx"),
        ),
    ];
    list.push((
        "op_zoo_svdf_float".into(),
        repo.join("tests/fixtures/op_zoo/svdf_float.tflite"),
    ));
    list.push((
        "op_zoo_circular_buffer_strided".into(),
        repo.join("tests/fixtures/op_zoo/circular_buffer_strided.tflite"),
    ));
    list.extend(models::OP_ZOO.iter().chain(models::FLOAT_ZOO).map(|zoo| {
        (
            format!("op_zoo_{zoo}"),
            repo.join(format!("tests/fixtures/op_zoo/{zoo}.tflite")),
        )
    }));
    // Every committed random differential case (tests/fixtures/differential),
    // its model rebuilt from its seed.
    let cases_dir = out.join("differential");
    std::fs::create_dir_all(&cases_dir).unwrap();
    println!(
        "cargo:rerun-if-changed={}",
        kiln_differential::fixture_dir().display()
    );
    for op in kiln_differential::OPS {
        let path = kiln_differential::fixture_dir().join(format!("{}.cases", op.name));
        let expected = kiln_differential::fixture::read(&path).unwrap_or_else(|e| panic!("{e}"));
        for e in expected {
            let name = kiln_differential::generated_name(op, e.seed);
            let file = cases_dir.join(format!("{name}.tflite"));
            std::fs::write(&file, kiln_differential::case(op, e.seed).model).unwrap();
            list.push((name, file));
        }
    }
    let available = shared.join("models").is_dir();
    if available {
        list.extend(
            models::INT8_MODELS
                .iter()
                .map(|&(name, file)| (name.to_string(), shared.join("models").join(file))),
        );
    }

    let (mut src, mut arms, mut graphs) = (String::new(), String::new(), String::new());
    let mut sequences = String::new();
    for (name, path) in &list {
        let g = kiln_codegen::Builder::new(path)
            .module(name)
            .out_dir(&out)
            .generate()
            .unwrap_or_else(|e| panic!("{e}"));
        let module = name.to_lowercase();
        let single = g.inputs.len() == 1;
        let args: Vec<String> = g
            .inputs
            .iter()
            .enumerate()
            .map(|(i, io)| {
                let len = if single {
                    "INPUT_LEN".to_string()
                } else {
                    format!("INPUT{i}_LEN")
                };
                let ty = kiln_codegen::emit::rust::rust_type(io.dtype);
                format!("&typed::<{ty}, {{ {len} }}>(inputs[{i}])?")
            })
            .collect();
        // A model whose runs may end early returns `None` then: an empty
        // output here.
        let output = |call: &str| {
            if g.ends_early {
                format!("{call}.map_or_else(Vec::new, |o| bytemuck::cast_slice(o).to_vec())")
            } else {
                format!("bytemuck::cast_slice({call}).to_vec()")
            }
        };
        // Each module runs itself: one function per model keeps the stack
        // frame of `run` small with thousands of models.
        writeln!(
            src,
            "pub mod {module} {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/{name}.rs\"));\n    #[allow(unused_imports)]\n    use super::typed;\n    pub fn run_bytes(inputs: &[&[u8]]) -> Option<Vec<u8>> {{\n        let mut arena = Box::new(kiln::Arena::<ARENA_BYTES>::new());\n        let mut model = Model::new(&mut arena);\n        Some({})\n    }}\n}}",
            output(&format!("model.run({})", args.join(", ")))
        )
        .unwrap();
        // A stateful model also runs a sequence on one `Model`, state
        // carried from sample to sample, then the first sample again after
        // `reset_state`.
        if !g.state.is_empty() {
            let sample_args = args.join(", ").replace("inputs[", "sample[");
            let step = output(&format!("model.run({sample_args})"));
            writeln!(
                src,
                "pub mod {module}_sequence {{\n    use super::{module}::*;\n    #[allow(unused_imports)]\n    use super::typed;\n    pub fn run(samples: &[Vec<&[u8]>]) -> Option<Vec<Vec<u8>>> {{\n        let mut arena = Box::new(kiln::Arena::<ARENA_BYTES>::new());\n        let mut model = Model::new(&mut arena);\n        let mut outputs = Vec::new();\n        for sample in samples {{\n            outputs.push({step});\n        }}\n        model.reset_state();\n        let sample = samples.first()?;\n        outputs.push({step});\n        Some(outputs)\n    }}\n}}"
            )
            .unwrap();
            writeln!(
                sequences,
                "        \"{name}\" => {module}_sequence::run(samples),"
            )
            .unwrap();
        }
        writeln!(arms, "        \"{name}\" => {module}::run_bytes(inputs),").unwrap();
        writeln!(graphs, "        \"{name}\" => Some(&{module}::GRAPH),").unwrap();
    }
    writeln!(src, "/// Whether the shared models were found when this crate was built.\npub static SHARED_AVAILABLE: bool = {available};").unwrap();
    writeln!(src, "/// Runs a model's generated `Model::run` on raw little-endian input bytes.\npub fn run(name: &str, inputs: &[&[u8]]) -> Option<Vec<u8>> {{\n    match name {{\n{arms}        _ => None,\n    }}\n}}").unwrap();
    writeln!(src, "/// Runs a stateful model's generated `Model::run` on each sample in turn,\n/// then on the first again after `reset_state`.\npub fn run_sequence(name: &str, samples: &[Vec<&[u8]>]) -> Option<Vec<Vec<u8>>> {{\n    match name {{\n{sequences}        _ => None,\n    }}\n}}").unwrap();
    writeln!(src, "/// A model's generated graph as data.\npub fn graph(name: &str) -> Option<&'static kiln::Graph<'static>> {{\n    match name {{\n{graphs}        _ => None,\n    }}\n}}").unwrap();
    std::fs::write(out.join("models.rs"), src).unwrap();
}
