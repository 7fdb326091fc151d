//! AVERAGE_POOL_2D and MAX_POOL_2D, int8, int16 and float32, and the pool
//! descriptors they share ([`Pool2dS8`], [`Pool2dS16`], [`Pool2dF32`]).
//!
//! Layer: ops; uses `kernels::pooling`.

use super::arena::{out_f32, out_i16, out_i8, split};
use super::check::Window;
use super::{Checker, OpDescriptor};
use crate::arch::{average_pool_s8, max_pool_s8};
use crate::error::Error;
use crate::kernels::pooling::{
    average_pool_f32, average_pool_s16, l2_pool_f32, max_pool_f32, max_pool_s16,
};
pub use crate::kernels::pooling::{PoolGeometry, PoolParams};
use crate::tensor::{DType, FloatRange, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// An int8 pool: a window over `input` (same quantization in and out).
    pub struct Pool2dS8 {
        pub params: PoolParams,
        pub input: Span,
        pub output: Span,
    }
}

wire_struct! {
    /// An int16 pool (TFLite's 16x8 scheme: zero point 0, same scale in
    /// and out).
    pub struct Pool2dS16 {
        pub params: PoolParams,
        pub input: Span,
        pub output: Span,
    }
}

wire_struct! {
    /// A float32 pool and its fused activation's clamp.
    pub struct Pool2dF32 {
        pub geometry: PoolGeometry,
        pub activation: FloatRange,
        pub input: Span,
        pub output: Span,
    }
}

/// A pool's windows, and its input and output of `dtype`.
fn check_pool(
    c: &Checker,
    g: &PoolGeometry,
    (input, output): (Span, Span),
    dtype: DType,
) -> Result<(), Error> {
    c.ensure(
        u64::from(g.filter_height) * u64::from(g.filter_width) <= 1 << 20,
        "pooling window too large",
    )?;
    c.positive(&[
        g.stride_height,
        g.stride_width,
        g.filter_height,
        g.filter_width,
        g.dilation_height,
        g.dilation_width,
    ])?;
    c.ensure(
        g.input.batches == g.output.batches && g.input.channels == g.output.channels,
        "pool changes batches or channels",
    )?;
    c.window(Window {
        output: g.output.height,
        stride: g.stride_height,
        dilation: g.dilation_height,
        filter: g.filter_height,
        input: g.input.height,
        padding: g.padding_top,
    })?;
    c.window(Window {
        output: g.output.width,
        stride: g.stride_width,
        dilation: g.dilation_width,
        filter: g.filter_width,
        input: g.input.width,
        padding: g.padding_left,
    })?;
    c.arena(input, g.input.elements(), dtype)?;
    c.output(output, g.output.elements(), dtype, &[input])
}

impl Pool2dS8 {
    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.range(self.params.activation_min, self.params.activation_max)?;
        check_pool(
            c,
            &self.params.geometry,
            (self.input, self.output),
            DType::I8,
        )
    }
}

impl Pool2dS16 {
    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.range_i16(p.activation_min, p.activation_max)?;
        check_pool(c, &p.geometry, (self.input, self.output), DType::I16)
    }
}

impl Pool2dF32 {
    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_pool(c, &self.geometry, (self.input, self.output), DType::F32)
    }
}

wire_struct! {
    /// int8 AVERAGE_POOL_2D.
    pub struct AveragePool2dOp {
        pub pool: Pool2dS8,
    }
}

impl OpDescriptor for AveragePool2dOp {
    const NAME: &'static str = "AVERAGE_POOL_2D";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_average_pool2d";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        average_pool_s8(&p.params, io.i8(p.input), out_i8(out));
    }
}

wire_struct! {
    /// int8 MAX_POOL_2D.
    pub struct MaxPool2dOp {
        pub pool: Pool2dS8,
    }
}

impl OpDescriptor for MaxPool2dOp {
    const NAME: &'static str = "MAX_POOL_2D";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_max_pool2d";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        max_pool_s8(&p.params, io.i8(p.input), out_i8(out));
    }
}

wire_struct! {
    /// float32 AVERAGE_POOL_2D.
    pub struct AveragePool2dF32Op {
        pub pool: Pool2dF32,
    }
}

impl OpDescriptor for AveragePool2dF32Op {
    const NAME: &'static str = "AVERAGE_POOL_2D (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_average_pool2d_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        average_pool_f32(&p.geometry, p.activation, io.f32(p.input), out_f32(out));
    }
}

wire_struct! {
    /// float32 MAX_POOL_2D.
    pub struct MaxPool2dF32Op {
        pub pool: Pool2dF32,
    }
}

impl OpDescriptor for MaxPool2dF32Op {
    const NAME: &'static str = "MAX_POOL_2D (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_max_pool2d_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        max_pool_f32(&p.geometry, p.activation, io.f32(p.input), out_f32(out));
    }
}

wire_struct! {
    /// float32 L2_POOL_2D.
    pub struct L2Pool2dF32Op {
        pub pool: Pool2dF32,
    }
}

impl OpDescriptor for L2Pool2dF32Op {
    const NAME: &'static str = "L2_POOL_2D (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_l2_pool2d_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        l2_pool_f32(&p.geometry, p.activation, io.f32(p.input), out_f32(out));
    }
}

wire_struct! {
    /// int16 AVERAGE_POOL_2D.
    pub struct AveragePool2dS16Op {
        pub pool: Pool2dS16,
    }
}

impl OpDescriptor for AveragePool2dS16Op {
    const NAME: &'static str = "AVERAGE_POOL_2D (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_average_pool2d_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        average_pool_s16(&p.params, io.i16(p.input), out_i16(out));
    }
}

wire_struct! {
    /// int16 MAX_POOL_2D.
    pub struct MaxPool2dS16Op {
        pub pool: Pool2dS16,
    }
}

impl OpDescriptor for MaxPool2dS16Op {
    const NAME: &'static str = "MAX_POOL_2D (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_max_pool2d_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.pool.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.pool.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let p = &self.pool;
        let (io, out) = split(arena, p.output);
        max_pool_s16(&p.params, io.i16(p.input), out_i16(out));
    }
}
