//! AVERAGE_POOL_2D and MAX_POOL_2D, int8 (input and output share their
//! quantization) and float32.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::pooling::{PoolGeometry, PoolParams};
use kiln::ops::{
    AveragePool2dF32Op, AveragePool2dOp, MaxPool2dF32Op, MaxPool2dOp, Pool2dF32, Pool2dS8,
};

use super::{IrOp, QuantRule};
use crate::ir::{DataType, Node, Pool2dAttrs};
use crate::lower::{float_range, invalid, to_u32, Lowered, Lowering};
use crate::quantize::multiplier::activation_range;

/// AVERAGE_POOL_2D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AveragePool2d(pub Pool2dAttrs);

/// MAX_POOL_2D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxPool2d(pub Pool2dAttrs);

/// A pool's runtime descriptor, by its input's type.
enum PoolDescriptor {
    S8(Pool2dS8),
    F32(Pool2dF32),
}

fn lower_pool(cx: &mut Lowering, node: &Node, a: &Pool2dAttrs) -> Lowered<PoolDescriptor> {
    let (input, out) = cx.input_output(node)?;
    let (in_s, out_s) = (cx.nhwc(input)?, cx.nhwc(out)?);
    let ([oh, ow], [pad_top, pad_left]) = a.padding.windows(
        [in_s.height as usize, in_s.width as usize],
        a.filter,
        a.stride,
        [1, 1],
    );
    if (oh, ow) != (out_s.height as usize, out_s.width as usize) || in_s.channels != out_s.channels
    {
        return invalid(format!(
            "output shape {out_s:?} does not follow from input {in_s:?}"
        ));
    }
    let geometry = PoolGeometry {
        input: in_s,
        output: out_s,
        filter_height: to_u32(a.filter[0])?,
        filter_width: to_u32(a.filter[1])?,
        stride_height: to_u32(a.stride[0])?,
        stride_width: to_u32(a.stride[1])?,
        padding_top: to_u32(pad_top)?,
        padding_left: to_u32(pad_left)?,
    };
    if cx.is_float(node) {
        let (input, output) = cx.spans((input, out), DataType::F32)?;
        return Ok(PoolDescriptor::F32(Pool2dF32 {
            geometry,
            activation: float_range(a.activation),
            input,
            output,
        }));
    }
    cx.same_quantization(input, out, "pooling")?;
    let (scale, zero_point) = cx.quant(out)?;
    let (activation_min, activation_max) = activation_range(a.activation, scale, zero_point);
    let (input, output) = cx.spans((input, out), DataType::I8)?;
    Ok(PoolDescriptor::S8(Pool2dS8 {
        params: PoolParams {
            geometry,
            activation_min,
            activation_max,
        },
        input,
        output,
    }))
}

impl IrOp for AveragePool2d {
    fn name(&self) -> &'static str {
        "AVERAGE_POOL_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(match lower_pool(cx, node, &self.0)? {
            PoolDescriptor::S8(pool) => Op::AveragePool2d(AveragePool2dOp { pool }),
            PoolDescriptor::F32(pool) => Op::AveragePool2dF32(AveragePool2dF32Op { pool }),
        }))
    }

    fn stack_cortex_m4(&self) -> usize {
        448
    }
}

impl IrOp for MaxPool2d {
    fn name(&self) -> &'static str {
        "MAX_POOL_2D"
    }

    fn attributes(&self) -> String {
        self.0.describe()
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(match lower_pool(cx, node, &self.0)? {
            PoolDescriptor::S8(pool) => Op::MaxPool2d(MaxPool2dOp { pool }),
            PoolDescriptor::F32(pool) => Op::MaxPool2dF32(MaxPool2dF32Op { pool }),
        }))
    }

    fn stack_cortex_m4(&self) -> usize {
        448
    }
}
