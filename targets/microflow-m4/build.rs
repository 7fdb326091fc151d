//! Points microflow's `#[model]` macro at one of the models microflow ships
//! in its own crate (`MICROFLOW_MODEL`: `sine` or `speech`), found through
//! `cargo metadata`, so that nothing is copied into this repository.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MICROFLOW_MODEL");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    std::fs::copy("memory.x", out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let model = std::env::var("MICROFLOW_MODEL").unwrap_or_else(|_| "speech".into());
    let (input_type, input_len) = match model.as_str() {
        "sine" => ("i8", 1),
        "speech" => ("i8", 1960),
        other => panic!("MICROFLOW_MODEL must be sine or speech, not {other}"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.toml");
    let meta = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo metadata");
    assert!(
        meta.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let microflow = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "microflow")
        .expect("microflow in the dependency graph");
    let dir = PathBuf::from(microflow["manifest_path"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_owned();
    let path = dir.join("models").join(format!("{model}.tflite"));
    assert!(path.exists(), "{} is missing", path.display());
    let src = format!(
        "pub const NAME: &str = \"{model}\";\npub type Input = microflow::buffer::Buffer2D<{input_type}, 1, {input_len}>;\n#[microflow_macros::model({:?})]\npub struct Model;\n",
        path.display().to_string()
    );
    std::fs::write(out.join("model.rs"), src).unwrap();
}
