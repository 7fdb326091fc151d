//! Every input the fuzzers (`scripts/fuzz.sh`) found a crash with, replayed
//! through the same target body: each must now pass without a panic. The
//! inputs live in `tests/fixtures/fuzz/TARGET/`, one file each, named after
//! what they broke.

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use std::path::PathBuf;

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/fuzz")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        println!("{target}: {}", path.display());
        body(&bytes);
        replayed += 1;
    }
    replayed
}

#[test]
fn crash_inputs_found_by_fuzzing_are_handled() {
    let replayed = replay("tflite_compile", bodies::tflite_compile)
        + replay("onnx_quantize", bodies::onnx_quantize)
        + replay("blob_run", bodies::blob_run)
        + replay("npy_read", bodies::npy_read)
        + replay("sensor_window", bodies::sensor_window);
    assert!(replayed > 0, "no regression inputs found");
    println!("{replayed} fuzz regressions replayed");
}

/// The bodies accept the seeds the corpora start from.
#[test]
fn fuzz_bodies_run_on_the_seed_models() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    bodies::tflite_compile(
        &std::fs::read(repo.join("examples/digits/digits_int8.tflite")).unwrap(),
    );
    bodies::onnx_quantize(&std::fs::read(repo.join("examples/onnx/digits_cnn.onnx")).unwrap());
    bodies::onnx_quantize(&std::fs::read(repo.join("examples/onnx/digits_cnn_qdq.onnx")).unwrap());
    bodies::blob_run(&std::fs::read(repo.join("tests/fixtures/blob/v5/digits.kiln")).unwrap());
    bodies::npy_read(&std::fs::read(repo.join("examples/digits/samples/input_0.npy")).unwrap());
    let mut sensor = vec![4, 0x6f, 0x12, 0x83, 0x3a, 0, 0, 0x80, 0x3c, 3, 0, 0, 0];
    sensor.extend([0x41; 240]);
    bodies::sensor_window(&sensor);
}
