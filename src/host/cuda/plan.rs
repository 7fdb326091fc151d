//! How a graph runs on the CUDA kernels: each op becomes one launch of its
//! kernel ([`Op::cuda_kernel`]), which reads the op's descriptor from a
//! params buffer, written as C lays it out ([`Op::write_c`]) and read
//! through the struct `header.rs` declares for it. Nothing here knows any
//! op: adding one to the op list gives it a launch. Pure data, no CUDA: the
//! GPU backend uploads it, and tests run the kernels on the CPU from the
//! same plan.
//!
//! Layer: host (std); uses `graph`, `ops` and `wire`.

use std::vec::Vec;

use crate::graph::{Graph, Op};
use crate::wire::WireType;

/// Where each descriptor starts in [`CudaPlan::params`]: a multiple of this,
/// more than any field needs.
pub const PARAMS_ALIGN: usize = 16;

/// One kernel launch: every sample's `items` outputs (elements, or rows for
/// SOFTMAX) computed by `kernel` from the descriptor in
/// `params[params.start..params.end]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub kernel: &'static str,
    pub params: core::ops::Range<usize>,
    pub items: u64,
}

/// The launches of a graph and the bytes of their descriptors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CudaPlan {
    pub params: Vec<u8>,
    pub launches: Vec<Launch>,
    /// Bytes of each sample's arena: the graph's, and room past it where
    /// in-place ops spill their output (`Op::gpu_steps`), a multiple of 16.
    pub arena_bytes: usize,
}

/// The size of a descriptor's C struct.
fn c_size(op: &Op) -> usize {
    match op.wire_type() {
        WireType::Struct { size, .. } => size,
        // `op_list!` takes only `wire_struct!` descriptors (header.rs's
        // tests check every one).
        _ => unreachable!("{} has a descriptor that is not a struct", op.name()),
    }
}

/// The launches of a validated graph, in execution order.
pub fn plan(graph: &Graph) -> CudaPlan {
    let spill = (graph.arena_bytes as usize).next_multiple_of(PARAMS_ALIGN);
    let mut plan = CudaPlan {
        arena_bytes: spill,
        ..CudaPlan::default()
    };
    for op in graph.ops {
        match op.gpu_steps(spill as u32) {
            Some(steps) => {
                for step in &steps.ops {
                    plan.launch(step);
                }
                let spilled = steps.spilled_bytes as usize;
                plan.arena_bytes = plan
                    .arena_bytes
                    .max((spill + spilled).next_multiple_of(PARAMS_ALIGN));
            }
            None => plan.launch(op),
        }
    }
    plan
}

impl CudaPlan {
    fn launch(&mut self, op: &Op) {
        let start = self.params.len().next_multiple_of(PARAMS_ALIGN);
        let end = start + c_size(op);
        self.params.resize(end, 0);
        op.write_c(&mut self.params[start..end]);
        self.launches.push(Launch {
            kernel: op.cuda_kernel(),
            params: start..end,
            items: op.cuda_items(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{AddOp, AddSub, HardSwishF32Op, SubOp};
    use crate::tensor::Span;

    #[test]
    fn lays_descriptors_out_aligned_with_their_kernels() {
        let mut sub = SubOp {
            add: AddSub::default(),
        };
        sub.add.params.broadcast.output_dims = [1, 1, 1, 2, 3, 4];
        sub.add.params.left_shift = 20;
        sub.add.output = Span::new(64, 24);
        let ops = [
            Op::HardSwishF32(HardSwishF32Op {
                input: Span::new(0, 40),
                output: Span::new(48, 40),
            }),
            Op::Sub(sub),
            Op::Add(AddOp { add: sub.add }),
        ];
        let graph = Graph {
            ops: &ops,
            inputs: &[],
            outputs: &[],
            state: &[],
            arena_bytes: 128,
            weights: &[],
        };
        let plan = plan(&graph);
        let kernels: Vec<_> = plan.launches.iter().map(|l| l.kernel).collect();
        assert_eq!(kernels, ["kiln_hard_swish_f32", "kiln_sub", "kiln_add"]);
        let items: Vec<_> = plan.launches.iter().map(|l| l.items).collect();
        assert_eq!(items, [10, 24, 24]);
        for (l, op) in plan.launches.iter().zip(&ops) {
            assert_eq!(l.params.start % PARAMS_ALIGN, 0);
            assert_eq!(l.params.len(), c_size(op));
            let mut bytes = std::vec![0u8; c_size(op)];
            op.write_c(&mut bytes);
            assert_eq!(plan.params[l.params.clone()], bytes[..]);
        }
        // HardSwishF32Op is two spans: input at 0, output at 8.
        assert_eq!(plan.launches[0].params, 0..16);
        assert_eq!(plan.params[8..12], 48u32.to_le_bytes());
        assert_eq!(plan.params.len(), plan.launches[2].params.end);
    }
}
