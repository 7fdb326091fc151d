//! Shapes that change from pass to pass of an unrolled WHILE. TensorFlow
//! writes a tensor list (Keras's `return_sequences`) as the slices before
//! and after the step being written, sized by the loop counter, then
//! concatenates them around the new step. The file gives such a tensor no
//! fixed shape (-1 in its shape signature); in an unrolled pass, with the
//! counter folded, the shape is known. So a SLICE's output takes the shape
//! its constant bounds give, and CONCATENATION drops its empty operands
//! (the slice before the first step, or after the last).
//!
//! Layer: import; uses the flatbuffer reader and `ir`.

use std::collections::HashSet;

use super::super::flatbuffer::Table;
use super::{invalid, ReadResult};
use crate::ir::*;

/// The tensors of unrolled passes whose shapes the file leaves open, and
/// those of them found empty.
#[derive(Default)]
pub(super) struct PassShapes {
    pub open: HashSet<TensorId>,
    pub empty: HashSet<TensorId>,
}

impl PassShapes {
    /// Settles the shapes op `name` gives in this pass. Returns whether
    /// the op is dropped: a SLICE whose output is empty, or a
    /// CONCATENATION of empty operands only.
    pub(super) fn settle(
        &mut self,
        name: &str,
        options: Option<Table>,
        inputs: &mut Vec<Option<TensorId>>,
        outputs: &[TensorId],
        tensors: &mut [Tensor],
    ) -> ReadResult<bool> {
        let &[out] = outputs else {
            return Ok(false);
        };
        let shape = match name {
            "SLICE" if self.open.contains(&out) => {
                let &[Some(x), Some(begin), Some(size)] = &inputs[..] else {
                    return Ok(false);
                };
                let (Some(begin), Some(size)) =
                    (tensors[begin].data_i32(), tensors[size].data_i32())
                else {
                    return Ok(false);
                };
                slice_shape(&tensors[x].shape, &begin, &size)?
            }
            "CONCATENATION" => {
                inputs.retain(|i| !i.is_some_and(|t| self.empty.contains(&t)));
                let Some(Some(first)) = inputs.first() else {
                    self.empty.insert(out);
                    return Ok(true);
                };
                if !self.open.contains(&out) {
                    return Ok(false);
                }
                let mut shape = tensors[*first].shape.clone();
                let axis = options.map_or(Ok(0), |t| t.i32(0, 0))?;
                let rank = shape.len() as i64;
                let axis = match i64::from(axis) {
                    a if (0..rank).contains(&a) => a as usize,
                    a if (-rank..0).contains(&a) => (a + rank) as usize,
                    a => return invalid(format!("CONCATENATION on axis {a} of rank {rank}")),
                };
                let along = inputs.iter().flatten().try_fold(0usize, |sum, &t| {
                    sum.checked_add(tensors[t].shape.get(axis).copied().unwrap_or(0))
                });
                match along {
                    Some(along) => shape[axis] = along,
                    None => return invalid("CONCATENATION of too many elements"),
                }
                shape
            }
            _ => return Ok(false),
        };
        if checked_elements(&shape).is_none() {
            return invalid(format!("{name} to shape {shape:?}: too large"));
        }
        let empty = shape.contains(&0);
        tensors[out].shape = shape;
        if empty {
            self.empty.insert(out);
        }
        Ok(empty)
    }
}

/// TFLite SLICE's output shape: `size` per axis, -1 meaning the rest of
/// the axis from `begin`.
fn slice_shape(input: &[usize], begin: &[i32], size: &[i32]) -> ReadResult<Vec<usize>> {
    if begin.len() != input.len() || size.len() != input.len() {
        return invalid(format!(
            "SLICE of shape {input:?} from {begin:?} by {size:?}: one bound per axis needed"
        ));
    }
    input
        .iter()
        .zip(begin.iter().zip(size))
        .map(|(&dim, (&b, &s))| {
            let b = usize::try_from(b).ok().filter(|&b| b <= dim);
            let s = match (b, s) {
                (Some(b), -1) => Some(dim - b),
                (Some(b), s) => usize::try_from(s)
                    .ok()
                    .filter(|&s| b.checked_add(s).is_some_and(|end| end <= dim)),
                (None, _) => None,
            };
            match s {
                Some(s) => Ok(s),
                None => invalid(format!(
                    "SLICE of shape {input:?} from {begin:?} by {size:?} leaves the input"
                )),
            }
        })
        .collect()
}
