//! Quantization on the host: the TFLite spec's parameter derivations
//! (requantization multipliers, activation ranges), computed once by the
//! codegen and stored in flash; and post-training quantization of float
//! models from calibration data (observers, calibration, the int8 graph).
//!
//! Layer: quantize; uses `ir`.

pub mod calibrate;
pub mod multiplier;
pub mod observer;
pub mod ptq;
pub mod sqnr;
