//! Importers: model files to the IR.
//!
//! Layer: import; uses `ir` and `error`.

mod flatbuffer;
mod flexbuffer;
pub mod onnx;
pub mod protobuf;
pub mod tflite;

use std::path::Path;

use crate::error::{Error, Result};
use crate::ir::Graph;

/// Reads a model file, choosing the importer by its contents.
pub fn import(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.len() >= 8 && &bytes[4..8] == b"TFL3" {
        return tflite::import_bytes(&bytes, path);
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("onnx") {
        return onnx::import_bytes(&bytes, path);
    }
    if bytes.starts_with(&kiln::blob::MAGIC) {
        return Err(Error::Malformed {
            path: path.to_owned(),
            detail: "this is a compiled kiln blob, not a TFLite or ONNX model: \
                `kiln inspect` and `kiln run` take it; compiling, quantizing \
                and validating start from the model it was compiled from"
                .into(),
        });
    }
    tflite::import_bytes(&bytes, path)
}
