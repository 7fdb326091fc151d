//! Compiles the project's example models as a user's build script would:
//! each with `kiln_codegen::Builder`, one of them quantized from float here.

use kiln_codegen::{Builder, ObserverKind};

fn main() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let build = |builder: Builder| {
        // The error's text names the model file, the op and the reason.
        builder.generate().unwrap_or_else(|e| panic!("{e}"));
    };
    // int8, from TensorFlow Lite.
    build(Builder::new(examples.join("digits/digits_int8.tflite")).module("digits"));
    // float32, from ONNX, run in float.
    build(Builder::new(examples.join("onnx/digits_cnn.onnx")).module("digits_float"));
    // float32 from ONNX, quantized to int8 here from calibration samples.
    build(
        Builder::new(examples.join("onnx/digits_cnn.onnx"))
            .module("digits_calibrated")
            .calibrate(examples.join("onnx/data/calibration.npy"))
            .observer(ObserverKind::Mse),
    );
    // int8, also written as a blob (`motion.kiln`) for `kiln::blob::load`.
    build(
        Builder::new(examples.join("motion/motion_int8.tflite"))
            .module("motion")
            .blob(true),
    );
}
