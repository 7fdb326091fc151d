//! Quantization on the host: the TFLite spec's parameter derivations
//! (requantization multipliers, activation ranges), computed once by the
//! codegen and stored in flash.
//!
//! Layer: quantize; uses `ir`.

pub mod multiplier;
