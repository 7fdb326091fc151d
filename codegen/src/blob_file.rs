//! A `.kiln` blob read on the host, so that `kiln inspect` and `kiln run`
//! can check a blob before it is sent over the air: the same loader and
//! validation as the firmware (`kiln::blob::load`), then the same executor.
//!
//! Layer: top of kiln-codegen beside `run`; uses `kiln::blob` and `report`'s
//! JSON conventions. A blob carries no tensor names, MACs or source graph:
//! what it reports is what the device will run.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The most ops a blob may have when loaded on the host (a firmware picks
/// its own bound). `load` builds the graph on the stack: about 480 KiB (an
/// op slot is as large as the largest op, a residual block's 468 bytes);
/// the CLI runs on a thread with room for it.
pub const HOST_MAX_OPS: usize = 1024;

/// Whether the file starts as a blob or a signed blob does (the `KILNBLOB`
/// or `KILNSIGN` magic), so a blob is recognized whatever its extension.
pub fn is_blob(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == kiln::blob::MAGIC || magic == kiln::blob::SIGNED_MAGIC)
}

/// What was established about a blob's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// The blob carries none.
    Unsigned,
    /// It carries one, checked with the given public key.
    Verified,
    /// It carries one, not checked (no public key given).
    NotChecked,
}

/// A blob's bytes, 16-byte aligned as `kiln::blob::load` requires.
pub struct BlobFile {
    path: PathBuf,
    words: Vec<u128>,
    len: usize,
}

impl BlobFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        Ok(BlobFile {
            path: path.to_owned(),
            words,
            len: bytes.len(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    pub fn is_signed(&self) -> bool {
        self.bytes().starts_with(&kiln::blob::SIGNED_MAGIC)
    }

    /// Decodes and validates the blob as the firmware does; anything wrong
    /// (a flipped bit, a truncated file, another format version) is an error
    /// naming the file. With `public_key`, the blob must be signed with its
    /// secret key (`kiln::blob::load_signed`); without, a signed blob's
    /// signature is skipped and the report says so.
    pub fn load(
        &self,
        public_key: Option<&[u8; 32]>,
    ) -> Result<(kiln::blob::BlobGraph<'_, HOST_MAX_OPS>, Signature)> {
        let error = |error| Error::Runtime {
            path: self.path.clone(),
            error,
        };
        let bytes = self.bytes();
        match (public_key, self.is_signed()) {
            (Some(key), _) => Ok((
                kiln::blob::load_signed(bytes, key).map_err(error)?,
                Signature::Verified,
            )),
            (None, true) => {
                let blob = bytes.get(kiln::blob::SIGNED_PREFIX..).unwrap_or(&[]);
                Ok((
                    kiln::blob::load(blob).map_err(error)?,
                    Signature::NotChecked,
                ))
            }
            (None, false) => Ok((kiln::blob::load(bytes).map_err(error)?, Signature::Unsigned)),
        }
    }
}

fn dtype_name(d: kiln::DType) -> &'static str {
    match d {
        kiln::DType::I8 => "int8",
        kiln::DType::I16 => "int16",
        kiln::DType::I32 => "int32",
        kiln::DType::F32 => "float32",
        kiln::DType::U32 => "uint32",
        kiln::DType::U64 => "uint64",
        kiln::DType::Bool => "bool",
    }
}

fn io_json(index: usize, t: &kiln::TensorIo) -> Value {
    let quantized = !matches!(t.dtype, kiln::DType::F32 | kiln::DType::Bool);
    json!({
        "index": index,
        "shape": t.shape(),
        "dtype": dtype_name(t.dtype),
        "bytes": t.span.len,
        "arena_offset": t.span.offset,
        "scale": quantized.then_some(t.quantization.scale),
        "zero_point": quantized.then_some(t.quantization.zero_point),
    })
}

/// `kiln inspect` of a blob, as JSON: the ops the device runs, in order,
/// with their kernels and compiled params (as `inspect` of the source model
/// prints them), the inputs and outputs, the arena and the constants.
pub fn inspect_json(file: &BlobFile, graph: &kiln::Graph, signature: Signature) -> Value {
    let ops: Vec<Value> = graph
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            json!({
                "index": i,
                "op": op.name(),
                "kernel": op.kernel().name(),
                "params": format!("{op:?}"),
            })
        })
        .collect();
    let ios = |list: &[kiln::TensorIo]| -> Vec<Value> {
        list.iter()
            .enumerate()
            .map(|(i, t)| io_json(i, t))
            .collect()
    };
    json!({
        "model": file.path().display().to_string(),
        "format": "kiln blob",
        "blob_version": kiln::blob::VERSION,
        "blob_bytes": file.bytes().len(),
        "signature": match signature {
            Signature::Unsigned => "none",
            Signature::Verified => "verified",
            Signature::NotChecked => "not checked (no public key given)",
        },
        "ops": ops,
        "op_count": graph.ops.len(),
        "inputs": ios(graph.inputs),
        "outputs": ios(graph.outputs),
        "arena_bytes": graph.arena_bytes,
        "flash_bytes": graph.weights.len(),
    })
}

/// The same report as a table for people.
pub fn inspect_text(report: &Value) -> String {
    let mut s = String::new();
    s += &format!(
        "model: {} (kiln blob, format {}, {} bytes, checksum and graph checked)\n",
        report["model"].as_str().unwrap_or(""),
        report["blob_version"],
        report["blob_bytes"]
    );
    s += &format!(
        "signature: {}\n",
        report["signature"].as_str().unwrap_or("")
    );
    for key in ["inputs", "outputs"] {
        let list: Vec<String> = report[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let dims: Vec<String> = t["shape"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(Value::to_string)
                    .collect();
                let q = match (&t["scale"], &t["zero_point"]) {
                    (Value::Null, _) => String::new(),
                    (sc, zp) => format!(" (scale {sc}, zero point {zp})"),
                };
                format!(
                    "#{} {}[{}]{q}",
                    t["index"],
                    t["dtype"].as_str().unwrap_or("?"),
                    dims.join(",")
                )
            })
            .collect();
        s += &format!("{key}: {}\n", list.join("; "));
    }
    s += &format!("\n{:>3}  {:<18} kernel\n", "#", "op");
    for op in report["ops"].as_array().into_iter().flatten() {
        s += &format!(
            "{:>3}  {:<18} {}\n",
            op["index"].as_u64().unwrap_or(0),
            op["op"].as_str().unwrap_or(""),
            op["kernel"].as_str().unwrap_or("")
        );
    }
    s += &format!("\narena (planned):       {} bytes\n", report["arena_bytes"]);
    s += &format!(
        "flash for constants:   {} bytes (weights, biases, requantization params)\n",
        report["flash_bytes"]
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `load` returns the graph by value, on the stack: keep it well inside
    /// a test thread's 2 MiB.
    #[test]
    fn a_host_blob_graph_fits_a_thread_stack() {
        let bytes = std::mem::size_of::<kiln::blob::BlobGraph<'static, HOST_MAX_OPS>>();
        println!("BlobGraph<{HOST_MAX_OPS}>: {bytes} bytes");
        assert!(bytes <= 512 * 1024, "{bytes}");
    }
}
