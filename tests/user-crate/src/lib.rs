//! A crate as a kiln user writes one. Its build script compiles models with
//! `kiln_codegen::Builder`; each binary in `src/bin/` includes one generated
//! module, calls only `Model::new` and `run`, and denies every warning, so
//! that generated code that warns in a user's crate fails the build. The
//! README's Rust snippets are this library's doc tests: they compile (and
//! the runnable ones run) against the modules the build script wrote.
//!
//! Layer: a test crate; uses `kiln` as any dependent crate does.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeSnippets;
