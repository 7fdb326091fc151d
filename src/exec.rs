//! Binding a graph to an arena, and running it.
//!
//! Layer: exec, the top of the runtime; uses `graph` and `ops`.
//! `Executor::new` checks every span, shape and alignment once ("check once,
//! then run"); after that `run` does no fallible work. Each op's `run` is
//! also what generated code calls directly, one line per op, so that firmware
//! links only the kernels its model uses and does no dispatch.

use crate::error::Error;
use crate::graph::{reset_state, Graph, TensorIo, ALIGNMENT};
use crate::ops::Checker;
use crate::tensor::{DType, MAX_RANK};

/// Checks a whole graph: every op, every input and output span, and the
/// alignment of the weights. The codegen runs this before it emits a model.
pub fn validate(graph: &Graph) -> Result<(), Error> {
    if !(graph.weights.as_ptr() as usize).is_multiple_of(ALIGNMENT) && !graph.weights.is_empty() {
        return Err(Error::WeightsMisaligned);
    }
    let arena_bytes = u64::from(graph.arena_bytes);
    for (i, op) in graph.ops.iter().enumerate() {
        op.check(&Checker::new(i, arena_bytes, graph.weights))?;
    }
    let c = Checker::new(graph.ops.len(), arena_bytes, graph.weights);
    for t in graph.inputs {
        // An input's bytes could hold other values than 0 and 1.
        c.ensure(t.dtype != DType::Bool, "a bool model input")?;
    }
    for t in graph.inputs.iter().chain(graph.outputs) {
        c.ensure(
            t.rank as usize <= MAX_RANK,
            "input or output rank too large",
        )?;
        let elements = crate::tensor::element_count(t.shape().iter().map(|&d| u64::from(d)));
        c.arena(t.span, elements, t.dtype)?;
    }
    for (k, t) in graph.state.iter().enumerate() {
        c.arena(t.span, u64::from(t.span.len), DType::I8)?;
        if !t.initial.is_empty() {
            c.constant(t.initial, u64::from(t.span.len), DType::I8, false)?;
        }
        let shared = graph.state.iter().take(k).any(|s| s.span.overlaps(&t.span));
        c.ensure(!shared, "two variable tensors share bytes")?;
    }
    Ok(())
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// Every op ran: the outputs are this run's.
    Complete,
    /// An op ended the run, as TFLite Micro's CIRCULAR_BUFFER does until
    /// its period of inputs has come (TFLM's `kTfLiteAbort`): the ops after
    /// it did not run. The state moved on; the outputs are still those of
    /// an earlier run, or meaningless.
    EndedEarly,
}

/// Why a batch of independent samples cannot run a model that
/// [`can_end_early`], for the host tools' errors.
pub const ENDS_FRESH_RUNS_EARLY: &str = "the model's CIRCULAR_BUFFER lets the rest of the graph run only every few calls, so a run from the reset state (each sample of a batch, each call of `kiln run`) ends early: run it as a sequence on one kiln::Executor";

/// Whether some runs of `graph` end early ([`Ran::EndedEarly`]); if so,
/// the first run after a reset does, so a graph whose samples are
/// independent (each from the reset state) can only run as a sequence.
pub fn can_end_early(graph: &Graph) -> bool {
    graph.ops.iter().any(|op| op.can_end_run())
}

/// A graph bound to an arena: checked once, then run any number of times.
/// A stateful model's variable tensors start from their reset values and
/// carry over from one `run` to the next until [`Executor::reset_state`].
pub struct Executor<'g, 'a> {
    graph: &'g Graph<'g>,
    arena: &'a mut [u8],
}

impl<'g, 'a> Executor<'g, 'a> {
    /// Checks the arena's size and alignment and the whole graph.
    pub fn new(graph: &'g Graph<'g>, arena: &'a mut [u8]) -> Result<Self, Error> {
        if arena.len() < graph.arena_bytes as usize {
            return Err(Error::ArenaTooSmall {
                needed: graph.arena_bytes,
                got: arena.len(),
            });
        }
        if !(arena.as_ptr() as usize).is_multiple_of(ALIGNMENT) {
            return Err(Error::ArenaMisaligned);
        }
        validate(graph)?;
        reset_state(graph.state, graph.weights, arena);
        Ok(Executor { graph, arena })
    }

    /// Returns every variable tensor to its reset value, as a fresh
    /// TFLite Micro interpreter starts: the next `run` remembers nothing
    /// of earlier ones.
    pub fn reset_state(&mut self) {
        reset_state(self.graph.state, self.graph.weights, self.arena);
    }

    pub fn graph(&self) -> &Graph<'g> {
        self.graph
    }

    fn io(list: &[TensorIo], index: usize) -> Result<TensorIo, Error> {
        list.get(index)
            .copied()
            .ok_or(Error::NoSuchTensor { index })
    }

    /// Copies raw bytes (little-endian for multi-byte types) into input `index`.
    pub fn set_input(&mut self, index: usize, bytes: &[u8]) -> Result<(), Error> {
        let t = Self::io(self.graph.inputs, index)?;
        if bytes.len() != t.span.len as usize {
            return Err(Error::InputLength {
                index,
                expected: t.span.len as usize,
                got: bytes.len(),
            });
        }
        match self.arena.get_mut(t.span.range()) {
            Some(place) if place.len() == bytes.len() => {
                place.copy_from_slice(bytes);
                Ok(())
            }
            // Not reached: `new` checked every input span against the arena.
            _ => Err(Error::NoSuchTensor { index }),
        }
    }

    pub fn set_input_i8(&mut self, index: usize, values: &[i8]) -> Result<(), Error> {
        let t = Self::io(self.graph.inputs, index)?;
        if t.dtype != DType::I8 {
            return Err(Error::InputType { index });
        }
        self.set_input(index, bytemuck::cast_slice(values))
    }

    /// Runs every op in order, unless one ends the run early (only a
    /// model with a CIRCULAR_BUFFER does: [`can_end_early`]). Infallible:
    /// everything was checked in `new`.
    pub fn run(&mut self) -> Ran {
        for op in self.graph.ops {
            op.run(self.arena, self.graph.weights);
            if op.ends_run(self.arena) {
                return Ran::EndedEarly;
            }
        }
        Ran::Complete
    }

    /// Runs op `index` alone (for profiling; `run` runs them all). An
    /// index past the last op does nothing.
    pub fn run_op(&mut self, index: usize) {
        if let Some(op) = self.graph.ops.get(index) {
            op.run(self.arena, self.graph.weights);
        }
    }

    /// The raw bytes of output `index` after `run`.
    pub fn output(&self, index: usize) -> Result<&[u8], Error> {
        let t = Self::io(self.graph.outputs, index)?;
        // `new` checked every output span against the arena.
        self.arena
            .get(t.span.range())
            .ok_or(Error::NoSuchTensor { index })
    }
}

/// Copies `values` into the arena at byte `offset`: how generated code feeds
/// a model its input. Generated code asserts at compile time that the span
/// lies inside the arena; a span outside it copies nothing.
pub fn write_input<T: bytemuck::Pod>(arena: &mut [u8], offset: usize, values: &[T]) {
    let bytes: &[u8] = bytemuck::cast_slice(values);
    let place = offset
        .checked_add(bytes.len())
        .and_then(|end| arena.get_mut(offset..end));
    if let Some(place) = place {
        for (to, &from) in place.iter_mut().zip(bytes) {
            *to = from;
        }
    }
}

/// A typed view of `N` values at byte `offset` of `bytes` (an arena, or
/// aligned constant data): how generated code returns a model's output.
/// `None` if they lie outside `bytes` or are misaligned, which generated
/// code excludes at compile time (so the optimizer removes the branch).
pub fn array_at<T: bytemuck::Pod, const N: usize>(bytes: &[u8], offset: usize) -> Option<&[T; N]> {
    let end = offset.checked_add(N.checked_mul(core::mem::size_of::<T>())?)?;
    let values: &[T] = bytemuck::try_cast_slice(bytes.get(offset..end)?).ok()?;
    values.first_chunk::<N>()
}
