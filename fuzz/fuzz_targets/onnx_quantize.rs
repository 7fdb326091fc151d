//! ONNX bytes (plain or QDQ) through import, compilation and PTQ. See `fuzz/bodies.rs`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| bodies::onnx_quantize(bytes));
