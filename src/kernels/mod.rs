//! Reference kernels: one op family per file, each a pure function over
//! slices with a small params struct, in the style of TFLite Micro's
//! `reference/integer_ops`. They compute exactly TFLM's int8 bytes.
//!
//! Layer: kernels; uses `quant`, `fixed_point` and `tensor`, nothing above.
//! Kernels do not check their arguments: `exec` validates every shape and
//! span once, when a graph is bound to an arena. The float32 kernels take
//! `exp` and `tanh` from `float_math`: libm's, or with the `fast-math`
//! feature micromath's approximations.

pub mod activation;
pub mod concatenation;
pub mod conv2d;
pub mod depthwise_conv2d;
pub mod elementwise;
mod float_math;
pub mod fully_connected;
pub mod mean;
mod odometer;
pub mod pad;
pub mod pooling;
pub mod quantize;
pub mod slice;
pub mod softmax;
pub mod transpose;
