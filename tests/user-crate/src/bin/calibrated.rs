//! A float32 ONNX model quantized to int8 in the build script, used
//! through `Model::new` and `run` only.
#![deny(warnings)]

mod digits_calibrated {
    include!(concat!(env!("OUT_DIR"), "/digits_calibrated.rs"));
}

fn main() {
    let mut arena = kiln::Arena::new();
    let mut model = digits_calibrated::Model::new(&mut arena);
    let scores = model.run(&[0.0; 64]);
    println!("class {}", kiln::argmax(scores));
}
