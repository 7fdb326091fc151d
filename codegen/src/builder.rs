//! `Builder`: compile a model from a firmware's `build.rs` into `OUT_DIR`.
//!
//! Layer: top of kiln-codegen; uses `import`, `quantize`, `lower` and `emit`.
//!
//! ```no_run
//! // build.rs
//! kiln_codegen::Builder::new("models/kws.tflite").module("kws").generate().unwrap();
//! // src/main.rs: mod kws { include!(concat!(env!("OUT_DIR"), "/kws.rs")); }
//! ```
//!
//! A float model is quantized to int8 here as `kiln compile --calibrate`
//! does, byte for byte (`codegen/tests/cli.rs` checks it):
//!
//! ```no_run
//! use kiln_codegen::{Builder, ObserverKind};
//! Builder::new("models/cnn.onnx")
//!     .calibrate("models/calibration.npy")
//!     .observer(ObserverKind::Mse)
//!     .generate()
//!     .unwrap();
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lower::CompiledModel;
use crate::quantize::observer::ObserverKind;

/// Compiles one model into `OUT_DIR` (see the module docs). Errors name the
/// model file, the op and the reason, as the CLI prints them; their `Debug`
/// form is that same text, so `.unwrap()` in a build script reads well.
pub struct Builder {
    model: PathBuf,
    module: Option<String>,
    out_dir: Option<PathBuf>,
    blob: bool,
    signing_key: Option<PathBuf>,
    calibration: Option<PathBuf>,
    observer: ObserverKind,
}

/// What `generate` wrote.
pub struct Generated {
    pub module_file: PathBuf,
    pub weights_file: PathBuf,
    pub arena_bytes: usize,
    pub weights_bytes: usize,
    /// Number of ops (the room `kiln::blob::load` needs for this model).
    pub op_count: usize,
    /// The model's inputs and outputs, for code that calls `Model::run`.
    pub inputs: Vec<kiln::TensorIo>,
    pub outputs: Vec<kiln::TensorIo>,
    /// Its variable tensors: non-empty for a stateful model, whose
    /// generated `Model` then has `reset_state`.
    pub state: Vec<kiln::StateTensor>,
    /// Whether some runs end early (a CIRCULAR_BUFFER that lets the graph
    /// run every few calls): the generated `Model::run` then returns an
    /// `Option` of the output (a `kiln::Ran` for several outputs).
    pub ends_early: bool,
}

/// A Rust identifier from a file stem: `kws-ref.model` becomes `kws_ref_model`.
pub fn module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "model_");
    }
    name
}

impl Builder {
    pub fn new(model: impl AsRef<Path>) -> Self {
        Builder {
            model: model.as_ref().to_owned(),
            module: None,
            out_dir: None,
            blob: false,
            signing_key: None,
            calibration: None,
            observer: ObserverKind::MinMax,
        }
    }

    /// Quantizes a float32 model to int8 first, calibrated on these samples
    /// (`.npy`, float32 inputs stacked on a new first axis), as `kiln compile
    /// --calibrate`. A pre-quantized (QDQ) ONNX model needs none; given, it
    /// fills only the parameters the model leaves out.
    pub fn calibrate(mut self, samples: impl AsRef<Path>) -> Self {
        self.calibration = Some(samples.as_ref().to_owned());
        self
    }

    /// How calibration picks each activation's range (`--observer`);
    /// defaults to the extremes seen, as TFLite's converter does.
    pub fn observer(mut self, kind: ObserverKind) -> Self {
        self.observer = kind;
        self
    }

    /// Name of the generated module file (`NAME.rs`); defaults to the model's file stem.
    pub fn module(mut self, name: &str) -> Self {
        self.module = Some(name.to_owned());
        self
    }

    /// Where to write; defaults to `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Also write the model as a postcard blob, `NAME.kiln` (see `kiln::blob`).
    pub fn blob(mut self, yes: bool) -> Self {
        self.blob = yes;
        self
    }

    /// Writes the blob signed with the secret key in `key` (`kiln keygen`'s
    /// `NAME.key`), for `kiln::blob::load_signed`; implies `blob(true)`.
    pub fn sign(mut self, key: impl AsRef<Path>) -> Self {
        self.blob = true;
        self.signing_key = Some(key.as_ref().to_owned());
        self
    }

    pub fn generate(self) -> Result<Generated> {
        let out_dir = match self.out_dir {
            Some(d) => d,
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| Error::Io {
                path: PathBuf::from("$OUT_DIR"),
                source: std::io::Error::other(
                    "OUT_DIR is not set: call out_dir() outside build scripts",
                ),
            })?),
        };
        if std::env::var_os("OUT_DIR").is_some() {
            let inputs = [&self.calibration, &self.signing_key];
            for input in std::iter::once(&self.model).chain(inputs.into_iter().flatten()) {
                println!("cargo:rerun-if-changed={}", input.display());
            }
        }
        let name = self.module.unwrap_or_else(|| module_name(&self.model));
        let model = match &self.calibration {
            Some(samples) => {
                crate::quantize_file(&self.model, &crate::npy::read(samples)?, self.observer)?
            }
            None => crate::compile_file(&self.model)?,
        };
        if self.blob {
            write_blob(&model, &out_dir, &name, self.signing_key.as_deref())?;
        }
        write_module(&model, &out_dir, &name)
    }
}

/// Writes `NAME.rs` and `NAME.weights.bin` into `dir`.
pub fn write_module(model: &CompiledModel, dir: &Path, name: &str) -> Result<Generated> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let weights_name = format!("{name}.weights.bin");
    let weights_file = dir.join(&weights_name);
    let module_file = dir.join(format!("{name}.rs"));
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
    };
    write(&weights_file, model.weights())?;
    write(
        &module_file,
        crate::emit::rust::module(model, &weights_name).as_bytes(),
    )?;
    Ok(Generated {
        module_file,
        weights_file,
        arena_bytes: model.arena_bytes(),
        weights_bytes: model.weights().len(),
        op_count: model.ops.len(),
        inputs: model.inputs.clone(),
        outputs: model.outputs.clone(),
        state: model.state.clone(),
        ends_early: kiln::exec::can_end_early(&model.runtime_graph()),
    })
}

/// Writes `NAME.kiln`, the model as a postcard blob, into `dir`; signed with
/// the secret key in `signing_key` if given.
pub fn write_blob(
    model: &CompiledModel,
    dir: &Path,
    name: &str,
    signing_key: Option<&Path>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(format!("{name}.kiln"));
    let mut bytes = crate::emit::blob::blob(model);
    if let Some(key) = signing_key {
        bytes = crate::signing::sign_blob(&bytes, key)?;
    }
    std::fs::write(&path, bytes).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
