//! Compiles the project's motion classifier (examples/motion) into this
//! crate, as any firmware would.
fn main() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../examples/motion/motion_int8.tflite");
    kiln_codegen::Builder::new(model)
        .module("motion")
        .generate()
        .unwrap_or_else(|e| panic!("{e}"));
}
