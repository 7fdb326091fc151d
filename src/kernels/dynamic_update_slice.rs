//! DYNAMIC_UPDATE_SLICE: a copy of the operand with a block (the update)
//! written over it at start coordinates known only at run time, each
//! clamped so that the block lies inside, as TFLM's kernel clamps them.
//! Values are moved as bytes (quantization plays no part, as in TFLM).
//!
//! Layer: kernels; uses `tensor` and `odometer`.

use super::odometer::{advance, strides};
use super::{at, part, part_mut};
use crate::tensor::MAX_RANK;
use crate::wire::wire_struct;

wire_struct! {
    /// The operand's and the update's dimensions, padded on the left with
    /// ones to `MAX_RANK`; the start coordinates name the last ones only.
    #[derive(Eq)]
    pub struct UpdateSliceShape {
        pub operand: [u32; MAX_RANK],
        pub update: [u32; MAX_RANK],
        pub element_size: u32,
    }
}

impl UpdateSliceShape {
    /// Where the update starts along each axis: `starts` (one per axis of
    /// the model's rank, the last axes) clamped to `0..=operand - update`.
    pub fn clamped_starts(&self, starts: &[i32]) -> [usize; MAX_RANK] {
        let lead = MAX_RANK.saturating_sub(starts.len());
        core::array::from_fn(|d| {
            let room = i64::from(self.operand[d]) - i64::from(self.update[d]);
            let wanted = d.checked_sub(lead).map_or(0, |i| at(starts, i, 0));
            i64::from(wanted).min(room).max(0) as usize
        })
    }
}

/// `output` = `operand` with `update` written from the clamped `starts`.
pub fn dynamic_update_slice(
    shape: &UpdateSliceShape,
    operand: &[u8],
    update: &[u8],
    starts: &[i32],
    output: &mut [u8],
) {
    for (o, &v) in output.iter_mut().zip(operand) {
        *o = v;
    }
    let dims = shape.update.map(|d| d as usize);
    if dims.contains(&0) {
        return;
    }
    let element = shape.element_size as usize;
    let start = shape.clamped_starts(starts);
    let to_strides = strides(&shape.operand, element);
    let row = dims[MAX_RANK - 1] * element;
    let mut index = [0usize; MAX_RANK];
    let mut from = 0;
    loop {
        let to: usize = (0..MAX_RANK)
            .map(|d| (start[d] + index[d]) * to_strides[d])
            .sum();
        for (o, &v) in part_mut(output, to, row)
            .iter_mut()
            .zip(part(update, from, row))
        {
            *o = v;
        }
        from += row;
        if !advance(&mut index, &dims, |d| d < MAX_RANK - 1) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(operand: [u32; 2], update: [u32; 2]) -> UpdateSliceShape {
        let pad = |d: [u32; 2]| [1, 1, 1, 1, d[0], d[1]];
        UpdateSliceShape {
            operand: pad(operand),
            update: pad(update),
            element_size: 1,
        }
    }

    #[test]
    fn writes_the_block_at_its_clamped_start() {
        let operand: Vec<u8> = (0..12).collect();
        let update = [90, 91, 92, 93];
        let mut out = [0u8; 12];
        // A 3x4 operand, a 2x2 block asked at (5, -1): clamped to (1, 0).
        dynamic_update_slice(
            &shape([3, 4], [2, 2]),
            &operand,
            &update,
            &[5, -1],
            &mut out,
        );
        assert_eq!(out, [0, 1, 2, 3, 90, 91, 6, 7, 92, 93, 10, 11]);
        dynamic_update_slice(&shape([3, 4], [2, 2]), &operand, &update, &[0, 1], &mut out);
        assert_eq!(out, [0, 90, 91, 3, 4, 92, 93, 7, 8, 9, 10, 11]);
    }
}
