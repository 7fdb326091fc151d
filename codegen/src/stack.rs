//! The stack one inference needs on each core kiln's firmware targets:
//! each op's frame (its `run`, its kernel, and the call chain above it) per
//! core, and the estimate for a whole plan, the deepest op's.
//!
//! Layer: report; uses `ir`, `plan` and each op's figure (`ops`).
//!
//! The figures are measured by stack painting on the emulated cores, as
//! `targets/` builds them (opt-level 3 with LTO): the Cortex-M4 ones on
//! generated code, the others as the Cortex-M4 figure plus the difference
//! the same op's frame shows between that core and the Cortex-M4 when each
//! op runs alone from its blob (`cargo run --release --bin opprof` in each
//! `targets/<core>` folder, `KILN_BLOB=1`). Op `run`s are never inlined, so
//! a figure holds in every model, but for one effect: link-time
//! optimization specializes a kernel that only one or two layers call for
//! their constants, and the large convolution kernels then take hundreds
//! of bytes less ([`FEW_CALLERS`]). `tests/firmware.rs` checks each core's
//! estimate against every model's painted stack on that core. The estimate
//! is for generated code: a blob's interpreter calls every kernel through
//! its descriptor, unspecialized, with an op slot of its own on top.

use crate::ir::{Graph, Node};
use crate::plan::{ArenaPlan, Walk};

/// A core kiln's firmware targets run on (`targets/<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Core {
    CortexM0,
    CortexM4,
    CortexM33,
    Riscv32,
}

impl Core {
    pub const ALL: [Core; 4] = [
        Core::CortexM0,
        Core::CortexM4,
        Core::CortexM33,
        Core::Riscv32,
    ];

    /// Its name, as its firmware folder and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Core::CortexM0 => "cortex-m0",
            Core::CortexM4 => "cortex-m4",
            Core::CortexM33 => "cortex-m33",
            Core::Riscv32 => "riscv32",
        }
    }

    pub fn from_name(name: &str) -> Option<Core> {
        Core::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Bytes of stack, one figure per core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stack {
    pub cortex_m0: usize,
    pub cortex_m4: usize,
    pub cortex_m33: usize,
    pub riscv32: usize,
}

impl Stack {
    pub const fn new(
        cortex_m0: usize,
        cortex_m4: usize,
        cortex_m33: usize,
        riscv32: usize,
    ) -> Self {
        Stack {
            cortex_m0,
            cortex_m4,
            cortex_m33,
            riscv32,
        }
    }

    pub fn on(self, core: Core) -> usize {
        match core {
            Core::CortexM0 => self.cortex_m0,
            Core::CortexM4 => self.cortex_m4,
            Core::CortexM33 => self.cortex_m33,
            Core::Riscv32 => self.riscv32,
        }
    }

    fn zip(self, other: Stack, f: impl Fn(usize, usize) -> usize) -> Stack {
        Stack::new(
            f(self.cortex_m0, other.cortex_m0),
            f(self.cortex_m4, other.cortex_m4),
            f(self.cortex_m33, other.cortex_m33),
            f(self.riscv32, other.riscv32),
        )
    }

    /// The deeper of two frames, per core.
    pub fn max(self, other: Stack) -> Stack {
        self.zip(other, usize::max)
    }

    /// A frame and another below it, per core.
    pub fn plus(self, other: Stack) -> Stack {
        self.zip(other, |a, b| a + b)
    }
}

/// The frame of an op without a figure of its own: a kernel that keeps
/// its loop state in registers.
pub const SMALL_OP: Stack = Stack::new(336, 192, 192, 168);

/// QUANTIZE between integer widths and SOFTMAX to int16: the deepest of
/// them on the `int16_edges` fixture, painted on each core (on the RV32,
/// which the fixture's run holds within bounds, the small-op figure).
pub const INT16_EDGES: Stack = Stack::new(188, 108, 108, 168);

/// A kernel that at most this many layers of a model call is specialized
/// by link-time optimization for their constants (the geometry in each
/// op's descriptor), which takes hundreds of bytes off the frame of the
/// large convolution kernels: digits' one depthwise layer and two
/// convolutions, micro_speech's one depthwise layer. The matrix product
/// keeps its inner trip count opaque to that specialization: unrolled
/// whole for a known small count, its micro-kernel would spill far more
/// (1 320 bytes painted on the RV32 for an RGB first layer, the
/// `conv_rgb` fixture), so the frame would depend on the geometry.
pub const FEW_CALLERS: usize = 2;

/// The frame of a convolution kernel (the matrix product, the blocked
/// depthwise kernel) that few layers call: painted on the digits example,
/// whose depthwise layer runs in place (its walk's frame is on top).
pub const SPECIALIZED_CONV: Stack = Stack::new(600, 644, 628, 460);

/// Whether at most [`FEW_CALLERS`] nodes of `g` match `calls`: the nodes
/// that run one kernel.
pub fn few_callers(g: &Graph, calls: impl Fn(&Node) -> bool) -> bool {
    g.nodes.iter().filter(|n| calls(n)).count() <= FEW_CALLERS
}

/// What an in-place op's walk (`kiln::ops::Bands`, `Chunks`) or a stream's
/// (`kiln::ops::Stream`) adds below its op's own frame: the walk's frame
/// with a band's descriptor.
pub const WALK: Stack = Stack::new(112, 96, 112, 112);

/// What a tiled chain (`kiln::ops::TiledChainOp`) adds below its deepest
/// layer's frame: the chain's `run` (its windows and their moves), the
/// call that computes a window's rows, and the layer's row dispatch, each
/// a frame of its own. Painted on the `inverted_bottleneck` fixture (two
/// chains of three) on each emulated core, less its layers' frames.
pub const TILED: Stack = Stack::new(888, 828, 828, 800);

/// The stack each op of the plan needs on each core: its own frame and
/// the call chain above it. A stream runs its convolution's kernel inside
/// the fully connected layer's op, a residual block its convolutions'
/// inside the ADD's, a tiled chain its layers inside the last one's, so
/// those frames count at the op that runs them (and
/// the fused ops' own entries are theirs alone).
pub fn op_frames(g: &Graph, plan: &ArenaPlan) -> Vec<Stack> {
    let frame = |i: usize| {
        let n = &g.nodes[i];
        if plan.copies_nothing.get(i).copied().unwrap_or(false) {
            // A concatenation or slice planned in place runs no op.
            return Stack::default();
        }
        n.kind.op().stack(g, n)
    };
    (0..g.nodes.len())
        .map(|i| {
            // The ops this one runs inside its own (`ArenaPlan::fused_into`).
            let own = (i.saturating_sub(2)..i)
                .filter(|&p| plan.fused_into(p) == Some(i))
                .fold(frame(i), |f, p| f.max(frame(p)));
            match plan.bands(i).map(|(how, _)| how) {
                // A walk without a buffer (a concatenation over its input)
                // moves bytes in its own op.
                Some(how) if how.buffer_bytes == 0 => own,
                None => own,
                Some(how) if matches!(how.walk, Walk::Tiled { .. }) => own.plus(TILED),
                Some(_) => own.plus(WALK),
            }
        })
        .collect()
}

/// The stack an inference needs on each core: the deepest op's frame and
/// the call chain above it.
pub fn estimate(g: &Graph, plan: &ArenaPlan) -> Stack {
    op_frames(g, plan)
        .into_iter()
        .fold(Stack::default(), Stack::max)
}
