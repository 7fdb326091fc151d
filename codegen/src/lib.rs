//! # kiln-codegen: trained models to static Rust for the kiln runtime
//!
//! The host half of Kiln, as a library (for `build.rs` and tools) and as the
//! `kiln` CLI. The pipeline, one module per stage:
//!
//! - [`import`]: model files to the [`ir`] (TFLite flatbuffers);
//! - [`plan`]: arena offsets from tensor lifetimes;
//! - [`quantize`]: TFLite's derived quantization constants;
//! - [`lower`]: IR to the runtime's op descriptors ([`lower::CompiledModel`]);
//! - [`emit`]: a Rust module and its weights file; [`Builder`] for `build.rs`;
//! - [`report`], [`run`], [`npy`]: what the CLI shows, runs and reads;
//!   `validate` (feature `host`): whole data sets on the CPU or CUDA.

pub mod builder;
pub mod emit;
pub mod error;
pub mod import;
pub mod ir;
pub mod lower;
pub mod npy;
pub mod plan;
pub mod quantize;
pub mod report;
pub mod run;
#[cfg(feature = "host")]
pub mod validate;

pub use builder::Builder;
pub use error::{Error, Result};
pub use lower::CompiledModel;

/// Imports and compiles a model file.
pub fn compile_file(path: &std::path::Path) -> Result<CompiledModel> {
    lower::compile(import::import(path)?)
}
