//! What the build script gave this crate: the model it quantized from
//! calibration samples computes, in the generated code, the bytes the host
//! runner gives for `kiln_codegen::quantize_file` (what `kiln compile
//! --calibrate` writes; `codegen/tests/cli.rs` checks that the CLI's files
//! and the Builder's are identical), classifies the held-out digits well,
//! and Cargo was told to rerun the script when the samples change.

use std::path::{Path, PathBuf};

use kiln_codegen::npy::{self, NpyArray, NpyType};
use kiln_codegen::ObserverKind;

mod digits_calibrated {
    include!(concat!(env!("OUT_DIR"), "/digits_calibrated.rs"));
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn calibrated_model_gives_the_cli_bytes_on_every_held_out_digit() {
    let onnx = examples().join("onnx");
    let reference = kiln_codegen::quantize_file(
        &onnx.join("digits_cnn.onnx"),
        &npy::read(&onnx.join("data/calibration.npy")).unwrap(),
        ObserverKind::Mse,
    )
    .unwrap();
    let mut runner = kiln_codegen::run::HostRunner::new(&reference);
    let images = npy::read(&onnx.join("data/test_x.npy")).unwrap();
    let labels = npy::read(&onnx.join("data/test_y.npy")).unwrap().to_f64();
    let floats: Vec<f32> = images.to_f64().into_iter().map(|v| v as f32).collect();
    let per_image = digits_calibrated::INPUT_LEN;
    assert_eq!(floats.len(), labels.len() * per_image);

    let mut arena = kiln::Arena::new();
    let mut model = digits_calibrated::Model::new(&mut arena);
    let mut correct = 0;
    for (image, &label) in floats.chunks_exact(per_image).zip(&labels) {
        let input: &[f32; digits_calibrated::INPUT_LEN] = image.try_into().unwrap();
        let scores = *model.run(input);
        let expected = runner
            .run(&[NpyArray {
                dtype: NpyType::F32,
                shape: digits_calibrated::INPUT_SHAPE.to_vec(),
                data: image.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }])
            .unwrap();
        let got: Vec<u8> = scores.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(got, expected[0].data);
        correct += usize::from(kiln::argmax(&scores) == label as usize);
    }
    let accuracy = correct as f64 / labels.len() as f64;
    assert!(accuracy > 0.95, "top-1 accuracy {accuracy}");
}

#[test]
fn cargo_reruns_the_build_script_when_the_model_or_the_samples_change() {
    // Cargo keeps what a build script printed beside its OUT_DIR.
    let printed = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/../output")).unwrap();
    for input in [
        "onnx/data/calibration.npy",
        "onnx/digits_cnn.onnx",
        "digits/digits_int8.tflite",
        "motion/motion_int8.tflite",
    ] {
        let line = format!(
            "cargo:rerun-if-changed={}",
            examples().join(input).display()
        );
        assert!(
            printed.lines().any(|l| l == line),
            "no `{line}` in:\n{printed}"
        );
    }
}
