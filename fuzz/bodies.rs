//! The fuzz targets' bodies, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets`) and the regression test that replays every crash
//! input found (`codegen/tests/fuzz_regressions.rs`). Each takes arbitrary
//! bytes and must return without a panic.

use kiln_codegen::npy::{NpyArray, NpyType};
use kiln_codegen::quantize::{observer::ObserverKind, ptq};

/// TFLite bytes through import, lowering, planning and Rust emission: a
/// model or a `kiln_codegen::Error`.
pub fn tflite_compile(bytes: &[u8]) {
    let path = std::path::Path::new("fuzz.tflite");
    let Ok(graph) = kiln_codegen::import::tflite::import_bytes(bytes, path) else {
        return;
    };
    if let Ok(model) = kiln_codegen::compile(graph) {
        let _ = kiln_codegen::emit::rust::module(&model, "fuzz.weights.bin");
        let _ = kiln_codegen::emit::blob::blob(&model);
    }
}

/// ONNX bytes (plain or QDQ) through import, compilation and post-training
/// quantization on three samples: a model or an error.
pub fn onnx_quantize(bytes: &[u8]) {
    let path = std::path::Path::new("fuzz.onnx");
    let Ok(graph) = kiln_codegen::import::onnx::import_bytes(bytes, path) else {
        return;
    };
    if graph.is_prequantized() {
        if let Ok(int8) = ptq::quantize(&graph, None, ObserverKind::MinMax) {
            let _ = kiln_codegen::lower::compile(int8);
        }
        return;
    }
    let Ok(float) = kiln_codegen::lower::compile(graph.clone()) else {
        return;
    };
    // Small inputs only: the fuzzer should spend its time on the importer.
    let Some(io) = float.inputs.first() else {
        return;
    };
    let shape: Vec<usize> = io.shape().iter().map(|&d| d as usize).collect();
    let elements: usize = shape.iter().product();
    // Bounded work: no big arenas or MAC counts (a batch of 260,000 makes
    // a valid model whose calibration takes minutes).
    let macs: u64 = float
        .graph
        .nodes
        .iter()
        .map(|n| kiln_codegen::report::macs(&float.graph, n))
        .sum();
    if io.dtype != kiln::DType::F32
        || elements == 0
        || elements > 1 << 12
        || float.arena_bytes() > 1 << 20
        || macs > 1 << 22
    {
        return;
    }
    let mut stacked = vec![3];
    stacked.extend(&shape);
    let data = (0..3 * elements)
        .flat_map(|i| (((i * 37) % 17) as f32 / 8.0 - 1.0).to_le_bytes())
        .collect();
    let samples = NpyArray {
        dtype: NpyType::F32,
        shape: stacked,
        data,
    };
    let _ = kiln_codegen::quantize_graph(graph, &samples, ObserverKind::Mse);
}

/// Words of the arena the blob target runs in.
const ARENA_WORDS: usize = 4096;

/// Blob bytes through `kiln::blob::load` (and `load_signed`), then
/// `Executor::new`, `set_input` and `run`: whatever loads runs (check once,
/// then run); anything else is a `kiln::Error`.
pub fn blob_run(bytes: &[u8]) {
    // Blobs live 16-byte aligned, as in a flash partition.
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    let blob = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()];
    blob.copy_from_slice(bytes);
    let _ = kiln::blob::load_signed::<64>(blob, &[7; 32]);
    // The length and CRC stop random changes; anyone can recompute them, so
    // do, and let the changes reach the decoder and the graph's checks.
    if blob.len() >= kiln::blob::PREFIX {
        let total = blob.len() as u32;
        blob[12..16].copy_from_slice(&total.to_le_bytes());
        let crc = kiln::blob::crc32(&blob[kiln::blob::PREFIX..]);
        blob[16..20].copy_from_slice(&crc.to_le_bytes());
    }
    let aligned: &[u8] = blob;
    let Ok(loaded) = kiln::blob::load::<64>(aligned) else {
        return;
    };
    let graph = loaded.graph();
    let mut arena = vec![0u128; ARENA_WORDS];
    let Ok(mut exec) = kiln::Executor::new(&graph, bytemuck::cast_slice_mut(&mut arena)) else {
        return;
    };
    for (i, io) in graph.inputs.iter().enumerate() {
        let input: Vec<u8> = (0..io.span.len)
            .map(|k| (k * 31 + i as u32) as u8)
            .collect();
        exec.set_input(i, &input)
            .expect("an input of the declared length");
    }
    exec.run();
    for i in 0..graph.outputs.len() {
        exec.output(i).expect("a declared output");
    }
}

/// `.npy` bytes through the reader and the conversions `kiln run` applies.
pub fn npy_read(bytes: &[u8]) {
    if let Ok(array) = kiln_codegen::npy::parse(bytes) {
        let _ = array.elements();
        let _ = array.to_f64();
    }
}

/// The sensor window with any hop, scale, quantization and samples: pushes
/// and quantizes, writing exactly a full window.
pub fn sensor_window(bytes: &[u8]) {
    if bytes.len() < 13 {
        return;
    }
    let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    let hop = usize::from(bytes[0]);
    let units_per_lsb = f32::from_le_bytes(word(1));
    let input = kiln::tensor::Quantization {
        scale: f32::from_le_bytes(word(5)),
        zero_point: i32::from_le_bytes(word(9)),
    };
    let mut window = kiln::sensor::Window::<3, 8>::new(hop);
    let mut out = [0i8; 24];
    for sample in bytes[13..].chunks_exact(6) {
        let axis = |i: usize| i16::from_le_bytes([sample[2 * i], sample[2 * i + 1]]);
        if window.push([axis(0), axis(1), axis(2)]) {
            assert_eq!(window.quantize_into(units_per_lsb, input, &mut out), 24);
        }
    }
}
