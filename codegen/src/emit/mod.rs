//! Emitters: a compiled model written out for a firmware build.
//!
//! Layer: emit; uses `lower`.

pub mod blob;
pub mod rust;
