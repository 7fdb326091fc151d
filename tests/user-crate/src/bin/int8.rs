//! An int8 TFLite model, used through `Model::new` and `run` only.
#![deny(warnings)]

mod digits {
    include!(concat!(env!("OUT_DIR"), "/digits.rs"));
}

fn main() {
    let mut arena = kiln::Arena::new();
    let mut model = digits::Model::new(&mut arena);
    let scores = model.run(&[0; 64]);
    println!("class {}", kiln::argmax(scores));
}
