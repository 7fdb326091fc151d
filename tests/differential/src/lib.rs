//! Random differential testing of kiln against TensorFlow Lite Micro.
//!
//! Layer: test tooling (host only); uses `kiln-codegen` to import, compile
//! and run on the host, and `flatbuffers` to write models.
//!
//! [`case`] turns an op name and a seed into a single-op (or small
//! multi-op) int8 TFLite model and its random inputs ([`generate`] holds
//! one generator per op kind);
//! the same op and seed give the same bytes on every machine. TFLM's
//! outputs for the committed seeds live in `tests/fixtures/differential`
//! ([`fixture`]); `cargo xtask difftest` regenerates them with TFLM's
//! Python interpreter and runs any number of fresh seeds on demand, and the
//! tests compare kiln with them byte for byte on the host, in generated
//! code and on the emulated Cortex-M4.

pub mod fixture;
pub mod generate;
pub mod rng;
pub mod tflite;

use std::path::{Path, PathBuf};

use kiln_codegen::npy::NpyArray;

use generate::Gen;

/// One op kind's generator.
pub struct OpKind {
    /// The TFLite operator's name, or a small multi-op model's (the
    /// fixture file's name too).
    pub name: &'static str,
    /// Builds the op's model in `Gen`; returns the model's outputs.
    pub generate: fn(&mut Gen) -> Vec<i32>,
}

/// Every int8 TFLite op kind kiln supports, with its generator, and two
/// small multi-op models; all but
/// RELU_N1_TO_1: TFLM has no kernel for it as an op of its own (it is
/// covered as the fused activation of the ops that take one).
pub const OPS: &[OpKind] = &[
    OpKind {
        name: "ADD",
        generate: generate::add,
    },
    OpKind {
        name: "AVERAGE_POOL_2D",
        generate: generate::average_pool_2d,
    },
    OpKind {
        name: "CONCATENATION",
        generate: generate::concatenation,
    },
    OpKind {
        name: "CONV_2D",
        generate: generate::conv_2d,
    },
    OpKind {
        name: "DEPTHWISE_CONV_2D",
        generate: generate::depthwise_conv_2d,
    },
    OpKind {
        name: "DEQUANTIZE",
        generate: generate::dequantize,
    },
    OpKind {
        name: "FULLY_CONNECTED",
        generate: generate::fully_connected,
    },
    OpKind {
        name: "HARD_SWISH",
        generate: generate::hard_swish,
    },
    OpKind {
        name: "LEAKY_RELU",
        generate: generate::leaky_relu,
    },
    OpKind {
        name: "LOGISTIC",
        generate: generate::logistic,
    },
    OpKind {
        name: "MAX_POOL_2D",
        generate: generate::max_pool_2d,
    },
    OpKind {
        name: "MEAN",
        generate: generate::mean,
    },
    OpKind {
        name: "MUL",
        generate: generate::mul,
    },
    OpKind {
        name: "PAD",
        generate: generate::pad,
    },
    OpKind {
        name: "PRELU",
        generate: generate::prelu,
    },
    OpKind {
        name: "QUANTIZE",
        generate: generate::quantize,
    },
    OpKind {
        name: "RELU",
        generate: generate::relu,
    },
    OpKind {
        name: "RELU6",
        generate: generate::relu6,
    },
    OpKind {
        name: "RESHAPE",
        generate: generate::reshape,
    },
    OpKind {
        name: "SOFTMAX",
        generate: generate::softmax,
    },
    OpKind {
        name: "SQUEEZE",
        generate: generate::squeeze,
    },
    OpKind {
        name: "SUB",
        generate: generate::sub,
    },
    OpKind {
        name: "TANH",
        generate: generate::tanh,
    },
    OpKind {
        name: "TRANSPOSE_CONV",
        generate: generate::transpose_conv,
    },
    // Small multi-op models.
    OpKind {
        name: "INVERTED_RESIDUAL",
        generate: generate::inverted_residual,
    },
    OpKind {
        name: "CLASSIFIER_HEAD",
        generate: generate::classifier_head,
    },
];

/// The op kind called `name`.
pub fn op(name: &str) -> Option<&'static OpKind> {
    OPS.iter().find(|o| o.name == name)
}

/// One generated test case.
pub struct Case {
    /// The `.tflite` file's bytes.
    pub model: Vec<u8>,
    /// The model's inputs, in the subgraph's input order.
    pub inputs: Vec<NpyArray>,
    /// Its features worth counting: "grouped", "dilated", "fused
    /// RELU_N1_TO_1", "int8 to int8", "float32 to int8", "per-channel",
    /// "rank 5 or 6".
    pub tags: Vec<&'static str>,
}

/// FNV-1a, 64 bits: a fixture records its model's hash, so that a changed
/// generator cannot be compared against stale references unnoticed.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The case that `seed` gives for `op`.
pub fn case(op: &OpKind, seed: u64) -> Case {
    let mut g = Gen {
        rng: rng::Rng::new(fnv1a(op.name.as_bytes()) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        model: tflite::Model::new(),
        inputs: Vec::new(),
        tags: Vec::new(),
    };
    let outputs = (op.generate)(&mut g);
    let input_ids: Vec<i32> = g.inputs.iter().map(|(t, _)| *t).collect();
    Case {
        model: g.model.finish(&input_ids, &outputs),
        inputs: g.inputs.into_iter().map(|(_, a)| a).collect(),
        tags: g.tags,
    }
}

/// The module name of case `seed` of `op` in generated code
/// (`tests/generated` compiles every committed case).
pub fn generated_name(op: &OpKind, seed: u64) -> String {
    format!("diff_{}_{seed}", op.name.to_lowercase())
}

/// The committed fixtures: `tests/fixtures/differential` in the repository.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/differential")
}

/// Imports, compiles and runs `case` on the host: the output bytes, or
/// kiln's error as text.
pub fn run_on_host(case: &Case) -> Result<Vec<u8>, String> {
    let graph = kiln_codegen::import::tflite::import_bytes(&case.model, Path::new("case.tflite"))
        .map_err(|e| e.to_string())?;
    let model = kiln_codegen::lower::compile(graph).map_err(|e| e.to_string())?;
    let outputs = kiln_codegen::run::HostRunner::new(&model)
        .run(&case.inputs)
        .map_err(|e| e.to_string())?;
    Ok(outputs.into_iter().flat_map(|o| o.data).collect())
}
