//! # kiln: int8 neural networks on microcontrollers, bit-exact with TFLite Micro
//!
//! `kiln` is the runtime half of Kiln. The host tool `kiln-codegen` turns a
//! trained model into a [`Graph`]: ops in execution order, each naming the
//! bytes it reads and writes in one caller-supplied arena and the constants it
//! uses in flash. This crate runs that graph. It is `#![no_std]`, never
//! allocates, and contains no `unsafe` code outside the Cortex-M DSP
//! micro-kernels (`arch`) and the host-only CUDA backend; weights stay in
//! flash.
//!
//! ## Layers
//!
//! From the bottom up; each layer uses only the ones above it in this list.
//!
//! - [`quant`], [`fixed_point`], [`tensor`], [`wire`], [`error`]: TFLite's
//!   integer arithmetic (Q31 multipliers, rounding shifts, gemmlowp fixed
//!   point), spans, shapes, the plain-data structs that cross into blobs,
//!   generated Rust and CUDA C, and the error type. Plain `core`.
//! - [`kernels`]: one op family per file, pure functions over slices with a
//!   params struct, computing exactly TFLite Micro's reference int8 bytes.
//! - [`arch`]: fast paths with the reference kernels' bytes (matrix
//!   products over widened columns, Cortex-M DSP micro-kernels), chosen
//!   per layer by the codegen and per target at compile time.
//! - [`ops`]: one file per op (or family): its descriptor, its one-time
//!   check and the kernel it calls; one list defines the op set ([`Op`]).
//! - [`graph`]: [`Graph`], ops in order with their arena and weights,
//!   const-constructible data.
//! - [`exec`]: validates a graph against an arena once ([`Executor::new`]),
//!   then runs it with no fallible work ([`Executor::run`]).
//! - `blob` (feature `blob`): loads a graph from a postcard model blob,
//!   borrowing its weights, validated before anything runs.
//! - `sensor` (feature `sensor`): sliding windows of sensor samples,
//!   quantized into model inputs, and an `embedded-hal` accelerometer driver.
//! - `host` (feature `host`, std): batch runs over data sets on every CPU
//!   core and on CUDA GPUs, with the firmware's exact bytes.
//!
//! ## Two ways to run a model
//!
//! Generated code (from `kiln_codegen::Builder` in a `build.rs`) calls each
//! op's `run` directly, in order, on a [`Arena`] whose size is a generated
//! const: no dispatch, no checks at run time, only the kernels the model uses
//! are linked. The host CLI and tests build the same ops at run time and use
//! [`Executor`]; both paths execute the same op code.
//!
//! ```
//! use kiln::{Executor, Graph};
//! // An empty graph: a real one comes from kiln-codegen.
//! let graph = Graph { ops: &[], inputs: &[], outputs: &[], state: &[], arena_bytes: 64, weights: &[] };
//! let mut arena = kiln::Arena::<64>::new();
//! let mut exec = Executor::new(&graph, arena.bytes_mut()).unwrap();
//! exec.run();
//! ```

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

#[cfg(any(test, feature = "host"))]
extern crate std;

pub mod arch;
#[cfg(feature = "blob")]
pub mod blob;
pub mod error;
pub mod exec;
pub mod fixed_point;
pub mod graph;
#[cfg(feature = "host")]
#[allow(unsafe_code)]
pub mod host;
pub mod kernels;
pub mod ops;
pub mod quant;
#[cfg(feature = "sensor")]
pub mod sensor;
pub mod tensor;
pub mod wire;

pub use error::{BlobError, Error};
pub use exec::{Executor, Ran};
pub use graph::{Aligned, Graph, Op, StateTensor, TensorIo};
pub use ops::BLOB_VERSION;
pub use tensor::{DType, Quantization, Span};

/// A 16-byte aligned arena of `N` bytes, the only RAM an inference uses
/// besides its stack. Generated models take `&mut Arena<ARENA_BYTES>`, so a
/// wrong size is a compile error.
#[repr(C, align(16))]
pub struct Arena<const N: usize>(pub [u8; N]);

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena([0; N])
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Index of the largest score (the first one on ties): the predicted class.
pub fn argmax<T: PartialOrd + Copy>(scores: &[T]) -> usize {
    let (mut best, mut top) = match scores.first() {
        Some(&s) => (0, s),
        None => return 0,
    };
    for (i, &s) in scores.iter().enumerate() {
        if s > top {
            (best, top) = (i, s);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_picks_first_maximum() {
        assert_eq!(super::argmax(&[1i8, 5, 5, -3]), 1);
        assert_eq!(super::argmax::<i8>(&[]), 0);
    }
}
