//! The shared int8 models, compiled by `kiln_codegen::Builder` in this
//! crate's build script (see `build.rs`), exactly as firmware would.

include!(concat!(env!("OUT_DIR"), "/models.rs"));
