//! # kiln-codegen: trained models to static Rust for the kiln runtime
//!
//! The host half of Kiln, as a library (for `build.rs` and tools) and as the
//! `kiln` CLI. The pipeline, one module per stage:
//!
//! - [`import`]: model files to the [`ir`] (TFLite flatbuffers);
//! - [`plan`]: arena offsets from tensor lifetimes ([`plan_svg`] draws them);
//! - [`quantize`]: TFLite's derived quantization constants;
//! - [`lower`]: IR to the runtime's op descriptors ([`lower::CompiledModel`]);
//! - [`emit`]: a Rust module and its weights file; [`Builder`] for `build.rs`;
//! - [`report`], [`run`], [`npy`]: what the CLI shows, runs and reads;
//!   [`blob_file`]: a `.kiln` blob inspected and run on the host;
//!   `validate` (feature `host`): whole data sets on the CPU or CUDA.

pub mod blob_file;
pub mod builder;
pub mod emit;
pub mod error;
pub mod import;
pub mod ir;
pub mod lower;
pub mod npy;
pub mod ops;
pub mod passes;
pub mod plan;
pub mod plan_svg;
pub mod quantize;
pub mod report;
pub mod run;
pub mod signing;
pub mod stack;
pub mod support;
#[cfg(feature = "host")]
pub mod validate;

pub use builder::Builder;
pub use error::{Error, Result};
pub use lower::CompiledModel;
pub use quantize::observer::ObserverKind;

/// Imports and compiles a model file. A pre-quantized model (QDQ ONNX)
/// compiles to int8 with its own quantization parameters.
pub fn compile_file(path: &std::path::Path) -> Result<CompiledModel> {
    compile(import::import(path)?)
}

/// Compiles an imported graph, as [`compile_file`].
pub fn compile(graph: ir::Graph) -> Result<CompiledModel> {
    if graph.is_prequantized() {
        let int8 = quantize::ptq::quantize(&graph, None, quantize::observer::ObserverKind::MinMax)?;
        return lower::compile(int8);
    }
    lower::compile(graph)
}

/// Imports and compiles a model file in float32: a pre-quantized model's
/// float ops with its dequantized weights.
pub fn compile_float_file(path: &std::path::Path) -> Result<CompiledModel> {
    lower::compile(import::import(path)?.without_quantization_hints())
}

/// Imports a float32 model and quantizes it to int8 with calibration data:
/// `calibration` stacks float32 samples of the model's single input on a
/// new first axis (with or without the input's leading batch dimension of 1).
/// A pre-quantized model keeps its own parameters where it has them.
pub fn quantize_file(
    path: &std::path::Path,
    calibration: &npy::NpyArray,
    observer: quantize::observer::ObserverKind,
) -> Result<CompiledModel> {
    quantize_graph(import::import(path)?, calibration, observer)
}

/// [`quantize_file`] of an imported graph.
pub fn quantize_graph(
    float_graph: ir::Graph,
    calibration: &npy::NpyArray,
    observer: quantize::observer::ObserverKind,
) -> Result<CompiledModel> {
    let path = float_graph.source.clone();
    let path = path.as_path();
    let float = lower::compile(float_graph.clone().without_quantization_hints())?;
    let [io] = &float.inputs[..] else {
        return Err(Error::Data {
            path: path.to_owned(),
            detail: "calibration takes single-input models".into(),
        });
    };
    let shape: Vec<usize> = io.shape().iter().map(|&d| d as usize).collect();
    let without_batch = if shape.first() == Some(&1) {
        &shape[1..]
    } else {
        &shape[..]
    };
    let ok = !calibration.shape.is_empty()
        && (calibration.shape[1..] == shape[..] || calibration.shape[1..] == *without_batch);
    if !ok || io.dtype != kiln::DType::F32 {
        return Err(Error::Data {
            path: path.to_owned(),
            detail: format!("calibration data of shape {:?} does not fit a float32 input of shape {shape:?} (expected [N, ...])", calibration.shape),
        });
    }
    let count = calibration.shape[0];
    let samples: Vec<u8> = calibration
        .to_f64()
        .into_iter()
        .flat_map(|v| (v as f32).to_le_bytes())
        .collect();
    let calib = quantize::calibrate::calibrate(&float, &samples, count, observer)?;
    let int8 = quantize::ptq::quantize(&float_graph, Some(&calib), observer)?;
    lower::compile(int8)
}
