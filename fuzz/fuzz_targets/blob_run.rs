//! Blob bytes through load, load_signed, Executor::new, set_input and run. See `fuzz/bodies.rs`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| bodies::blob_run(bytes));
