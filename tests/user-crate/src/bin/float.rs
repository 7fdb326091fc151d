//! A float32 ONNX model, used through `Model::new` and `run` only.
#![deny(warnings)]

mod digits_float {
    include!(concat!(env!("OUT_DIR"), "/digits_float.rs"));
}

fn main() {
    let mut arena = kiln::Arena::new();
    let mut model = digits_float::Model::new(&mut arena);
    let scores = model.run(&[0.0; 64]);
    println!("class {}", kiln::argmax(scores));
}
