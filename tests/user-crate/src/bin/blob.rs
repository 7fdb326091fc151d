//! A model compiled with a blob beside its module, used through
//! `Model::new` and `run` only.
#![deny(warnings)]

mod motion {
    include!(concat!(env!("OUT_DIR"), "/motion.rs"));
}

fn main() {
    let mut arena = kiln::Arena::new();
    let mut model = motion::Model::new(&mut arena);
    let scores = model.run(&[0; 96]);
    println!("class {}", kiln::argmax(scores));
}
