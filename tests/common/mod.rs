//! Shared test helpers: finding `../shared`, and enumerating the golden
//! cases TFLite Micro produced for each int8 model.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "models.rs"]
mod models;
#[allow(unused_imports)]
pub use models::{f32s, floats_close, FLOAT_MODELS, FLOAT_ZOO, INT8_MODELS, OP_ZOO};

/// `../shared` (or `$KILN_SHARED`). Missing: a failure when `CI` is set,
/// otherwise `None` after saying that the test is skipped.
pub fn shared_dir(repo_root: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os("KILN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root.join("../shared"));
    if dir.join("models").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing and CI is set: the shared models and goldens are required",
            dir.display()
        );
    }
    eprintln!("skipped: {} not found (set KILN_SHARED)", dir.display());
    None
}

/// One golden sample: input files in model-input order, and TFLM's output.
pub struct Case {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
}

/// Every `input_k.npy` (or `input_k_i.npy` for several inputs) with its
/// `output_k.npy`, in `golden/<model>` and `golden/<model>/real`; at least
/// one, or the test fails.
pub fn cases(shared: &Path, model: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in [
        shared.join("golden").join(model),
        shared.join("golden").join(model).join("real"),
    ] {
        for k in 0.. {
            let output = dir.join(format!("output_{k}.npy"));
            if !output.exists() {
                break;
            }
            let inputs = sample_inputs(&dir, k);
            assert!(!inputs.is_empty(), "no inputs for {}", output.display());
            cases.push(Case { inputs, output });
        }
    }
    // A loop over no cases would pass without checking anything.
    assert!(
        !cases.is_empty(),
        "no golden cases for {model} in {}",
        shared.join("golden").join(model).display()
    );
    cases
}

/// Sample `k`'s inputs in `dir`: `input_k.npy`, or `input_k_i.npy` for
/// each input of a model that takes several (none if neither exists).
pub fn sample_inputs(dir: &Path, k: usize) -> Vec<PathBuf> {
    let single = dir.join(format!("input_{k}.npy"));
    if single.exists() {
        return vec![single];
    }
    (0..)
        .map(|i| dir.join(format!("input_{k}_{i}.npy")))
        .take_while(|p| p.exists())
        .collect()
}

/// TFLite Micro's arena head for a model, from its golden summary.
pub fn tflm_head(shared: &Path, model: &str) -> u64 {
    let text = std::fs::read_to_string(shared.join("golden").join(model).join("summary.json"))
        .expect("summary.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("summary.json is JSON");
    v["tflm_arena"]["head"].as_u64().expect("tflm_arena.head")
}

/// The bytes TFLite Micro keeps for a model's variable tensors (state),
/// outside its head, from the golden summary; 0 for a stateless model.
pub fn tflm_variable_bytes(shared: &Path, model: &str) -> u64 {
    let text = std::fs::read_to_string(shared.join("golden").join(model).join("summary.json"))
        .expect("summary.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("summary.json is JSON");
    v["tflm_arena"]["breakdown"]["TfLiteTensor variable buffer data"]["used"]
        .as_u64()
        .unwrap_or(0)
}

/// A directory of the test's own under the system's temporary directory,
/// removed with everything in it when dropped (also when the test fails), so
/// that test runs leave nothing behind: CI machines run the suite many times
/// on one disk, and a CUDA test's host driver alone is 25 MB.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// `kiln-<purpose>-<process>-<n>`, unique among this process's tests.
    pub fn new(purpose: &str) -> Self {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kiln-{purpose}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        ScratchDir(dir)
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes copied to a 16-byte aligned buffer, as flash holds a blob.
pub struct Aligned(Vec<u128>, usize);

impl Aligned {
    pub fn new(bytes: &[u8]) -> Self {
        let mut v = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
        Aligned(v, bytes.len())
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
}
