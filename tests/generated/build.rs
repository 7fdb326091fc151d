//! Compiles every shared int8 model with `kiln_codegen::Builder`, as a
//! firmware's build script would, and writes `models.rs`: one module per
//! model and a `run` function that calls its generated `Model::run`.

use std::fmt::Write;
use std::path::PathBuf;

#[path = "../common/models.rs"]
mod models;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let shared = std::env::var_os("KILN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    println!("cargo:rerun-if-env-changed=KILN_SHARED");
    println!("cargo:rerun-if-changed={}", shared.join("models").display());
    let mut src = String::new();
    let mut arms = String::new();
    let mut graphs = String::new();
    let available = shared.join("models").is_dir();
    if available {
        for &(name, file) in models::INT8_MODELS {
            kiln_codegen::Builder::new(shared.join("models").join(file))
                .module(name)
                .out_dir(&out)
                .generate()
                .unwrap_or_else(|e| panic!("{e}"));
            let module = name.to_lowercase();
            writeln!(
                src,
                "pub mod {module} {{ include!(concat!(env!(\"OUT_DIR\"), \"/{name}.rs\")); }}"
            )
            .unwrap();
            let n_inputs = if name == "simple_add_model" { 2 } else { 1 };
            let args: Vec<String> = (0..n_inputs)
                .map(|i| {
                    let len = if n_inputs == 1 { "INPUT_LEN".to_string() } else { format!("INPUT{i}_LEN") };
                    format!("&<[i8; {module}::{len}]>::try_from(bytemuck::cast_slice::<u8, i8>(inputs[{i}])).ok()?")
                })
                .collect();
            writeln!(
                arms,
                "        \"{name}\" => {{\n            let mut arena = Box::new(kiln::Arena::<{{ {module}::ARENA_BYTES }}>::new());\n            let mut model = {module}::Model::new(&mut arena);\n            Some(bytemuck::cast_slice(model.run({})).to_vec())\n        }}",
                args.join(", ")
            )
            .unwrap();
            writeln!(graphs, "        \"{name}\" => Some(&{module}::GRAPH),").unwrap();
        }
    }
    writeln!(src, "/// Whether the shared models were found when this crate was built.\npub const AVAILABLE: bool = {available};").unwrap();
    writeln!(src, "/// Runs a model's generated `Model::run` on raw input bytes.\npub fn run(name: &str, inputs: &[&[u8]]) -> Option<Vec<u8>> {{\n    let _ = inputs;\n    match name {{\n{arms}        _ => None,\n    }}\n}}").unwrap();
    writeln!(src, "/// A model's generated graph as data.\npub fn graph(name: &str) -> Option<&'static kiln::Graph<'static>> {{\n    match name {{\n{graphs}        _ => None,\n    }}\n}}").unwrap();
    std::fs::write(out.join("models.rs"), src).unwrap();
}
